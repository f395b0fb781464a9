package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Party is one end of a call, from a From or To header.
type Party struct {
	User    string // user part of the URI, e.g. "1001"
	Display string // display name, may be empty
	URI     string // sip:user@host[:port], without parameters
}

func partyOf(display string, u sipmsg.Uri) Party {
	return Party{User: u.User, Display: display, URI: u.Addr()}
}

// Leg is the server side of one incoming call (one dialog). The Handler
// that received it owns it; Answer and Hangup are called from that
// goroutine. Done and Cause may be used from any goroutine.
type Leg struct {
	srv      *Server
	id       string          // Call-ID
	dialogID string          // Call-ID + tags
	inv      *sipmsg.Request // the INVITE with our To tag; read-only
	tx       sipmsg.ServerTransaction
	from, to Party
	source   string                  // host:port the INVITE came from
	target   sipmsg.Uri              // remote target: the INVITE's Contact
	contact  *sipmsg.ContactHeader   // ours
	laddr    sipmsg.Addr             // UDP socket the INVITE arrived on
	cancel   context.CancelCauseFunc // cancels the call's context
	done     chan struct{}

	mu         sync.Mutex
	cause      error // set once, when done closes
	answered   bool  // a 2xx was sent
	hangingUp  bool
	localSDP   []byte
	localCSeq  uint32
	remoteCSeq uint32
	acks       map[uint32]chan struct{} // ACK awaited, by CSeq
	onInfo     func(contentType string, body []byte) int
	onReinvite func(offer []byte) (answer []byte, code int)
}

// newLeg returns the leg of a new INVITE and the call's context, a child of
// parent cancelled with the leg's cause when it ends.
func newLeg(parent context.Context, s *Server, req *sipmsg.Request, tx sipmsg.ServerTransaction, la net.Addr) (*Leg, context.Context) {
	// Clone: the transaction keeps the original request (sipgo races otherwise).
	inv := req.Clone()
	inv.To().Params.Add("tag", sipmsg.GenerateTagN(16))
	dialogID, _ := sipmsg.DialogIDFromRequestUAS(inv) // tags checked by checkInvite

	l := &Leg{
		srv:        s,
		id:         inv.CallID().Value(),
		dialogID:   dialogID,
		inv:        inv,
		tx:         tx,
		from:       partyOf(inv.From().DisplayName, inv.From().Address),
		to:         partyOf(inv.To().DisplayName, inv.To().Address),
		source:     req.Source(),
		target:     *inv.Contact().Address.Clone(),
		contact:    contactFor(inv, la),
		done:       make(chan struct{}),
		localCSeq:  rand.Uint32N(1<<15) + 1,
		remoteCSeq: inv.CSeq().SeqNo,
		acks:       make(map[uint32]chan struct{}),
	}
	if la != nil && !sipmsg.IsReliable(inv.Transport()) {
		if host, port, err := sipmsg.ParseAddr(la.String()); err == nil {
			l.laddr = sipmsg.Addr{IP: net.ParseIP(host), Port: port, Hostname: host}
		}
	}
	ctx, cancel := context.WithCancelCause(parent)
	l.cancel = cancel
	return l, ctx
}

// contactFor builds our Contact from the socket the request arrived on.
func contactFor(req *sipmsg.Request, la net.Addr) *sipmsg.ContactHeader {
	u := sipmsg.Uri{Scheme: "sip", Host: req.Recipient.Host, Port: req.Recipient.Port}
	if la != nil {
		if host, port, err := sipmsg.ParseAddr(la.String()); err == nil {
			if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
				u.Host = host
			}
			u.Port = port
		}
	}
	if t := strings.ToLower(req.Transport()); t != "udp" {
		u.UriParams = sipmsg.NewParams()
		u.UriParams.Add("transport", t)
	}
	return &sipmsg.ContactHeader{Address: u}
}

// ID returns the call's Call-ID.
func (l *Leg) ID() string { return l.id }

// From returns the caller (From header).
func (l *Leg) From() Party { return l.from }

// AssertedIdentity returns the caller as the INVITE's P-Asserted-Identity names it (RFC
// 3325: the identity a trusted carrier vouches for), and false when it has none or it does
// not parse. When several are given (a SIP and a tel URI), the first is used.
func (l *Leg) AssertedIdentity() (Party, bool) {
	h := l.inv.GetHeader("P-Asserted-Identity")
	if h == nil {
		return Party{}, false
	}
	v := h.Value()
	if i := strings.Index(v, ">,"); i >= 0 {
		v = v[:i+1]
	}
	var u sipmsg.Uri
	display, err := sipmsg.ParseAddressValue(strings.TrimSpace(v), &u, nil)
	if err != nil || u.User == "" {
		return Party{}, false
	}
	return partyOf(display, u), true
}

