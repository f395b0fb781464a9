package sip_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

const (
	offerSDP = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	answerSDP = "v=0\r\no=hotline 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 41000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

	// wait bounds every step of a test (rule T4: a test stays under 5 s).
	wait = 3 * time.Second
)

// server is a Server serving 127.0.0.1 ephemeral UDP and TCP ports.
type server struct {
	*sip.Server
	udp, tcp string
	stop     func() error // cancels Serve*, waits for them; returns their errors
}

// startServer serves h until the test ends. Create the Client first, so
// the server (cleaned up first) still reaches it when ending calls.
func startServer(t *testing.T, h sip.Handler) *server {
	t.Helper()
	return startServerWith(t, sip.Config{UserAgent: "Hotline-Test"}, nil, h)
}

// startServerWith is startServer with a Config; setup, if set, runs on the
// Server before it serves (OnRegister, SetClock).
func startServerWith(t *testing.T, cfg sip.Config, setup func(*sip.Server), h sip.Handler) *server {
	t.Helper()
	srv, err := sip.NewServer(cfg, h)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if setup != nil {
		setup(srv)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = pc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var udpErr, tcpErr error
	wg.Add(2)
	go func() { defer wg.Done(); udpErr = srv.ServeUDP(ctx, pc) }()
	go func() { defer wg.Done(); tcpErr = srv.ServeTCP(ctx, ln) }()
	var once sync.Once
	s := &server{Server: srv, udp: pc.LocalAddr().String(), tcp: ln.Addr().String()}
	s.stop = func() error {
		once.Do(func() { cancel(); wg.Wait() })
		return errors.Join(udpErr, tcpErr)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func (s *server) uri(transport string) string {
	if transport == "tcp" {
		return "sip:ivr@" + s.tcp + ";transport=tcp"
	}
	return "sip:ivr@" + s.udp
}

func newClient(t *testing.T) *siptest.Client {
	t.Helper()
	c, err := siptest.NewClient(siptest.ClientConfig{})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Client.Close: %v", err)
		}
	})
	return c
}

// seen is what a handler observed, reported when it returns.
type seen struct {
	from, to sip.Party
	offer    []byte
	ctxCause error
	legCause error
	err      error
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func TestServer_CallerHangsUp(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			answered := make(chan error, 1)
			out := make(chan seen, 1)
			srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
				s := seen{from: l.From(), to: l.To(), offer: l.RemoteSDP()}
				answered <- l.Answer(ctx, []byte(answerSDP))
				<-l.Done()
				s.ctxCause, s.legCause = context.Cause(ctx), l.Cause()
				out <- s
				return nil
			}))

			ctx := testCtx(t)
			call, err := c.Dial(ctx, srv.uri(transport), []byte(offerSDP),
				sip.DialOptions{FromUser: "1001", FromDisplay: "Alice", Transport: transport})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if got := string(call.RemoteSDP()); got != answerSDP {
				t.Errorf("RemoteSDP = %q, want %q", got, answerSDP)
			}
			if call.ID() == "" {
				t.Error("empty call ID")
			}
			// sipgo handles each message on its own goroutine, so a BYE sent
			// right after the ACK may be processed first; wait for the ACK.
			if err := recv(t, answered, "Answer"); err != nil {
				t.Fatalf("Answer: %v", err)
			}
			if err := call.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			s := recv(t, out, "handler")
			if !errors.Is(s.ctxCause, sip.ErrHangup) || !errors.Is(s.legCause, sip.ErrHangup) {
				t.Errorf("causes = %v, %v; want ErrHangup", s.ctxCause, s.legCause)
			}
			if s.from.User != "1001" || s.from.Display != "Alice" || s.to.User != "ivr" {
				t.Errorf("from = %+v, to = %+v", s.from, s.to)
			}
			if !bytes.Equal(s.offer, []byte(offerSDP)) {
				t.Errorf("offer = %q", s.offer)
			}
			select {
			case <-call.Done():
			default:
				t.Error("Call.Done not closed after Hangup")
			}
		})
	}
}

func TestServer_ServerHangsUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport string
		panics    bool
	}{
		{"udp", "udp", false},
		{"tcp", "tcp", false},
		{"panic after answer udp", "udp", true},
		{"panic after answer tcp", "tcp", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
				if err := l.Answer(ctx, []byte(answerSDP)); err != nil {
					return err
				}
				if tc.panics {
					panic("boom")
				}
				return nil // the server sends BYE
			}))
			call, err := c.Dial(testCtx(t), srv.uri(tc.transport), []byte(offerSDP),
				sip.DialOptions{Transport: tc.transport})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			recv(t, call.Done(), "BYE at the client")
			if !errors.Is(call.Cause(), sip.ErrHangup) {
				t.Errorf("Call.Cause = %v, want ErrHangup", call.Cause())
			}
		})
	}
}

