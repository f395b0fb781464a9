package sip_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// timerCall is a call from a raw UA to a server whose handler answers and reports the
// cause its call ended with.
type timerCall struct {
	u        *rawUA
	callID   string
	fromTag  string
	toTag    string
	target   string
	ok       *sipmsg.Response // the INVITE's 200
	cseq     int
	causes   chan error
	answered chan error
}

// timerServer serves cfg with a handler that answers every call and waits for its end.
func timerServer(t *testing.T, cfg sip.Config) (*server, chan error, chan error) {
	t.Helper()
	causes, answered := make(chan error, 4), make(chan error, 4)
	cfg.UserAgent = "Hotline-Test"
	srv := startServerWith(t, cfg, nil, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		err := l.Answer(ctx, []byte(answerSDP))
		answered <- err
		if err != nil {
			return err
		}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil
	}))
	return srv, causes, answered
}

// dialTimers sends an INVITE with extra header fields, ACKs its 200 and waits until the
// handler's Answer returned.
func dialTimers(t *testing.T, srv *server, causes, answered chan error, extra ...string) *timerCall {
	t.Helper()
	c := &timerCall{u: newRawUA(t, srv.udp), callID: fmt.Sprintf("st-%x", rand.Uint64()), fromTag: "sttag",
		cseq: 1, causes: causes, answered: answered}
	c.u.send(rawMsg{method: "INVITE", callID: c.callID, fromTag: c.fromTag,
		extra: append([]string{"Content-Type: application/sdp"}, extra...), body: offerSDP})
	c.ok = c.u.final(1)
	if c.ok.StatusCode != 200 {
		t.Fatalf("INVITE: got %d %s", c.ok.StatusCode, c.ok.Reason)
	}
	c.u.ack(c.callID, c.fromTag, c.ok)
	if err := recv(t, answered, "Answer"); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	c.toTag, _ = c.ok.To().Params.Get("tag")
	c.target = c.ok.Contact().Address.String()
	return c
}

// refresh sends a refresh (re-INVITE with SDP, or UPDATE without) and returns its 2xx.
func (c *timerCall) refresh(t *testing.T, method string, extra ...string) *sipmsg.Response {
	t.Helper()
	c.cseq++
	m := rawMsg{method: method, ruri: c.target, callID: c.callID, fromTag: c.fromTag, toTag: c.toTag, cseq: c.cseq, extra: extra}
	if method == "INVITE" {
		m.extra, m.body = append(m.extra, "Content-Type: application/sdp"), offerSDP
	}
	c.u.send(m)
	res := c.u.final(uint32(c.cseq))
	if res.StatusCode != 200 {
		t.Fatalf("%s refresh: got %d %s", method, res.StatusCode, res.Reason)
	}
	if method == "INVITE" {
		c.u.ack(c.callID, c.fromTag, res)
	}
	return res
}

// hangup sends BYE and expects 200.
func (c *timerCall) hangup(t *testing.T) {
	t.Helper()
	c.cseq++
	c.u.send(rawMsg{method: "BYE", ruri: c.target, callID: c.callID, fromTag: c.fromTag, toTag: c.toTag, cseq: c.cseq})
	if res := c.u.final(uint32(c.cseq)); res.StatusCode != 200 {
		t.Fatalf("BYE: %d", res.StatusCode)
	}
}

// awaitRequest waits up to d for the next request of method from the server, skipping
// responses (retransmitted 2xx); nil when none came.
func (u *rawUA) awaitRequest(method string, d time.Duration) *sipmsg.Request {
	u.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		msg := u.read(time.Until(deadline))
		if req, ok := msg.(*sipmsg.Request); ok && string(req.Method) == method {
			return req
		}
	}
	return nil
}

// respond answers a request from the server with code and extra header fields.
func (u *rawUA) respond(req *sipmsg.Request, code int, extra ...string) {
	u.t.Helper()
	res := sipmsg.NewResponseFromRequest(req, code, "OK", nil)
	if res.To() != nil && !res.To().Params.Has("tag") {
		res.To().Params.Add("tag", "rawanswer")
	}
	for _, h := range extra {
		name, value, _ := strings.Cut(h, ":")
		res.AppendHeader(sipmsg.NewHeader(name, strings.TrimSpace(value)))
	}
	if _, err := u.conn.Write([]byte(res.String())); err != nil {
		u.t.Fatal(err)
	}
}

