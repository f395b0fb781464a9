package sip

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// A dialog's clock: RFC 4028 session timers and the maximum call length.
//
// Session timers keep a call from outliving its far end: whoever is the refresher sends a
// re-INVITE or UPDATE within every session interval; when none arrives, the other side
// ends the call with BYE. Hotline, as the UAS of the INVITE, prefers the caller to refresh
// (refresher=uac, with Require: timer) whenever it supports timers, and refreshes itself
// (UPDATE when the far end allows it, else a re-INVITE with our last SDP) only when it
// must: a Session-Expires a proxy inserted for a caller that does not support timers, or a
// caller that asked refresher=uas. Every 2xx we send to an INVITE, re-INVITE or UPDATE is
// a refresh (§10): ok calls refreshed.
//
// One runtime timer per dialog (time.AfterFunc: no goroutine until it fires) is armed for
// the earliest deadline: the maximum length, our next refresh, or the session's expiry.

const (
	// defaultSessionExpires is the session interval asked for, RFC 4028 §4's recommendation.
	defaultSessionExpires = 1800 * time.Second
	// minSessionExpires is the least Min-SE a request may state, and the floor when it
	// states none (RFC 4028 §5).
	minSessionExpires = 90 * time.Second
	// expiryMargin bounds how long before the session expires the side that does not
	// refresh sends BYE: the lesser of it and a third of the interval (RFC 4028 §10).
	expiryMargin = 32 * time.Second
)

// timerConfig is what the session timers need of Config, with defaults applied.
type timerConfig struct {
	maxDuration    time.Duration // 0: none
	sessionExpires time.Duration
	minSE          time.Duration
}

func (c Config) timers() timerConfig {
	t := timerConfig{maxDuration: c.MaxCallDuration, sessionExpires: c.SessionExpires, minSE: c.MinSE}
	if t.minSE <= 0 {
		t.minSE = minSessionExpires
	}
	if t.sessionExpires <= 0 {
		t.sessionExpires = max(defaultSessionExpires, t.minSE)
	}
	return t
}

// validateTimers checks max_call_duration, session_expires and min_se.
func (c Config) validateTimers() []error {
	var errs []error
	if c.MaxCallDuration < 0 {
		errs = append(errs, fmt.Errorf("max_call_duration %v: must not be negative (0 turns it off)", c.MaxCallDuration))
	}
	if c.MinSE < 0 || (c.MinSE > 0 && c.MinSE < time.Second) {
		errs = append(errs, fmt.Errorf("min_se %v: must be at least 1s (RFC 4028 §5 asks 90s of every UA)", c.MinSE))
	}
	if c.SessionExpires < 0 || (c.SessionExpires > 0 && c.SessionExpires < time.Second) {
		errs = append(errs, fmt.Errorf("session_expires %v: must be at least 1s", c.SessionExpires))
	}
	if t := c.timers(); c.SessionExpires > 0 && t.sessionExpires < t.minSE {
		errs = append(errs, fmt.Errorf("session_expires %v: below min_se %v", t.sessionExpires, t.minSE))
	}
	return errs
}

// sessionWatch is a dialog's clock and what it learns from the far end's requests.
type sessionWatch struct {
	mu      sync.Mutex
	t       *time.Timer // nil until first armed
	started bool        // the first 2xx went out: the maximum length counts from it
	stopped bool        // the dialog ended

	maxEnd     time.Time     // the call has lasted max_call_duration; zero: no limit
	interval   time.Duration // the session interval; 0: no session timer
	weRefresh  bool          // we are the refresher
	refreshing bool          // a refresh of ours is in flight
	refreshAt  time.Time     // our next refresh (weRefresh)
	expireAt   time.Time     // BYE if the session was not refreshed by then
	update     bool          // the far end allows UPDATE: our refreshes use it

	onOffer func(sdp []byte)
}

// OnOffer sets a function told of each offer the far end makes in the dialog that gets a
// 2xx (a re-INVITE's or UPDATE's SDP, RFC 3264 §8): for instance to see it hold the call
// (a=sendonly or inactive). f runs on a sipgo goroutine just before the 2xx goes out and
// must not block. The offer must not be retained.
func (d *dialog) OnOffer(f func(sdp []byte)) {
	d.watch.mu.Lock()
	d.watch.onOffer = f
	d.watch.mu.Unlock()
}