// To returns the called party (To header).
func (l *Leg) To() Party { return l.to }

// RemoteSDP returns the offer in the INVITE body; it is empty when the
// INVITE carried none (late offer, not supported yet). The slice must not
// be modified.
func (l *Leg) RemoteSDP() []byte { return l.inv.Body() }

// Source returns the host:port the INVITE was received from.
func (l *Leg) Source() string { return l.source }

// Done is closed when the leg ends: remote BYE, CANCEL, or Hangup (the
// server calls Hangup when the handler returns). A server shutdown cancels
// the call's context with ErrServerClosed but does not close Done.
func (l *Leg) Done() <-chan struct{} { return l.done }

// Cause returns nil while the leg is up. Once Done is closed it returns
// ErrHangup (remote BYE), ErrCanceled (CANCEL), or the cause given to
// Hangup (an unexported "local hangup" error when that was nil).
func (l *Leg) Cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cause
}

// OnInfo sets the function that answers INFO requests in this dialog (for
// example application/dtmf-relay key presses). It returns the status code
// of the response (200-699; anything else is sent as 500). Without it every
// INFO gets 200. Set it before Answer. f runs on a sipgo goroutine, not the
// call's: it must return quickly and not block (send to a buffered channel
// and drop when full, rule C2). The body must not be retained.
func (l *Leg) OnInfo(f func(contentType string, body []byte) int) {
	l.mu.Lock()
	l.onInfo = f
	l.mu.Unlock()
}

// OnReinvite sets how a re-INVITE with a new offer is answered (RFC 3264 §8): f returns
// the answer SDP and 200, or a failure code such as 488, which leaves the session as it was.
// Without f, or for a re-INVITE without a body, the last answer is sent again. f runs on
// sipgo's goroutine and must not block on the call goroutine.
func (l *Leg) OnReinvite(f func(offer []byte) (answer []byte, code int)) {
	l.mu.Lock()
	l.onReinvite = f
	l.mu.Unlock()
}

// Answer sends 200 OK with sdp as application/sdp and returns once the
// caller's ACK arrives. Over UDP it retransmits the 200 (RFC 3261
// §13.3.1.4). It fails when ctx is done, when the leg ends meanwhile (the
// error wraps ErrCanceled or ErrHangup; sipgo handles each message on its
// own goroutine, so a BYE sent right after the ACK can win), or when no ACK
// arrives within 64*T1. After a failure past the 200, the call counts as
// answered, so Hangup sends BYE.
func (l *Leg) Answer(ctx context.Context, sdp []byte) error {
	if len(sdp) == 0 {
		return fmt.Errorf("call %s: answer: empty sdp", l.id)
	}
	cseq := l.inv.CSeq().SeqNo
	l.mu.Lock()
	switch {
	case l.cause != nil:
		cause := l.cause
		l.mu.Unlock()
		return fmt.Errorf("call %s: answer: %w", l.id, cause)
	case l.answered || l.hangingUp:
		l.mu.Unlock()
		return fmt.Errorf("call %s: answer: already answered or hanging up", l.id)
	}
	l.answered = true
	l.localSDP = bytes.Clone(sdp)
	ack := l.awaitLocked(cseq)
	l.mu.Unlock()

	res := l.ok(l.inv, l.localSDP)
	if err := l.tx.Respond(res); err != nil {
		// Typically a CANCEL won the race: the 487 went out first.
		l.mu.Lock()
		l.answered = false
		l.mu.Unlock()
		l.forgetACK(cseq)
		if cause := l.Cause(); cause != nil {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return fmt.Errorf("call %s: answer: %w", l.id, err)
	}
	if err := l.awaitACK(ctx, l.tx, res, ack); err != nil {
		return fmt.Errorf("call %s: answer: %w", l.id, err)
	}
	return nil
}

// Hangup ends the leg: BYE if it was answered, otherwise a final response
// chosen from cause (*RejectError: its code; nil: 480; other: 500). ctx
// bounds the wait for the BYE's response. Done is closed and the call's
// context cancelled with cause when it returns. Hangup on an ended leg
// does nothing and returns nil.
func (l *Leg) Hangup(ctx context.Context, cause error) error {
	l.mu.Lock()
	if l.cause != nil || l.hangingUp {
		l.mu.Unlock()
		return nil
	}
	l.hangingUp = true
	answered := l.answered
	l.mu.Unlock()

	var err error
	if answered {
		err = l.bye(ctx)
	} else {
		code, reason := finalFor(cause)
		err = l.tx.Respond(l.srv.newResponse(l.inv, code, reason, nil))
	}
	if cause == nil {
		cause = errLocalHangup
	}
	l.end(cause)
	if err != nil && !errors.Is(l.Cause(), ErrHangup) {
		return fmt.Errorf("call %s: hangup: %w", l.id, err)
	}
	return nil
}

// end closes Done and cancels the call's context with cause. The first
// cause wins.
func (l *Leg) end(cause error) {
	l.mu.Lock()
	if l.cause != nil {
		l.mu.Unlock()
		return
	}
	l.cause = cause
	l.cancel(cause) // before Done closes: whoever sees Done sees the cause on ctx
	close(l.done)
	l.mu.Unlock()
}

func (l *Leg) isAnswered() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered
}

