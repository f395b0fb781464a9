package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// dialog is what an inbound Leg and an outbound Call share (RFC 3261 §12):
// how the call ends (Done, the cause, hanging up once) and how the requests
// the far end sends in the dialog are served: BYE, INFO, re-INVITE and the
// ACK of our 2xx to a re-INVITE. Leg and Call embed it. The one thing that
// differs, how our side talks to the far end, is the ua.
type dialog struct {
	srv     *Server
	ua      dialogUA
	id      string                  // Call-ID
	contact *sipmsg.ContactHeader   // ours, sent in 2xx to re-INVITEs
	cancel  context.CancelCauseFunc // cancels the call's context (a Leg's); may be nil
	done    chan struct{}
	watch   sessionWatch // session timer and maximum length (timers.go)

	mu         sync.Mutex
	cause      error // set once, when done closes
	answered   bool  // a 2xx to the INVITE was sent (Leg) or received (Call)
	hangingUp  bool
	localSDP   []byte // the SDP of our last 2xx or offer: a re-INVITE without a new offer gets it again
	remoteCSeq uint32
	acks       map[uint32]*ackWait // ACK awaited for a 2xx we sent, by CSeq
	onInfo     func(contentType string, body []byte) int
	onReinvite func(offer []byte) (answer []byte, code int)
	onReoffer  func() (offer []byte, apply func(answer []byte) error)
}

// ackWait is an ACK awaited for a 2xx: done closes when it arrives, and
// body is then its SDP (nil when it carried none).
type ackWait struct {
	done chan struct{}
	body []byte
}

// dialogUA is what differs between a Leg (we were the INVITE's UAS) and a
// Call (its UAC): how our side ends the dialog and answers the far end's
// BYE.
type dialogUA interface {
	// terminate ends the dialog from our side, bounded by ctx: BYE once
	// answered, else a final response chosen from cause.
	terminate(ctx context.Context, answered bool, cause error) error
	// answerBye sends 200 to the far end's BYE (RFC 3261 §15.1.2).
	answerBye(req *sipmsg.Request, tx sipmsg.ServerTransaction)
}

// setUp readies a dialog whose far end last used CSeq remoteCSeq.
func (d *dialog) setUp(s *Server, ua dialogUA, remoteCSeq uint32) {
	d.srv = s
	d.ua = ua
	d.done = make(chan struct{})
	d.remoteCSeq = remoteCSeq
	d.acks = make(map[uint32]*ackWait)
}

// causeOf returns nil while the dialog is up, then why it ended.
func (d *dialog) causeOf() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cause
}

func (d *dialog) setOnInfo(f func(contentType string, body []byte) int) {
	d.mu.Lock()
	d.onInfo = f
	d.mu.Unlock()
}

func (d *dialog) setOnReinvite(f func(offer []byte) (answer []byte, code int)) {
	d.mu.Lock()
	d.onReinvite = f
	d.mu.Unlock()
}

func (d *dialog) setOnReoffer(f func() (offer []byte, apply func(answer []byte) error)) {
	d.mu.Lock()
	d.onReoffer = f
	d.mu.Unlock()
}

// end closes Done and cancels the call's context with cause. The first
// cause wins.
func (d *dialog) end(cause error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cause != nil {
		return
	}
	d.cause = cause
	d.stopTimers()
	if d.cancel != nil {
		d.cancel(cause) // before Done closes: whoever sees Done sees the cause on ctx
	}
	close(d.done)
}

// hangup ends the dialog from our side once: a second call, or a call
// after the dialog ended, does nothing and returns nil. The dialog ends
// with cause (errLocalHangup when nil) whatever the far end answered.
func (d *dialog) hangup(ctx context.Context, cause error) error {
	d.mu.Lock()
	if d.cause != nil || d.hangingUp {
		d.mu.Unlock()
		return nil
	}
	d.hangingUp = true
	answered := d.answered
	d.mu.Unlock()

	var err error
	if d.srv.beginSend() {
		err = d.ua.terminate(ctx, answered, cause)
		d.srv.endSend()
	} else {
		err = ErrServerClosed // nothing left to send it from; the call ends here
	}
	if cause == nil {
		cause = errLocalHangup
	}
	d.end(cause)
	return err
}

func (d *dialog) isAnswered() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.answered
}

// established reports whether in-dialog requests are served: the INVITE
// was answered with a 2xx and the dialog has not ended.
func (d *dialog) established() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.answered && d.cause == nil
}

// inSequence checks and records the remote CSeq (RFC 3261 §12.2.2).
func (d *dialog) inSequence(req *sipmsg.Request) bool {
	cseq := req.CSeq()
	if cseq == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cseq.SeqNo < d.remoteCSeq {
		return false
	}
	d.remoteCSeq = cseq.SeqNo
	return true
}