// refreshed runs for every 2xx we send to an INVITE, re-INVITE or UPDATE (ok, serveUpdate):
// the first starts the maximum length (for an incoming call: its answer); each settles the
// session timer anew from req (RFC 4028 §9) and adds its header fields to res.
func (d *dialog) refreshed(req *sipmsg.Request, res *sipmsg.Response) {
	cfg := d.srv.cfg.timers()
	res.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
	w := &d.watch
	w.mu.Lock()
	onOffer := w.onOffer
	if w.stopped {
		w.mu.Unlock()
		return
	}
	now := time.Now()
	if !w.started {
		w.started = true
		if _, incoming := d.ua.(*Leg); incoming && cfg.maxDuration > 0 {
			w.maxEnd = now.Add(cfg.maxDuration)
		}
	}
	if allow := headerValues(req, "Allow", ""); len(allow) > 0 {
		w.update = hasToken(allow, "UPDATE")
	}
	interval, uacRefreshes, ok := negotiate(req, cfg)
	if ok {
		refresher := "uas"
		if uacRefreshes {
			refresher = "uac"
			res.AppendHeader(sipmsg.NewHeader("Require", "timer"))
		}
		res.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", seconds(interval), refresher)))
		w.setLocked(now, interval, !uacRefreshes) // we are the UAS of req
	} else {
		w.interval = 0
	}
	w.armLocked(d, now)
	w.mu.Unlock()
	if onOffer != nil && len(req.Body()) > 0 && req.Method != sipmsg.ACK {
		onOffer(req.Body())
	}
}

// startMaxDuration starts sip.max_call_duration for a call we placed, from its answer (an
// incoming call's starts with the 2xx we send, in refreshed).
func (d *dialog) startMaxDuration() {
	cfg := d.srv.cfg.timers()
	if cfg.maxDuration <= 0 {
		return
	}
	w := &d.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.started {
		return
	}
	now := time.Now()
	w.started = true
	w.maxEnd = now.Add(cfg.maxDuration)
	w.armLocked(d, now)
}

// setLocked starts a session interval now.
func (w *sessionWatch) setLocked(now time.Time, interval time.Duration, weRefresh bool) {
	w.interval, w.weRefresh = interval, weRefresh
	w.expireAt = now.Add(interval - min(expiryMargin, interval/3))
	w.refreshAt = now.Add(interval / 2) // RFC 4028 §10: half the interval
}

// armLocked arms the timer for the earliest deadline, or stops it when there is none.
func (w *sessionWatch) armLocked(d *dialog, now time.Time) {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	earliest(w.maxEnd)
	if w.interval > 0 {
		earliest(w.expireAt)
		if w.weRefresh && !w.refreshing {
			earliest(w.refreshAt)
		}
	}
	switch {
	case next.IsZero() || w.stopped:
		if w.t != nil {
			w.t.Stop()
		}
	case w.t == nil:
		w.t = time.AfterFunc(next.Sub(now), d.tick)
	default:
		w.t.Reset(next.Sub(now))
	}
}

// stopTimers ends the clock; the dialog has ended.
func (d *dialog) stopTimers() {
	w := &d.watch
	w.mu.Lock()
	w.stopped = true
	if w.t != nil {
		w.t.Stop()
	}
	w.onOffer = nil
	w.mu.Unlock()
}

// tick runs when the timer fires, on its own goroutine.
func (d *dialog) tick() {
	w := &d.watch
	w.mu.Lock()
	now := time.Now()
	switch {
	case w.stopped:
		w.mu.Unlock()
	case !w.maxEnd.IsZero() && !now.Before(w.maxEnd):
		w.stopped = true
		w.mu.Unlock()
		d.expire(ErrMaxDuration)
	case w.interval > 0 && !now.Before(w.expireAt):
		w.stopped = true
		w.mu.Unlock()
		d.expire(ErrSessionExpired)
	case w.interval > 0 && w.weRefresh && !w.refreshing && !now.Before(w.refreshAt):
		w.refreshing = true
		interval, update := w.interval, w.update
		w.armLocked(d, now) // the expiry stays armed while the refresh is out
		w.mu.Unlock()
		d.refresh(interval, update)
	default: // early (a Reset raced the fire)
		w.armLocked(d, now)
		w.mu.Unlock()
	}
}

