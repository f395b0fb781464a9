package sip_test

import (
	"context"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/hotline-ivr/hotline/sip"
)

// holdServer answers nothing: each call waits until its caller cancels it (or the server
// stops). Each call's arrival is reported on the channel, its end too.
func holdServer(t *testing.T, cfg sip.Config) (*server, <-chan string) {
	t.Helper()
	cfg.UserAgent = "Hotline-Test"
	events := make(chan string, 16)
	srv := startServerWith(t, cfg, nil, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		events <- "arrived " + l.ID()
		select {
		case <-l.Done():
		case <-ctx.Done():
		}
		events <- "ended " + l.ID()
		return nil
	}))
	return srv, events
}

// holdCall places a call from the test phone that the server holds unanswered; the call is
// canceled (CANCEL, 487, ACK: a clean end) when the test ends.
func holdCall(t *testing.T, srv *server, events <-chan string) {
	t.Helper()
	c := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Dial(ctx, srv.uri("udp"), []byte(offerSDP), sip.DialOptions{})
	}()
	t.Cleanup(func() { cancel(); <-done })
	if ev := recv(t, events, "the held call"); !strings.HasPrefix(ev, "arrived") {
		t.Fatalf("event %q, want the call's arrival", ev)
	}
}

// inviteFrom sends an INVITE from u and returns the first final response, or nil when only
// provisional ones came (the call is held).
func inviteFrom(t *testing.T, u *rawUA, callID string) *sipmsg.Response {
	t.Helper()
	branch, fromTag := "z9hG4bK-"+callID, "t-"+callID
	u.send(rawMsg{method: "INVITE", callID: callID, branch: branch, fromTag: fromTag,
		extra: []string{"Content-Type: application/sdp"}, body: offerSDP})
	for {
		msg := u.read(wait)
		if msg == nil {
			return nil
		}
		if res, ok := msg.(*sipmsg.Response); ok && !res.IsProvisional() {
			// The ACK of a non-2xx is part of the INVITE transaction (RFC 3261 §17.1.1.3).
			toTag, _ := res.To().Params.Get("tag")
			u.send(rawMsg{method: "ACK", callID: callID, branch: branch, fromTag: fromTag, toTag: toTag})
			return res
		}
	}
}

// One source cannot take every slot: past calls_per_source its INVITEs get 503 with
// Retry-After (issue 11), while the server still takes calls from elsewhere.
func TestLimits_CallsPerSource(t *testing.T) {
	t.Parallel()
	srv, events := holdServer(t, sip.Config{Limits: sip.LimitsConfig{CallsPerSource: 1}})
	holdCall(t, srv, events)
	u := newRawUA(t, srv.udp)
	res := inviteFrom(t, u, "held-2")
	if res == nil || res.StatusCode != 503 || header(res, "Retry-After") != "5" {
		t.Fatalf("second call from the source: %v, want 503 with Retry-After: 5", res)
	}
	if st := srv.LimitStats(); st.RefusedCalls != 1 {
		t.Errorf("LimitStats %+v, want one refused call", st)
	}
}

// A rate per source: past the burst, an INVITE gets 503 with the seconds until a token is
// back.
func TestLimits_InvitesPerSecond(t *testing.T) {
	t.Parallel()
	srv, events := holdServer(t, sip.Config{Limits: sip.LimitsConfig{InvitesPerSecond: 0.25}}) // a burst of 1
	holdCall(t, srv, events)
	u := newRawUA(t, srv.udp)
	res := inviteFrom(t, u, "over")
	if res == nil || res.StatusCode != 503 || header(res, "Retry-After") == "" {
		t.Fatalf("past the burst: %v, want 503 with Retry-After", res)
	}
}

// Draining: new INVITEs get 503 with Retry-After, the call in progress goes on.
func TestLimits_DrainRefusesNewCallsOnly(t *testing.T) {
	t.Parallel()
	srv, events := holdServer(t, sip.Config{})
	holdCall(t, srv, events)
	srv.Drain()
	res := inviteFrom(t, newRawUA(t, srv.udp), "after")
	if res == nil || res.StatusCode != 503 || header(res, "Retry-After") != "5" {
		t.Fatalf("call during the drain: %v, want 503 with Retry-After: 5", res)
	}
	select {
	case ev := <-events:
		t.Errorf("%s: the drain touched the call in progress", ev)
	default:
	}
	// A carrier qualifying us with OPTIONS hears 503 too, and routes elsewhere.
	u := newRawUA(t, srv.udp)
	u.send(rawMsg{method: "OPTIONS", callID: "qualify"})
	if res := u.final(1); res.StatusCode != 503 || header(res, "Retry-After") == "" {
		t.Errorf("OPTIONS while draining: %v, want 503 with Retry-After", res.StartLine())
	}
}

// A handler's 503 carries Retry-After: the one it asked for, else 5 s.
func TestLimits_RejectRetryAfter(t *testing.T) {
	t.Parallel()
	srv := startServerWith(t, sip.Config{UserAgent: "Hotline-Test"}, nil, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		return &sip.RejectError{Code: 503, RetryAfter: 42e9}
	}))
	u := newRawUA(t, srv.udp)
	res := inviteFrom(t, u, "shed")
	if res == nil || res.StatusCode != 503 || header(res, "Retry-After") != "42" {
		t.Fatalf("%v, want 503 with Retry-After: 42", res)
	}
}