// established reports whether in-dialog requests are served: a 2xx was sent
// and the leg has not ended.
func (l *Leg) established() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered && l.cause == nil
}

// inSequence checks and records the remote CSeq (RFC 3261 §12.2.2).
func (l *Leg) inSequence(req *sipmsg.Request) bool {
	cseq := req.CSeq()
	if cseq == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cseq.SeqNo < l.remoteCSeq {
		return false
	}
	l.remoteCSeq = cseq.SeqNo
	return true
}

// awaitLocked registers interest in the ACK for CSeq n.
func (l *Leg) awaitLocked(n uint32) <-chan struct{} {
	ch := make(chan struct{})
	l.acks[n] = ch
	return ch
}

// forgetACK stops expecting the ACK for CSeq n.
func (l *Leg) forgetACK(n uint32) {
	l.mu.Lock()
	delete(l.acks, n)
	l.mu.Unlock()
}

// awaitPendingACKs waits, until ctx is done, for the ACKs of 2xx responses
// still unacknowledged (say the caller's BYE overtook its ACK: sipgo runs
// every message on its own goroutine). The call's exchanges are then over
// when it ends, so a server shutdown cannot race a late ACK.
func (l *Leg) awaitPendingACKs(ctx context.Context) {
	l.mu.Lock()
	pending := make([]chan struct{}, 0, len(l.acks))
	for _, ch := range l.acks {
		pending = append(pending, ch)
	}
	l.mu.Unlock()
	for _, ch := range pending {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// acked delivers an ACK with CSeq n.
func (l *Leg) acked(n uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.acks[n]; ok {
		close(ch)
		delete(l.acks, n)
	}
}

// ok builds a 2xx with our SDP for an INVITE or re-INVITE.
func (l *Leg) ok(req *sipmsg.Request, sdp []byte) *sipmsg.Response {
	res := l.srv.newResponse(req, 200, "OK", sdp)
	res.AppendHeader(l.contact.Clone())
	res.AppendHeader(sipmsg.NewHeader("Allow", allowHeader))
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	return res
}

// awaitACK waits for the ACK of a 2xx (see await2xxACK). Unless it gives
// up, the ACK stays expected after it returns (see awaitPendingACKs).
func (l *Leg) awaitACK(ctx context.Context, tx sipmsg.ServerTransaction, res *sipmsg.Response, ack <-chan struct{}) error {
	err := await2xxACK(ctx, tx, res, ack, l.done)
	switch {
	case errors.Is(err, errDialogDone):
		return l.Cause()
	case errors.Is(err, errNoACK):
		l.forgetACK(res.CSeq().SeqNo)
	}
	return err
}

// await2xxACK waits for the ACK of a 2xx, retransmitting it over
// unreliable transports at T1, doubling up to T2, for up to 64*T1 (RFC 3261
// §13.3.1.4, RFC 6026 §7.1: the TU, not the transaction, retransmits). It
// returns nil on the ACK, errDialogDone when done closes, ctx's cause, or
// errNoACK.
func await2xxACK(ctx context.Context, tx sipmsg.ServerTransaction, res *sipmsg.Response, ack, done <-chan struct{}) error {
	giveUp := time.NewTimer(64 * sipmsg.T1)
	defer giveUp.Stop()
	interval := sipmsg.T1
	var resend <-chan time.Time // nil on reliable transports
	var t *time.Timer
	if !sipmsg.IsReliable(res.Transport()) {
		t = time.NewTimer(interval)
		defer t.Stop()
		resend = t.C
	}
	for {
		select {
		case <-ack:
			return nil
		case <-tx.Acks(): // an ACK on the INVITE's branch (non-compliant peers)
			return nil
		case <-done:
			return errDialogDone
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-giveUp.C:
			return errNoACK
		case <-resend:
			if err := tx.Respond(res); err != nil {
				return fmt.Errorf("retransmit 2xx: %w", err)
			}
			interval = min(2*interval, sipmsg.T2)
			t.Reset(interval)
		}
	}
}

// reinvite answers an in-dialog INVITE with the SDP we answered with and
// waits (on this sipgo goroutine) for its ACK.
func (l *Leg) reinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	n := req.CSeq().SeqNo
	l.mu.Lock()
	f := l.onReinvite
	l.mu.Unlock()
	if f != nil && len(req.Body()) > 0 {
		answer, code := f(req.Body())
		if code < 200 || code > 299 || len(answer) == 0 {
			if code < 300 || code > 699 {
				code = 488
			}
			if err := tx.Respond(sipmsg.NewResponseFromRequest(req, code, statusText(code), nil)); err != nil {
				l.srv.log.Debug("re-INVITE respond failed", "call_id", l.id, "error", err)
			}
			return
		}
		l.mu.Lock()
		l.localSDP = answer
		l.mu.Unlock()
	}
	l.mu.Lock()
	sdp := l.localSDP
	ack := l.awaitLocked(n)
	l.mu.Unlock()
	res := l.ok(req, sdp)
	if err := tx.Respond(res); err != nil {
		l.forgetACK(n)
		l.srv.log.Debug("re-INVITE respond failed", "call_id", l.id, "error", err)
		return
	}
	// Bounded by 64*T1 and by the leg's end.
	if err := l.awaitACK(context.Background(), tx, res, ack); err != nil {
		l.srv.log.Debug("re-INVITE not acknowledged", "call_id", l.id, "error", err)
	}
}

// info runs the OnInfo hook and returns the response code.
func (l *Leg) info(contentType string, body []byte) (code int) {
	l.mu.Lock()
	f := l.onInfo
	l.mu.Unlock()
	if f == nil {
		return 200
	}
	defer func() {
		if r := recover(); r != nil {
			l.srv.log.Error("INFO hook panic", "call_id", l.id, "panic", r)
			code = 500
		}
	}()
	code = f(contentType, body)
	if code < 200 || code > 699 {
		code = 500
	}
	return code
}

// bye sends BYE in the dialog and waits for its final response
// (RFC 3261 §15.1.1). A 481 counts as success: the dialog is gone.
func (l *Leg) bye(ctx context.Context) error {
	req := sipmsg.NewRequest(sipmsg.BYE, *l.target.Clone())
	l.dialogRequest(req)
	tx, err := l.srv.cli.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				continue
			case res.IsSuccess(), res.StatusCode == 481, res.StatusCode == 408:
				return nil
			default:
				return fmt.Errorf("bye: %d %s", res.StatusCode, res.Reason)
			}
		case <-tx.Done():
			return fmt.Errorf("bye: %w", tx.Err())
		case <-ctx.Done():
			return fmt.Errorf("bye: %w", context.Cause(ctx))
		}
	}
}

