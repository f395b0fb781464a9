package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"

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
	dialog
	dialogID  string          // Call-ID + tags
	inv       *sipmsg.Request // the INVITE with our To tag; read-only
	tx        sipmsg.ServerTransaction
	from, to  Party
	source    string        // host:port the INVITE came from
	origin    origin        // trunk, registered phone, or allowed source
	target    sipmsg.Uri    // remote target: the INVITE's Contact
	laddr     sipmsg.Addr   // UDP socket the INVITE arrived on
	localCSeq atomic.Uint32 // CSeq of our last request in the dialog
	byeReason string        // Reason header of our BYE (RFC 3326); set by terminate
}

// newLeg returns the leg of a new INVITE and the call's context, a child of
// parent cancelled with the leg's cause when it ends.
func newLeg(parent context.Context, s *Server, req *sipmsg.Request, tx sipmsg.ServerTransaction, la net.Addr) (*Leg, context.Context) {
	// Clone: the transaction keeps the original request (sipgo races otherwise).
	inv := req.Clone()
	inv.To().Params.Add("tag", sipmsg.GenerateTagN(16))
	dialogID, _ := sipmsg.DialogIDFromRequestUAS(inv) // tags checked by checkInvite

	l := &Leg{
		dialogID: dialogID,
		inv:      inv,
		tx:       tx,
		from:     partyOf(inv.From().DisplayName, inv.From().Address),
		to:       partyOf(inv.To().DisplayName, inv.To().Address),
		source:   req.Source(),
		target:   *inv.Contact().Address.Clone(),
	}
	l.setUp(s, l, inv.CSeq().SeqNo)
	l.id = inv.CallID().Value()
	l.contact = contactFor(inv, la, s.cfg.ExternalAddress)
	l.localCSeq.Store(rand.Uint32N(1<<15) + 1)
	if la != nil && !sipmsg.IsReliable(inv.Transport()) {
		if host, port, err := sipmsg.ParseAddr(la.String()); err == nil {
			l.laddr = sipmsg.Addr{IP: net.ParseIP(host), Port: port, Hostname: host}
		}
	}
	ctx, cancel := context.WithCancelCause(parent)
	l.cancel = cancel
	return l, ctx
}