func TestServer_CancelBeforeAnswer(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			started := make(chan struct{})
			out := make(chan seen, 1)
			srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
				close(started)
				<-ctx.Done()
				<-l.Done()
				s := seen{ctxCause: context.Cause(ctx), legCause: l.Cause()}
				s.err = l.Answer(context.Background(), []byte(answerSDP)) // too late
				out <- s
				return ctx.Err()
			}))

			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			go func() {
				select {
				case <-started:
					cancel()
				case <-ctx.Done():
				}
			}()
			_, err := c.Dial(ctx, srv.uri(transport), []byte(offerSDP), sip.DialOptions{Transport: transport})
			var re *sip.RejectError
			if !errors.As(err, &re) || re.Code != 487 {
				t.Fatalf("Dial err = %v, want RejectError 487", err)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Dial err = %v, want it to wrap context.Canceled", err)
			}
			s := recv(t, out, "handler")
			if !errors.Is(s.ctxCause, sip.ErrCanceled) || !errors.Is(s.legCause, sip.ErrCanceled) {
				t.Errorf("causes = %v, %v; want ErrCanceled", s.ctxCause, s.legCause)
			}
			if !errors.Is(s.err, sip.ErrCanceled) {
				t.Errorf("Answer after CANCEL = %v, want ErrCanceled", s.err)
			}
		})
	}
}

func TestServer_HandlerResultBeforeAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler func(context.Context, *sip.Leg) error
		want    int
	}{
		{"reject no common codec", func(context.Context, *sip.Leg) error {
			return &sip.RejectError{Code: 488, Err: errors.New("no common codec")}
		}, 488},
		{"reject malformed sdp", func(context.Context, *sip.Leg) error {
			return &sip.RejectError{Code: 400, Reason: "Malformed SDP"}
		}, 400},
		{"wrapped reject", func(context.Context, *sip.Leg) error {
			return errors.Join(errors.New("ctx"), &sip.RejectError{Code: 486})
		}, 486},
		{"hangup with reject", func(ctx context.Context, l *sip.Leg) error {
			if err := l.Hangup(ctx, &sip.RejectError{Code: 603}); err != nil {
				return err
			}
			return errors.New("ignored: already ended")
		}, 603},
		{"nil", func(context.Context, *sip.Leg) error { return nil }, 480},
		{"plain error", func(context.Context, *sip.Leg) error { return errors.New("boom") }, 500},
		{"panic", func(context.Context, *sip.Leg) error { panic("boom") }, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			srv := startServer(t, sip.HandlerFunc(tc.handler))
			_, err := c.Dial(testCtx(t), srv.uri("udp"), []byte(offerSDP), sip.DialOptions{})
			var re *sip.RejectError
			if !errors.As(err, &re) || re.Code != tc.want {
				t.Fatalf("Dial err = %v, want RejectError %d", err, tc.want)
			}
		})
	}
}

func TestServer_Info(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		code int // 0: no hook
		want int // 0: success
	}{
		{"default 200", 0, 0},
		{"hook 200", 200, 0},
		{"hook 415", 415, 415},
		{"hook bad code", 42, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			type info struct{ ct, body string }
			infos := make(chan info, 4)
			srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
				if tc.code != 0 {
					l.OnInfo(func(ct string, body []byte) int {
						infos <- info{ct, string(body)}
						return tc.code
					})
				}
				if err := l.Answer(ctx, []byte(answerSDP)); err != nil {
					return err
				}
				<-l.Done()
				return nil
			}))
			ctx := testCtx(t)
			call, err := c.Dial(ctx, srv.uri("udp"), []byte(offerSDP), sip.DialOptions{})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer func() { _ = call.Hangup(ctx) }()

			body := "Signal=5\r\nDuration=160\r\n"
			err = call.SendInfo(ctx, "application/dtmf-relay", []byte(body))
			var re *sip.RejectError
			switch {
			case tc.want == 0 && err != nil:
				t.Fatalf("SendInfo: %v", err)
			case tc.want != 0 && (!errors.As(err, &re) || re.Code != tc.want):
				t.Fatalf("SendInfo err = %v, want RejectError %d", err, tc.want)
			}
			if tc.code != 0 {
				got := recv(t, infos, "INFO hook")
				if got.ct != "application/dtmf-relay" || got.body != body {
					t.Errorf("hook got %+v", got)
				}
			}
		})
	}
}