// dialogRequest fills the headers of a request we send in the dialog
// (RFC 3261 §12.2.1.1) and picks its connection.
func (l *Leg) dialogRequest(req *sipmsg.Request) {
	from := l.inv.To().AsFrom()
	to := l.inv.From().AsTo()
	l.mu.Lock()
	l.localCSeq++
	n := l.localCSeq
	l.mu.Unlock()
	maxFwd := sipmsg.MaxForwardsHeader(70)

	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(sipmsg.HeaderClone(l.inv.CallID()))
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: n, MethodName: req.Method})
	req.AppendHeader(&maxFwd)
	// The UAS route set is the INVITE's Record-Route, in order (§12.1.1).
	rrs := l.inv.GetHeaders("Record-Route")
	for _, rr := range rrs {
		req.AppendHeader(sipmsg.NewHeader("Route", rr.Value()))
	}
	req.AppendHeader(l.contact.Clone())
	req.AppendHeader(sipmsg.NewHeader("User-Agent", l.srv.cfg.UserAgent))
	req.SetBody(nil)
	transport := l.inv.Transport()
	req.SetTransport(transport)

	if !sipmsg.IsReliable(transport) {
		// Send from the socket the call came in on, not a new one: NATs
		// and firewalls expect our requests from our listening port.
		if l.laddr.IP != nil {
			req.Laddr = l.laddr
		}
		return
	}
	if len(rrs) > 0 {
		return
	}
	// Reuse the caller's connection while it is open, rather than dialing
	// the Contact (TELEPHONY.md: some peers reject a new connection).
	if c, err := l.srv.ua.TransportLayer().GetConnection(transport, l.source); err == nil {
		_, _ = c.TryClose() // GetConnection took a reference
		req.SetDestination(l.source)
	}
}