// contactFor builds our Contact from the socket the request arrived on: a SIPS URI when the
// dialog must be secure (tls.go), else a SIP URI naming the transport unless it is UDP
// (transport=tcp, transport=tls). With sip.external_address ext set, its host (and its
// port, but over TLS) stands for the socket's.
func contactFor(req *sipmsg.Request, la net.Addr, ext string) *sipmsg.ContactHeader {
	u := sipmsg.Uri{Scheme: "sip", Host: req.Recipient.Host, Port: req.Recipient.Port}
	sips := secureDialog(req)
	if sips {
		u.Scheme = "sips" // implies TLS: no transport parameter (RFC 5630)
	}
	if la != nil {
		if host, port, err := sipmsg.ParseAddr(la.String()); err == nil {
			if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
				u.Host = host
			}
			u.Port = port
		}
	}
	if host, port := externalFor(ext, req.Transport(), u.Port); host != "" {
		u.Host, u.Port = host, port
	}
	if t := strings.ToLower(req.Transport()); t != "udp" && !sips {
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
// 3325: the identity a trusted carrier vouches for), and false when it has none, it does
// not parse, or the call did not come from a trunk marked trusted (the header is then
// ignored: anyone can write it). When several are given (a SIP and a tel URI), the first
// is used.
func (l *Leg) AssertedIdentity() (Party, bool) {
	if !l.origin.trusted {
		return Party{}, false
	}
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

// Trunk returns the name of the trunk the call came from, or "" when it came from a
// registered phone or an allowed source.
func (l *Leg) Trunk() string { return l.origin.trunk }

// To returns the called party (To header).
func (l *Leg) To() Party { return l.to }

// RemoteSDP returns the offer in the INVITE body; it is empty when the
// INVITE carried none (late offer: answer with AnswerOffer). The slice must
// not be modified.
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
func (l *Leg) Cause() error { return l.causeOf() }

// OnInfo sets the function that answers INFO requests in this dialog (for
// example application/dtmf-relay key presses). It returns the status code
// of the response (200-699; anything else is sent as 500). Without it every
// INFO gets 200. Set it before Answer. f runs on a sipgo goroutine, not the
// call's: it must return quickly and not block (send to a buffered channel
// and drop when full, rule C2). The body must not be retained.
func (l *Leg) OnInfo(f func(contentType string, body []byte) int) { l.setOnInfo(f) }

// OnReinvite sets how a re-INVITE with a new offer is answered (RFC 3264 §8): f returns
// the answer SDP and 200, or a failure code such as 488, which leaves the session as it was.
// Without f, or for a re-INVITE without a body, the last answer is sent again. f runs on
// sipgo's goroutine and must not block on the call goroutine.
func (l *Leg) OnReinvite(f func(offer []byte) (answer []byte, code int)) { l.setOnReinvite(f) }

// OnReoffer sets how a re-INVITE without an offer is answered (RFC 3261 §14.2, RFC 3264
// §8): f returns our offer, sent in the 200, and apply, which takes the answer the ACK
// carries (nil when it carries none) once it arrives. When apply returns an error, or no
// ACK comes, the call ends with BYE and Reason: SIP;cause=488;text="no usable answer". f
// returning no offer gets 491. Without f, such a re-INVITE gets our last SDP again and
// the ACK's answer is not read. f and apply run on sipgo's goroutine and must not block
// on the call goroutine.
func (l *Leg) OnReoffer(f func() (offer []byte, apply func(answer []byte) error)) { l.setOnReoffer(f) }

// Answer sends 200 OK with sdp as application/sdp and returns once the
// caller's ACK arrives. Over UDP it retransmits the 200 (RFC 3261
// §13.3.1.4). It fails when ctx is done, when the leg ends meanwhile (the
// error wraps ErrCanceled or ErrHangup; sipgo handles each message on its
// own goroutine, so a BYE sent right after the ACK can win), or when no ACK
// arrives within 64*T1. After a failure past the 200, the call counts as
// answered, so Hangup sends BYE.
func (l *Leg) Answer(ctx context.Context, sdp []byte) error {
	_, err := l.answer(ctx, sdp, "answer")
	return err
}

// AnswerOffer answers an INVITE that carried no SDP (late offer, RFC 3261
// §13.2.1): the 200 carries offer, and the caller's ACK must carry the
// answer, which it returns (nil when the ACK has no SDP body). It sends,
// retransmits and fails as Answer does. The answer is the caller's to check:
// when it is missing or unusable, end the call with Hangup and a
// *RejectError (for instance 488 "no usable answer"), which the BYE carries
// as its Reason header (RFC 3326). It fails at once when the INVITE had an
// offer (answer that with Answer).
func (l *Leg) AnswerOffer(ctx context.Context, offer []byte) (answer []byte, err error) {
	if len(l.inv.Body()) > 0 {
		return nil, fmt.Errorf("call %s: answer offer: the INVITE has an offer", l.id)
	}
	return l.answer(ctx, offer, "answer offer")
}

// answer sends the 200 with sdp and returns the ACK's SDP body (see Answer).
func (l *Leg) answer(ctx context.Context, sdp []byte, op string) ([]byte, error) {
	if len(sdp) == 0 {
		return nil, fmt.Errorf("call %s: %s: empty sdp", l.id, op)
	}
	cseq := l.inv.CSeq().SeqNo
	l.mu.Lock()
	switch {
	case l.cause != nil:
		cause := l.cause
		l.mu.Unlock()
		return nil, fmt.Errorf("call %s: %s: %w", l.id, op, cause)
	case l.answered || l.hangingUp:
		l.mu.Unlock()
		return nil, fmt.Errorf("call %s: %s: already answered or hanging up", l.id, op)
	}
	l.answered = true
	l.localSDP = bytes.Clone(sdp)
	ack := l.awaitLocked(cseq)
	res := l.ok(l.inv, l.localSDP)
	l.mu.Unlock()

	if err := l.tx.Respond(res); err != nil {
		// Typically a CANCEL won the race: the 487 went out first.
		l.mu.Lock()
		l.answered = false
		l.mu.Unlock()
		l.forgetACK(cseq)
		if cause := l.Cause(); cause != nil {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return nil, fmt.Errorf("call %s: %s: %w", l.id, op, err)
	}
	body, err := l.awaitACK(ctx, l.tx, res, ack)
	if err != nil {
		return nil, fmt.Errorf("call %s: %s: %w", l.id, op, err)
	}
	return body, nil
}

// Hangup ends the leg: BYE if it was answered, otherwise a final response
// chosen from cause (*RejectError: its code; nil: 480; other: 500). ctx
// bounds the wait for the BYE's response. Done is closed and the call's
// context cancelled with cause when it returns. Hangup on an ended leg
// does nothing and returns nil.
func (l *Leg) Hangup(ctx context.Context, cause error) error {
	err := l.hangup(ctx, cause)
	if err != nil && !errors.Is(l.Cause(), ErrHangup) {
		return fmt.Errorf("call %s: hangup: %w", l.id, err)
	}
	return nil
}

// terminate implements dialogUA: BYE once answered (with a Reason header
// for a *RejectError cause, RFC 3326), else the final response to the INVITE.
func (l *Leg) terminate(ctx context.Context, answered bool, cause error) error {
	if answered {
		l.byeReason = reasonFor(cause)
		return l.bye(ctx)
	}
	code, reason := finalFor(cause)
	res := l.srv.newResponse(l.inv, code, reason, nil)
	var re *RejectError
	switch {
	case errors.As(cause, &re) && re.RetryAfter > 0:
		res.AppendHeader(retryAfter(re.RetryAfter))
	case code == 503:
		res.AppendHeader(retryAfter(defaultRetryAfter))
	}
	return l.tx.Respond(res)
}

// answerBye implements dialogUA.
func (l *Leg) answerBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	l.srv.respond(tx, req, 200)
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
	n := l.localCSeq.Add(1)
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
	if req.Method == sipmsg.BYE && l.byeReason != "" {
		req.AppendHeader(sipmsg.NewHeader("Reason", l.byeReason))
	}
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

// reasonFor returns the Reason header value (RFC 3326) of a BYE sent because
// of cause: `SIP;cause=488;text="no usable answer"` for a *RejectError,
// "" for any other cause.
func reasonFor(cause error) string {
	var re *RejectError
	if !errors.As(cause, &re) || re.Code < 300 || re.Code > 699 {
		return ""
	}
	text := strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' || r == 0x7f {
			return -1 // a quoted-string without escapes (RFC 3261 §25.1)
		}
		return r
	}, re.reason())
	return fmt.Sprintf("SIP;cause=%d;text=\"%s\"", re.Code, text)
}