func TestServer_ShutdownEndsCalls(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	answered := make(chan error, 1)
	out := make(chan error, 1)
	srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		err := l.Answer(ctx, []byte(answerSDP))
		answered <- err
		if err != nil {
			return err
		}
		<-ctx.Done()
		out <- context.Cause(ctx)
		return ctx.Err()
	}))
	call, err := c.Dial(testCtx(t), srv.uri("udp"), []byte(offerSDP), sip.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := recv(t, answered, "Answer"); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	if err := srv.stop(); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if cause := recv(t, out, "handler"); !errors.Is(cause, sip.ErrServerClosed) {
		t.Errorf("handler cause = %v, want ErrServerClosed", cause)
	}
	// Serve waited for the handler, whose BYE reached the client.
	recv(t, call.Done(), "BYE at the client")
	if !errors.Is(call.Cause(), sip.ErrHangup) {
		t.Errorf("Call.Cause = %v, want ErrHangup", call.Cause())
	}
	// The server has stopped for good.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ServeUDP(testCtx(t), pc); !errors.Is(err, sip.ErrServerClosed) {
		t.Errorf("ServeUDP after stop = %v, want ErrServerClosed", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     sip.Config
		wantErr bool
	}{
		{"zero value", sip.Config{}, false},
		{"explicit", sip.Config{Listen: "0.0.0.0:5080", UserAgent: "X"}, false},
		{"no port", sip.Config{Listen: "127.0.0.1"}, true},
		{"bad port", sip.Config{Listen: "127.0.0.1:99999"}, true},
		{"multi-line agent", sip.Config{UserAgent: "a\r\nb: c"}, true},
		{"registrar and trunk", sip.Config{
			Host:      "hotline.example",
			Registrar: sip.RegistrarConfig{Accounts: []sip.Account{{User: "1001", Password: "pw"}}, MinExpires: 30 * time.Second},
			Trunks:    []sip.Trunk{{Name: "carrier", URI: "sip:carrier.example:5060;transport=tcp", Username: "u", Password: "p"}},
		}, false},
		{"bad host", sip.Config{Host: "a b"}, true},
		{"account without password", sip.Config{Registrar: sip.RegistrarConfig{
			Accounts: []sip.Account{{User: "1001"}}}}, true},
		{"account listed twice", sip.Config{Registrar: sip.RegistrarConfig{
			Accounts: []sip.Account{{User: "1001", Password: "a"}, {User: "1001", Password: "b"}}}}, true},
		{"account user with @", sip.Config{Registrar: sip.RegistrarConfig{
			Accounts: []sip.Account{{User: "a@b", Password: "a"}}}}, true},
		{"default expires below min", sip.Config{Registrar: sip.RegistrarConfig{
			MinExpires: time.Minute, DefaultExpires: time.Second}}, true},
		{"sub-second nonce ttl", sip.Config{Registrar: sip.RegistrarConfig{NonceTTL: time.Millisecond}}, true},
		{"trunk without uri", sip.Config{Trunks: []sip.Trunk{{Name: "t"}}}, true},
		{"trunk with sctp", sip.Config{Trunks: []sip.Trunk{{Name: "t", URI: "sip:h;transport=sctp"}}}, true},
		{"trunk listed twice", sip.Config{Trunks: []sip.Trunk{{Name: "t", URI: "sip:h"}, {Name: "t", URI: "sip:h"}}}, true},
		{"trunk password without username", sip.Config{Trunks: []sip.Trunk{{Name: "t", URI: "sip:h", Password: "p"}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.cfg.Validate(); (err != nil) != tc.wantErr {
				t.Errorf("Validate() = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func TestServer_ListenAndServe(t *testing.T) {
	t.Parallel()
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() }) // after the parallel subtests
	tests := []struct {
		name    string
		listen  string
		wantErr bool
	}{
		{"ephemeral port", "127.0.0.1:0", false},
		{"port in use", busy.LocalAddr().String(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := sip.NewServer(sip.Config{Listen: tc.listen}, sip.HandlerFunc(
				func(context.Context, *sip.Leg) error { return nil }))
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.ListenAndServe(ctx) }()
			if !tc.wantErr {
				cancel()
			}
			select {
			case err := <-done:
				if (err != nil) != tc.wantErr {
					t.Errorf("ListenAndServe = %v, wantErr %v", err, tc.wantErr)
				}
			case <-time.After(wait):
				t.Error("ListenAndServe did not return")
				cancel()
				<-done
			}
			cancel()
		})
	}
}