// expire ends an answered call on a timer: the call's context and Done first, so that
// whoever runs the call stops at once (a queue must not hand a vanished caller to an
// agent while a BYE to nobody retransmits), then the BYE, bounded by hangupTimeout.
func (d *dialog) expire(cause error) {
	d.mu.Lock()
	if d.cause != nil || d.hangingUp || !d.answered {
		d.mu.Unlock()
		return
	}
	d.hangingUp = true
	d.mu.Unlock()
	d.srv.log.Info("call ended by a timer", "call_id", d.id, "cause", cause)
	d.end(cause)
	if !d.srv.beginSend() {
		return
	}
	defer d.srv.endSend()
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	if err := d.ua.terminate(ctx, true, cause); err != nil {
		d.srv.log.Debug("BYE after timer not answered", "call_id", d.id, "error", err)
	}
}

// inDialog is how a dialog sends its own requests besides BYE: *Leg and *Call.
type inDialog interface {
	// newRequest returns a request of method in the dialog, with its dialog headers.
	newRequest(method sipmsg.RequestMethod) *sipmsg.Request
	// send starts its client transaction.
	send(ctx context.Context, req *sipmsg.Request) (sipmsg.ClientTransaction, error)
	// ack sends the ACK of a 2xx to our re-INVITE inv (RFC 3261 §13.2.2.4).
	ack(inv *sipmsg.Request) (*sipmsg.Request, error)
	// resend sends an ACK again, for a retransmitted 2xx.
	resend(ack *sipmsg.Request) error
}

// reinvitePending reports whether a re-INVITE of ours (a session refresh by re-INVITE) is
// in progress: another INVITE transaction in the dialog must wait (491, RFC 3261 §14.2).
func (d *dialog) reinvitePending() bool {
	w := &d.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refreshing && !w.update
}

// refresh sends our session refresh (RFC 4028 §7.4, §10): UPDATE without a body when the
// far end allows it, else a re-INVITE with our last SDP. A 2xx settles the next interval
// from its Session-Expires (none: the far end wants no timer); a 422 is retried once with
// its Min-SE; a 408, a 481 or no answer at all ends the call (ErrSessionExpired); any other
// failure is retried halfway to the expiry.
func (d *dialog) refresh(interval time.Duration, update bool) {
	w := &d.watch
	res, err := d.sendRefresh(interval, update)
	if err == nil && res.StatusCode == 422 {
		if minSE, ok := deltaSeconds(res, "Min-SE"); ok && minSE > interval {
			interval = minSE
			res, err = d.sendRefresh(interval, update)
		}
	}
	now := time.Now()
	w.mu.Lock()
	w.refreshing = false
	switch {
	case w.stopped:
	case err != nil || res.StatusCode == 408 || res.StatusCode == 481:
		w.stopped = true
		w.mu.Unlock()
		if err != nil {
			d.srv.log.Debug("session refresh failed", "call_id", d.id, "error", err)
		}
		d.expire(ErrSessionExpired)
		return
	case res.IsSuccess():
		if se, ref, ok := sessionExpires(res); ok {
			w.setLocked(now, se, ref != "uas") // we sent it: uac is us
		} else {
			w.interval = 0 // RFC 4028 §7.2: no Session-Expires, no session timer
		}
	default: // 491, 5xx, ...: try again halfway to the expiry
		w.refreshAt = now.Add(max(w.expireAt.Sub(now)/2, time.Second) + rand.N(time.Second))
	}
	w.armLocked(d, now)
	w.mu.Unlock()
}

// sendRefresh sends one refresh request and waits for its final response, ACKing a 2xx to
// a re-INVITE (and its retransmissions while the transaction lasts).
func (d *dialog) sendRefresh(interval time.Duration, update bool) (*sipmsg.Response, error) {
	ua, ok := d.ua.(inDialog)
	if !ok {
		return nil, fmt.Errorf("session refresh: %T cannot send requests", d.ua)
	}
	if !d.srv.beginSend() {
		return nil, ErrServerClosed
	}
	defer d.srv.endSend()
	method := sipmsg.INVITE
	if update {
		method = sipmsg.UPDATE
	}
	req := ua.newRequest(method)
	req.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", seconds(interval))))
	req.AppendHeader(sipmsg.NewHeader("Min-SE", strconv.Itoa(seconds(d.srv.cfg.timers().minSE))))
	req.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
	req.AppendHeader(sipmsg.NewHeader("Allow", allowHeader))
	if !update {
		d.mu.Lock()
		sdp := d.localSDP
		d.mu.Unlock()
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(sdp)
	}
	// Bounded by the transaction's own timeout (64*T1) and by the dialog's end.
	tx, err := ua.send(context.Background(), req)
	if err != nil {
		return nil, fmt.Errorf("session refresh: %w", err)
	}
	keep := false // after a 2xx to our re-INVITE the transaction lives on (64*T1) to re-ACK
	defer func() {
		if !keep {
			tx.Terminate()
		}
	}()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if method == sipmsg.INVITE && res.IsSuccess() {
				ack, err := ua.ack(req)
				if err != nil {
					return nil, fmt.Errorf("session refresh: ack: %w", err)
				}
				keep = tx.OnRetransmission(func(r *sipmsg.Response) {
					if r.IsSuccess() && d.srv.beginSend() {
						_ = ua.resend(ack)
						d.srv.endSend()
					}
				})
			}
			return res, nil
		case <-tx.Done():
			return nil, fmt.Errorf("session refresh: %w", tx.Err())
		case <-d.done:
			return nil, fmt.Errorf("session refresh: %w", d.causeOf())
		}
	}
}