// An INVITE asking a session interval below our Min-SE gets 422 with Min-SE (RFC 4028 §6):
// no call is set up.
func TestTimers_IntervalBelowMinSEGets422(t *testing.T) {
	t.Parallel()
	srv, _, answered := timerServer(t, sip.Config{})
	u := newRawUA(t, srv.udp)
	u.send(rawMsg{method: "INVITE", callID: fmt.Sprintf("st-%x", rand.Uint64()), body: offerSDP,
		extra: []string{"Content-Type: application/sdp", "Supported: timer", "Session-Expires: 60"}})
	res := u.final(1)
	if res.StatusCode != 422 || header(res, "Min-SE") != "90" {
		t.Fatalf("got %d %s, Min-SE %q; want 422 with Min-SE: 90", res.StatusCode, res.Reason, header(res, "Min-SE"))
	}
	select {
	case <-answered:
		t.Fatal("the handler ran for a refused INVITE")
	default:
	}
}

// A Session-Expires below our Min-SE from a caller that does not support timers (a proxy
// put it there) is not refused: the caller could not retry (RFC 4028 §9). The call goes on.
func TestTimers_IntervalBelowMinSEWithoutTimerSupportIsServed(t *testing.T) {
	t.Parallel()
	srv, causes, answered := timerServer(t, sip.Config{})
	c := dialTimers(t, srv, causes, answered, "Session-Expires: 60")
	if c.ok.StatusCode != 200 {
		t.Fatalf("got %d, want 200", c.ok.StatusCode)
	}
	c.hangup(t)
}

// A caller that supports timers is asked to refresh (refresher=uac, Require: timer); when
// it never does, the call ends with BYE before the interval is over (RFC 4028 §10: a
// third of it early) and the call's cause is ErrSessionExpired.
func TestTimers_PeerThatNeverRefreshesGetsBye(t *testing.T) {
	t.Parallel()
	srv, causes, answered := timerServer(t, sip.Config{MinSE: time.Second})
	start := time.Now()
	c := dialTimers(t, srv, causes, answered, "Supported: timer", "Session-Expires: 2", "Min-SE: 1")
	if se, req := header(c.ok, "Session-Expires"), header(c.ok, "Require"); se != "2;refresher=uac" || req != "timer" {
		t.Fatalf("200 has Session-Expires %q Require %q, want 2;refresher=uac and timer", se, req)
	}
	bye := c.u.awaitRequest("BYE", 3*time.Second)
	if bye == nil {
		t.Fatal("no BYE after the session expired")
	}
	if took := time.Since(start); took < 1200*time.Millisecond {
		t.Errorf("BYE %v after the call started, want no sooner than 1.33 s (2 s less a third)", took)
	}
	c.u.respond(bye, 200)
	if cause := recv(t, causes, "the call's end"); !errors.Is(cause, sip.ErrSessionExpired) {
		t.Errorf("cause %v, want ErrSessionExpired", cause)
	}
}

// A caller that refreshes (re-INVITE or UPDATE, each answered with the interval) keeps its
// call for several intervals; its BYE then ends it as a hang-up.
func TestTimers_PeerThatRefreshesKeepsTheCall(t *testing.T) {
	t.Parallel()
	srv, causes, answered := timerServer(t, sip.Config{MinSE: time.Second})
	// 4 s: the call would end 2.67 s after a refresh; refreshing every second leaves room
	// for a loaded machine.
	c := dialTimers(t, srv, causes, answered, "Supported: timer", "Session-Expires: 4;refresher=uac", "Min-SE: 1")
	for i, method := range []string{"UPDATE", "INVITE", "UPDATE", "INVITE"} {
		if req := c.u.awaitRequest("BYE", time.Second); req != nil {
			t.Fatalf("BYE before refresh %d", i)
		}
		res := c.refresh(t, method, "Supported: timer", "Session-Expires: 4;refresher=uac")
		if se := header(res, "Session-Expires"); se != "4;refresher=uac" {
			t.Fatalf("%s refresh: Session-Expires %q", method, se)
		}
	}
	c.hangup(t)
	if cause := recv(t, causes, "the call's end"); !errors.Is(cause, sip.ErrHangup) {
		t.Errorf("cause %v, want ErrHangup", cause)
	}
}