// admit answers a request the far end sent in dialog d (nil: no dialog
// matched) with 481 when there is no established dialog, or 500 when its
// CSeq is out of order (RFC 3261 §12.2.2), and reports whether it is
// still to be served.
func (s *Server) admit(d *dialog, req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	switch {
	case d == nil || !d.established():
		s.respond(tx, req, 481)
		return false
	case !d.inSequence(req):
		s.respond(tx, req, 500)
		return false
	}
	return true
}

// serveBye answers the far end's BYE and ends the dialog with ErrHangup.
func (d *dialog) serveBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d.ua.answerBye(req, tx)
	d.end(ErrHangup)
}

// serveInfo answers an INFO with the code the OnInfo hook returns.
func (d *dialog) serveInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d.srv.respond(tx, req, d.info(mediaTypeRaw(req), req.Body()))
}

// info runs the OnInfo hook and returns the response code: 200 without a
// hook, 500 for a code outside 200-699 or a panic.
func (d *dialog) info(contentType string, body []byte) (code int) {
	d.mu.Lock()
	f := d.onInfo
	d.mu.Unlock()
	if f == nil {
		return 200
	}
	defer func() {
		if r := recover(); r != nil {
			d.srv.log.Error("INFO hook panic", "call_id", d.id, "panic", r)
			code = 500
		}
	}()
	code = f(contentType, body)
	if code < 200 || code > 699 {
		code = 500
	}
	return code
}

// serveReinvite answers a re-INVITE and waits (on this sipgo goroutine)
// for the ACK of its 2xx. A new offer goes to the OnReinvite hook (RFC
// 3264 §8), whose failure code (488 when it gives none) leaves the session
// as it was. A re-INVITE without an offer gets ours from the OnReoffer hook
// (serveReoffer). Without a hook, the 2xx carries our last SDP again. A
// Call takes the offer hook too (Call.OnReinvite); a re-INVITE without an
// offer to a Call gets our last SDP.
func (d *dialog) serveReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	n := req.CSeq().SeqNo
	if d.reinvitePending() {
		// RFC 3261 §14.2: a re-INVITE while our own (a session refresh) is in progress.
		if err := tx.Respond(sipmsg.NewResponseFromRequest(req, 491, statusText(491), nil)); err != nil {
			d.srv.log.Debug("re-INVITE respond failed", "call_id", d.id, "error", err)
		}
		return
	}
	d.mu.Lock()
	f, reoffer := d.onReinvite, d.onReoffer
	d.mu.Unlock()
	if reoffer != nil && len(req.Body()) == 0 {
		d.serveReoffer(req, tx, reoffer)
		return
	}
	if f != nil && len(req.Body()) > 0 {
		answer, code := f(req.Body())
		if code < 200 || code > 299 || len(answer) == 0 {
			if code < 300 || code > 699 {
				code = 488
			}
			if err := tx.Respond(sipmsg.NewResponseFromRequest(req, code, statusText(code), nil)); err != nil {
				d.srv.log.Debug("re-INVITE respond failed", "call_id", d.id, "error", err)
			}
			return
		}
		d.mu.Lock()
		d.localSDP = answer
		d.mu.Unlock()
	}
	d.mu.Lock()
	sdp := d.localSDP
	ack := d.awaitLocked(n)
	d.mu.Unlock()
	res := d.ok(req, sdp)
	if err := tx.Respond(res); err != nil {
		d.forgetACK(n)
		d.srv.log.Debug("re-INVITE respond failed", "call_id", d.id, "error", err)
		return
	}
	// Bounded by 64*T1 and by the dialog's end.
	if _, err := d.awaitACK(context.Background(), tx, res, ack); err != nil {
		d.srv.log.Debug("re-INVITE not acknowledged", "call_id", d.id, "error", err)
	}
}

// serveReoffer answers a re-INVITE without an offer (RFC 3261 §14.2, RFC
// 3264 §8): the 2xx carries the OnReoffer hook's offer and the ACK must
// carry the answer, which the hook's apply takes. A hook that gives no
// offer (say one is already outstanding) gets 491. When the ACK brings no
// answer, or one apply refuses, or no ACK comes at all, the dialog ends
// with BYE and Reason: SIP;cause=488;text="no usable answer" (RFC 3326): the
// two sides no longer agree on the session.
func (d *dialog) serveReoffer(req *sipmsg.Request, tx sipmsg.ServerTransaction, f func() ([]byte, func([]byte) error)) {
	n := req.CSeq().SeqNo
	offer, apply := f()
	if len(offer) == 0 || apply == nil {
		if err := tx.Respond(sipmsg.NewResponseFromRequest(req, 491, statusText(491), nil)); err != nil {
			d.srv.log.Debug("re-INVITE respond failed", "call_id", d.id, "error", err)
		}
		return
	}
	d.mu.Lock()
	d.localSDP = offer
	ack := d.awaitLocked(n)
	d.mu.Unlock()
	res := d.ok(req, offer)
	if err := tx.Respond(res); err != nil {
		d.forgetACK(n)
		d.srv.log.Debug("re-INVITE respond failed", "call_id", d.id, "error", err)
		return
	}
	answer, err := d.awaitACK(context.Background(), tx, res, ack)
	if err == nil {
		if err = apply(answer); err == nil {
			return
		}
	} else if d.causeOf() != nil {
		return // the dialog ended meanwhile
	}
	d.srv.log.Debug("re-INVITE: no usable answer to our offer", "call_id", d.id, "error", err)
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	_ = d.hangup(ctx, &RejectError{Code: 488, Reason: "no usable answer", Err: err})
}