// newRequest implements inDialog.
func (l *Leg) newRequest(method sipmsg.RequestMethod) *sipmsg.Request {
	req := sipmsg.NewRequest(method, *l.target.Clone())
	l.dialogRequest(req)
	return req
}

// send implements inDialog.
func (l *Leg) send(ctx context.Context, req *sipmsg.Request) (sipmsg.ClientTransaction, error) {
	return l.srv.cli.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
}

// ack implements inDialog: the re-INVITE's dialog header fields and CSeq number, method
// ACK, a new branch, no body.
func (l *Leg) ack(inv *sipmsg.Request) (*sipmsg.Request, error) {
	ack := sipmsg.NewRequest(sipmsg.ACK, *inv.Recipient.Clone())
	for _, name := range []string{"From", "To", "Call-ID", "Max-Forwards", "Route", "Contact", "User-Agent"} {
		for _, h := range inv.GetHeaders(name) {
			ack.AppendHeader(sipmsg.HeaderClone(h))
		}
	}
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sipmsg.ACK})
	ack.SetTransport(inv.Transport())
	ack.Laddr = inv.Laddr
	ack.SetDestination(inv.Destination())
	ack.SetBody(nil)
	return ack, l.srv.cli.WriteRequest(ack, sipgo.ClientRequestAddVia)
}

// resend implements inDialog.
func (l *Leg) resend(ack *sipmsg.Request) error {
	return l.srv.cli.WriteRequest(ack.Clone(), func(*sipgo.Client, *sipmsg.Request) error { return nil })
}

// newRequest implements inDialog.
func (c *Call) newRequest(method sipmsg.RequestMethod) *sipmsg.Request {
	req := sipmsg.NewRequest(method, *c.target.Clone())
	req.AppendHeader(sipmsg.NewHeader("User-Agent", c.srv.cfg.UserAgent))
	c.pin(req)
	return req
}

// send implements inDialog.
func (c *Call) send(ctx context.Context, req *sipmsg.Request) (sipmsg.ClientTransaction, error) {
	return c.sess.TransactionRequest(ctx, req)
}

// ack implements inDialog.
func (c *Call) ack(inv *sipmsg.Request) (*sipmsg.Request, error) {
	ack := sipmsg.NewRequest(sipmsg.ACK, *inv.Recipient.Clone())
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sipmsg.ACK})
	c.pin(ack)
	ack.SetBody(nil)
	return ack, c.sess.WriteRequest(ack)
}

// resend implements inDialog.
func (c *Call) resend(ack *sipmsg.Request) error {
	return c.srv.cli.WriteRequest(ack.Clone(), func(*sipgo.Client, *sipmsg.Request) error { return nil })
}

// negotiate settles the session timer a 2xx to req sets up, as the UAS of req (RFC 4028
// §9, table 2): the interval, whether the UAC of req refreshes, and false for no timer.
// The interval is the request's, lowered to ours but never below the request's Min-SE (90
// s when it has none); without a Session-Expires, a UAC that supports timers is asked for
// ours. The refresher is the one the request names; else the UAC when it supports timers,
// else us.
func negotiate(req *sipmsg.Request, cfg timerConfig) (interval time.Duration, uacRefreshes, ok bool) {
	supported := hasToken(headerValues(req, "Supported", "k"), "timer")
	floor := minSessionExpires
	if v, ok := deltaSeconds(req, "Min-SE"); ok {
		floor = v
	}
	se, refresher, has := sessionExpires(req)
	switch {
	case has:
		interval = se
		if cfg.sessionExpires < se {
			interval = min(se, max(cfg.sessionExpires, floor))
		}
	case supported:
		interval = max(cfg.sessionExpires, floor)
	default:
		return 0, false, false // neither asked nor supported: no timer
	}
	switch refresher {
	case "uac":
		uacRefreshes = true
	case "uas":
	default:
		uacRefreshes = supported
	}
	return interval, uacRefreshes, true
}