// A Session-Expires from a caller that does not support timers (a proxy put it there)
// makes us the refresher (RFC 4028 §9): UPDATE when the caller allows it, else a re-INVITE
// with our SDP (ACKed); the call lives on.
func TestTimers_WeRefreshWhenTheCallerCannot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, allow, method string }{
		{"update", "Allow: INVITE, ACK, BYE, CANCEL, UPDATE", "UPDATE"},
		{"reinvite", "Allow: INVITE, ACK, BYE, CANCEL", "INVITE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, causes, answered := timerServer(t, sip.Config{MinSE: time.Second})
			// 5 s: we refresh at 2.5 s and the call would end at 3.33 s: the test's answer has
			// most of a second even on a loaded machine.
			c := dialTimers(t, srv, causes, answered, "Session-Expires: 5", "Min-SE: 1", tc.allow)
			if se, req := header(c.ok, "Session-Expires"), header(c.ok, "Require"); se != "5;refresher=uas" || req != "" {
				t.Fatalf("200 has Session-Expires %q Require %q, want 5;refresher=uas and none", se, req)
			}
			for range 2 {
				req := c.u.awaitRequest(tc.method, 4*time.Second)
				if req == nil {
					t.Fatalf("no %s refresh from the server", tc.method)
				}
				if se := req.GetHeader("Session-Expires"); se == nil || se.Value() != "5;refresher=uac" {
					t.Fatalf("refresh Session-Expires %v", se)
				}
				if tc.method == "INVITE" && string(req.Body()) != answerSDP {
					t.Errorf("re-INVITE body %q, want our last SDP", req.Body())
				}
				if tc.method == "INVITE" { // glare: our re-INVITE is out, the caller sends one
					c.cseq++
					c.u.send(rawMsg{method: "INVITE", ruri: c.target, callID: c.callID, fromTag: c.fromTag, toTag: c.toTag,
						cseq: c.cseq, extra: []string{"Content-Type: application/sdp"}, body: offerSDP})
					if res := c.u.final(uint32(c.cseq)); res.StatusCode != 491 {
						t.Errorf("a re-INVITE while ours is pending: %d, want 491 (RFC 3261 §14.2)", res.StatusCode)
					}
				}
				c.u.respond(req, 200, "Session-Expires: 5;refresher=uac", "Contact: <sip:raw@"+c.u.local+">")
				if tc.method == "INVITE" {
					if ack := c.u.awaitRequest("ACK", time.Second); ack == nil || ack.CSeq().SeqNo != req.CSeq().SeqNo {
						t.Fatalf("no ACK for the re-INVITE's 200 (got %v)", ack)
					}
				}
			}
			select {
			case cause := <-causes:
				t.Fatalf("the call ended (%v) although refreshed", cause)
			default:
			}
			c.hangup(t)
		})
	}
}

// sip.max_call_duration ends an answered call with BYE; its cause is ErrMaxDuration.
func TestTimers_MaxCallDuration(t *testing.T) {
	t.Parallel()
	srv, causes, answered := timerServer(t, sip.Config{MaxCallDuration: 700 * time.Millisecond})
	start := time.Now()
	c := dialTimers(t, srv, causes, answered)
	bye := c.u.awaitRequest("BYE", 2*time.Second)
	if bye == nil {
		t.Fatal("no BYE at the maximum call duration")
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("BYE after %v, want at least 700ms", took)
	}
	// The call's end does not wait for the BYE's answer.
	if cause := recv(t, causes, "the call's end"); !errors.Is(cause, sip.ErrMaxDuration) {
		t.Errorf("cause %v, want ErrMaxDuration", cause)
	}
	c.u.respond(bye, 200)
}

// A BYE nobody answers is bounded by the context given to Hangup (and by the transaction's
// timeout, 64*T1, without one): Hangup returns, and the leg is over: Done closed, cause set.
func TestTimers_UnansweredByeIsBounded(t *testing.T) {
	t.Parallel()
	type result struct {
		took time.Duration
		done bool
		err  error
	}
	out := make(chan result, 1)
	answered := make(chan error, 1)
	srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		err := l.Answer(ctx, []byte(answerSDP))
		answered <- err
		if err != nil {
			return err
		}
		hctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = l.Hangup(hctx, nil)
		r := result{took: time.Since(start), err: err}
		select {
		case <-l.Done():
			r.done = l.Cause() != nil
		default:
		}
		out <- r
		return nil
	}))
	c := dialTimers(t, srv, nil, answered)
	if bye := c.u.awaitRequest("BYE", time.Second); bye == nil {
		t.Fatal("no BYE")
	} // and never answered
	r := recv(t, out, "Hangup")
	if !r.done || r.err == nil {
		t.Errorf("Hangup took %v, leg over %v, err %v; want it over, with a timeout error", r.took, r.done, r.err)
	}
}

// sip.max_call_duration holds for a call the server placed, too: it ends with BYE.
func TestTimers_MaxCallDurationOfADialledCall(t *testing.T) {
	t.Parallel()
	callee := newClient(t)
	callee.OnInvite(func(ctx context.Context, call *siptest.Call) ([]byte, int) { return []byte(answerSDP), 200 })
	srv := startServerWith(t, sip.Config{UserAgent: "Hotline-Test", MaxCallDuration: 500 * time.Millisecond}, nil,
		sip.HandlerFunc(func(context.Context, *sip.Leg) error { return errors.New("no calls here") }))
	call, err := srv.Dial(testCtx(t), "sip:callee@"+callee.Addr(), []byte(offerSDP), sip.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	recv(t, call.Done(), "the call's end")
	if !errors.Is(call.Cause(), sip.ErrMaxDuration) {
		t.Errorf("cause %v, want ErrMaxDuration", call.Cause())
	}
}
