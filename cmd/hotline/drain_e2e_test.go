package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// drainingServer runs a server whose SIGTERM is the returned channel; drainTimeout is its
// sip.drain_timeout. run's result arrives on done.
func drainingServer(t *testing.T, drainTimeout string) (*server, chan<- os.Signal, <-chan error) {
	t.Helper()
	path := e2eConfigWith(t, "")
	writeFile(t, path, strings.Replace(mustRead(t, path), "sip:\n", "sip:\n  drain_timeout: "+drainTimeout+"\n", 1))
	sctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	s, err := start(sctx, path, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	term := make(chan os.Signal, 2)
	done := make(chan error, 1)
	go func() { done <- s.run(sctx, nil, term) }()
	return s, term, done
}

// refusedWhileDraining dials until the drain has begun (the signal is handled on run's
// goroutine) and checks the refusal: 503. Bounded.
func refusedWhileDraining(t *testing.T, ctx context.Context, s *server) {
	t.Helper()
	c, err := siptest.NewClient(siptest.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		call, err := c.Dial(ctx, "sip:hotline@"+s.SIPAddr, []byte(strangerOffer), sip.DialOptions{FromUser: "late"})
		var re *sip.RejectError
		switch {
		case errors.As(err, &re) && re.Code == 503:
			return
		case err == nil:
			_ = call.Hangup(ctx) // answered: the drain has not begun yet
		case ctx.Err() != nil:
			t.Fatalf("no 503 while draining: %v", err)
		default:
			t.Fatalf("dial while draining: %v, want 503", err)
		}
	}
}

// SIGTERM drains (issue 11): new calls get 503, the call in progress goes on with audio and
// keys, and once it has ended the server stops, long before the drain timeout.
func TestE2E_SIGTERMDrainsCallsInProgress(t *testing.T) {
	t.Parallel()
	s, term, done := drainingServer(t, "1m")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := loadConfig(e2eConfigWith(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	menu, err := buildMenu(l) // its prompts, for the phone to recognise
	if err != nil {
		t.Fatal(err)
	}
	p := dialAs(t, ctx, s, menu.Prompts, "alice")
	expectPrompts(t, ctx, p, "main")

	term <- syscall.SIGTERM
	refusedWhileDraining(t, ctx, s)
	p.Press(ctx, "1")
	expectPrompts(t, ctx, p, "sub") // still served: audio out, keys in
	if err := p.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop once its last call ended (drain_timeout is 1m)")
	}
}

// Past drain_timeout the calls still up are ended politely (BYE) and the server stops.
func TestE2E_DrainTimeoutEndsTheCalls(t *testing.T) {
	t.Parallel()
	s, term, done := drainingServer(t, "300ms")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := dialAs(t, ctx, s, nil, "alice")
	term <- syscall.SIGTERM
	expectRemoteHangup(t, p)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop after the drain timeout")
	}
}