// ok builds a 2xx with our SDP for an INVITE or re-INVITE.
func (d *dialog) ok(req *sipmsg.Request, sdp []byte) *sipmsg.Response {
	res := d.srv.newResponse(req, 200, "OK", sdp)
	res.AppendHeader(d.contact.Clone())
	res.AppendHeader(sipmsg.NewHeader("Allow", allowHeader))
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	d.refreshed(req, res) // a 2xx refreshes the session (RFC 4028 §10)
	return res
}

// awaitLocked registers interest in the ACK for CSeq n.
func (d *dialog) awaitLocked(n uint32) *ackWait {
	w := &ackWait{done: make(chan struct{})}
	d.acks[n] = w
	return w
}

// ackSDP returns a copy of an ACK's body when it is SDP (RFC 3261 §13.2.1:
// the answer to an offer in the 2xx), else nil.
func ackSDP(req *sipmsg.Request) []byte {
	if req == nil || len(req.Body()) == 0 {
		return nil
	}
	if ct := mediaType(req); ct != "" && ct != "application/sdp" {
		return nil
	}
	return bytes.Clone(req.Body())
}

// forgetACK stops expecting the ACK for CSeq n.
func (d *dialog) forgetACK(n uint32) {
	d.mu.Lock()
	delete(d.acks, n)
	d.mu.Unlock()
}

// acked delivers an ACK with CSeq n and its SDP body (nil: none), which
// answers the offer of a 2xx (late offer, RFC 3261 §13.2.1).
func (d *dialog) acked(n uint32, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, ok := d.acks[n]; ok {
		w.body = body
		close(w.done)
		delete(d.acks, n)
	}
}

// awaitPendingACKs waits, until ctx is done, for the ACKs of 2xx responses
// still unacknowledged (say the far end's BYE overtook its ACK: sipgo runs
// every message on its own goroutine). The call's exchanges are then over
// when it ends, so a server shutdown cannot race a late ACK.
func (d *dialog) awaitPendingACKs(ctx context.Context) {
	d.mu.Lock()
	pending := make([]chan struct{}, 0, len(d.acks))
	for _, w := range d.acks {
		pending = append(pending, w.done)
	}
	d.mu.Unlock()
	for _, ch := range pending {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// awaitACK waits for the ACK of a 2xx (see await2xxACK) and returns its SDP
// body (nil: none); when the dialog ends first it returns the dialog's
// cause. Unless it gives up, the ACK stays expected after it returns (see
// awaitPendingACKs).
func (d *dialog) awaitACK(ctx context.Context, tx sipmsg.ServerTransaction, res *sipmsg.Response, ack *ackWait) ([]byte, error) {
	body, err := await2xxACK(ctx, tx, res, ack, d.done)
	switch {
	case errors.Is(err, errDialogDone):
		return nil, d.causeOf()
	case errors.Is(err, errNoACK):
		d.forgetACK(res.CSeq().SeqNo)
	}
	return body, err
}

// await2xxACK waits for the ACK of a 2xx, retransmitting it over
// unreliable transports at T1, doubling up to T2, for up to 64*T1 (RFC 3261
// §13.3.1.4, RFC 6026 §7.1: the TU, not the transaction, retransmits). It
// returns the ACK's SDP body (nil: none) on the ACK, else errDialogDone when
// done closes, ctx's cause, or errNoACK.
func await2xxACK(ctx context.Context, tx sipmsg.ServerTransaction, res *sipmsg.Response, ack *ackWait, done <-chan struct{}) ([]byte, error) {
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
		case <-ack.done:
			return ack.body, nil
		case req := <-tx.Acks(): // an ACK on the INVITE's branch (non-compliant peers)
			return ackSDP(req), nil
		case <-done:
			return nil, errDialogDone
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-giveUp.C:
			return nil, errNoACK
		case <-resend:
			if err := tx.Respond(res); err != nil {
				return nil, fmt.Errorf("retransmit 2xx: %w", err)
			}
			interval = min(2*interval, sipmsg.T2)
			t.Reset(interval)
		}
	}
}