// headered is a request or a response.
type headered interface {
	GetHeader(name string) sipmsg.Header
	GetHeaders(name string) []sipmsg.Header
}

// sessionExpires parses a message's Session-Expires (compact form x): the interval and the
// refresher parameter ("uac", "uas" or "").
func sessionExpires(m headered) (time.Duration, string, bool) {
	h := m.GetHeader("Session-Expires")
	if h == nil {
		h = m.GetHeader("x")
	}
	if h == nil {
		return 0, "", false
	}
	value, params, _ := strings.Cut(h.Value(), ";")
	n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 32)
	if err != nil || n == 0 {
		return 0, "", false
	}
	refresher := ""
	for p := range strings.SplitSeq(params, ";") {
		if k, v, _ := strings.Cut(p, "="); strings.EqualFold(strings.TrimSpace(k), "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return time.Duration(n) * time.Second, refresher, true
}

// deltaSeconds parses a header field of delta-seconds (Min-SE), ignoring parameters.
func deltaSeconds(m headered, name string) (time.Duration, bool) {
	h := m.GetHeader(name)
	if h == nil {
		return 0, false
	}
	value, _, _ := strings.Cut(h.Value(), ";")
	n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// headerValues returns the comma-separated tokens of every name (or compact) header field.
func headerValues(m headered, name, compact string) []string {
	var out []string
	hs := m.GetHeaders(name)
	if compact != "" {
		hs = append(hs, m.GetHeaders(compact)...)
	}
	for _, h := range hs {
		for t := range strings.SplitSeq(h.Value(), ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func hasToken(tokens []string, want string) bool {
	for _, t := range tokens {
		if strings.EqualFold(t, want) {
			return true
		}
	}
	return false
}

// seconds is d in whole seconds, at least 1: the unit of Session-Expires and Min-SE.
func seconds(d time.Duration) int { return max(int(d/time.Second), 1) }

// checkInterval answers 422 Session Interval Too Small, with our Min-SE (RFC 4028 §6, §9),
// to an INVITE or UPDATE whose Session-Expires is below sip.min_se and whose sender supports
// timers (Supported or Require: timer); a sender that does not could not retry, so its
// request goes on (the interval is settled at least at the floor). Others go on to h.
func (s *Server) checkInterval(h sipgo.RequestHandler) sipgo.RequestHandler {
	minSE := s.cfg.timers().minSE
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if to := req.To(); req.IsInvite() && (to == nil || !to.Params.Has("tag")) {
			if _, ok := s.originOf(req); !ok {
				h(req, tx) // a stranger hears 403 from the trust check, nothing of our timers
				return
			}
		}
		timers := hasToken(headerValues(req, "Supported", "k"), "timer") || hasToken(headerValues(req, "Require", ""), "timer")
		if se, _, ok := sessionExpires(req); ok && se < minSE && timers {
			s.respond(tx, req, 422, sipmsg.NewHeader("Min-SE", strconv.Itoa(seconds(minSE))))
			return
		}
		h(req, tx)
	}
}

// onUpdate serves UPDATE in a dialog (RFC 3311): a session refresh without a body (RFC
// 4028 §7.4), or an offer answered like a re-INVITE's (OnReinvite; without the hook, 488).
func (s *Server) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if d := s.matchDialog(req); s.admit(d, req, tx) {
		d.serveUpdate(req, tx)
	}
}

func (d *dialog) serveUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	var answer []byte
	if len(req.Body()) > 0 {
		d.mu.Lock()
		f := d.onReinvite
		d.mu.Unlock()
		code := 488
		if f != nil {
			answer, code = f(req.Body())
		}
		if code < 200 || code > 299 || len(answer) == 0 {
			if code < 300 || code > 699 {
				code = 488
			}
			d.srv.respond(tx, req, code)
			return
		}
		d.mu.Lock()
		d.localSDP = answer
		d.mu.Unlock()
	}
	res := d.srv.newResponse(req, 200, "OK", answer)
	res.AppendHeader(d.contact.Clone()) // UPDATE is a target refresh request (RFC 3311 §5.2)
	res.AppendHeader(sipmsg.NewHeader("Allow", allowHeader))
	if answer != nil {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	d.refreshed(req, res)
	if err := tx.Respond(res); err != nil {
		d.srv.log.Debug("UPDATE respond failed", "call_id", d.id, "error", err)
	}
}
