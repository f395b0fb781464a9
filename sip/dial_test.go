package sip_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// agent is a Client registered as user 1001 that answers calls.
type agent struct {
	*siptest.Client
	calls chan *siptest.Call // each call it was offered
}

// newAgent returns a Client that answers calls; answer picks the final
// response to each INVITE (nil: answer at once with answerSDP). Create it
// before the server: cleanups run in reverse, so the server stops first
// and its BYEs still reach the agent.
func newAgent(t *testing.T, answer func(ctx context.Context, c *siptest.Call) ([]byte, int)) *agent {
	t.Helper()
	a := &agent{Client: newClient(t), calls: make(chan *siptest.Call, 4)}
	a.OnInvite(func(ctx context.Context, c *siptest.Call) ([]byte, int) {
		a.calls <- c
		if answer != nil {
			return answer(ctx, c)
		}
		return []byte(answerSDP), 200
	})
	return a
}

func (a *agent) register(t *testing.T, r *registrarSrv, transport string) {
	t.Helper()
	registrar := "sip:" + r.udp
	if transport == "tcp" {
		registrar = "sip:" + r.tcp + ";transport=tcp"
	}
	if _, err := a.Register(testCtx(t), registrar, siptest.RegisterOptions{User: "1001", Password: "s3cret"}); err != nil {
		t.Fatalf("Register: %v", err)
	}
	r.event(t)
}

func TestServer_DialRegisteredAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		transport   string
		agentHangup bool // the agent ends the call, else the server does
	}{
		{"udp", true}, {"udp", false}, {"tcp", true}, {"tcp", false},
	}
	for _, tc := range tests {
		name := tc.transport + map[bool]string{true: " agent hangs up", false: " server hangs up"}[tc.agentHangup]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The agent answers once the server has seen it ring: over UDP
			// a 180 sent right before the 200 may be handled after it.
			ringing := make(chan struct{})
			a := newAgent(t, func(ctx context.Context, c *siptest.Call) ([]byte, int) {
				select {
				case <-ringing:
				case <-ctx.Done():
				}
				return []byte(answerSDP), 200
			})
			r := startRegistrar(t, registrarConfig())
			a.register(t, r, tc.transport)

			ctx := testCtx(t)
			var progress []int
			call, err := r.Dial(ctx, "1001", []byte(offerSDP), sip.DialOptions{
				FromUser: "sales", FromDisplay: "Sales Queue",
				OnProgress: func(p sip.Progress) {
					if progress = append(progress, p.Code); p.Code == 180 {
						close(ringing)
					}
				},
			})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			in := recv(t, a.calls, "INVITE at the agent")
			if string(call.RemoteSDP()) != answerSDP || string(in.RemoteSDP()) != offerSDP {
				t.Errorf("SDP: server got %q, agent got %q", call.RemoteSDP(), in.RemoteSDP())
			}
			if f := in.From(); f.User != "sales" || f.Display != "Sales Queue" {
				t.Errorf("caller ID at the agent = %+v", f)
			}
			if in.To().User != "1001" || call.ID() != in.ID() {
				t.Errorf("To = %+v, IDs %q %q", in.To(), call.ID(), in.ID())
			}
			if !slices.Contains(progress, 180) {
				t.Errorf("progress = %v, want 180", progress)
			}
			if err := call.SendInfo(ctx, "application/dtmf-relay", []byte("Signal=1\r\n")); err != nil {
				t.Errorf("SendInfo from the server: %v", err)
			}
			if err := in.SendInfo(ctx, "application/dtmf-relay", []byte("Signal=2\r\n")); err != nil {
				t.Errorf("SendInfo from the agent: %v", err)
			}

			type end interface {
				Hangup(context.Context) error
				Done() <-chan struct{}
				Cause() error
			}
			var ender, other end = in, call
			if !tc.agentHangup {
				ender, other = call, in
			}
			if err := ender.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			recv(t, other.Done(), "BYE at the other end")
			if !errors.Is(other.Cause(), sip.ErrHangup) {
				t.Errorf("Cause = %v, want ErrHangup", other.Cause())
			}
		})
	}
}

func TestServer_DialCancel(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			canceled := make(chan error, 1)
			a := newAgent(t, func(ctx context.Context, c *siptest.Call) ([]byte, int) {
				<-ctx.Done() // ring until the caller gives up
				canceled <- ctx.Err()
				return nil, 487
			})
			r := startRegistrar(t, registrarConfig())
			a.register(t, r, transport)

			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			_, err := r.Dial(ctx, "1001", []byte(offerSDP), sip.DialOptions{
				OnProgress: func(p sip.Progress) {
					if p.Code == 180 {
						cancel() // ring no more
					}
				},
			})
			var re *sip.RejectError
			if !errors.As(err, &re) || re.Code != 487 || !errors.Is(err, context.Canceled) {
				t.Fatalf("Dial = %v, want RejectError 487 wrapping context.Canceled", err)
			}
			if err := recv(t, canceled, "CANCEL at the agent"); err == nil {
				t.Error("agent's context not canceled")
			}
			in := recv(t, a.calls, "the offered call")
			recv(t, in.Done(), "agent call end")
			if !errors.Is(in.Cause(), sip.ErrCanceled) {
				t.Errorf("agent Cause = %v, want ErrCanceled", in.Cause())
			}
		})
	}
}

// TestServer_DialNoResponse gives up on a target that never answers: no
// provisional response, so no CANCEL (RFC 3261 §9.1), and Dial returns at
// once.
func TestServer_DialNoResponse(t *testing.T) {
	t.Parallel()
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hole.Close() })
	r := startRegistrar(t, registrarConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.Dial(ctx, "sip:nobody@"+hole.LocalAddr().String(), []byte(offerSDP), sip.DialOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Dial took %v after its deadline", d)
	}
}

func TestServer_DialErrors(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, registrarConfig())
	ctx := testCtx(t)
	if _, err := r.Dial(ctx, "1001", nil, sip.DialOptions{}); !errors.Is(err, sip.ErrNotRegistered) {
		t.Errorf("unregistered user: %v, want ErrNotRegistered", err)
	}
	if _, err := r.Dial(ctx, "123", nil, sip.DialOptions{Trunk: "nope"}); err == nil {
		t.Error("unknown trunk accepted")
	}
	// A plain SIP URI that rejects: the server's own "no call" handler.
	_, err := r.Dial(ctx, "sip:ivr@"+r.udp, []byte(offerSDP), sip.DialOptions{})
	var re *sip.RejectError
	if !errors.As(err, &re) || re.Code != 500 {
		t.Errorf("Dial to a rejecting URI = %v, want RejectError 500", err)
	}
}

func TestServer_ShutdownHangsUpDialedCalls(t *testing.T) {
	t.Parallel()
	a := newAgent(t, nil)
	r := startRegistrar(t, registrarConfig())
	a.register(t, r, "udp")
	call, err := r.Dial(testCtx(t), "1001", []byte(offerSDP), sip.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	in := recv(t, a.calls, "INVITE at the agent")
	if err := r.stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if !errors.Is(call.Cause(), sip.ErrServerClosed) {
		t.Errorf("server call Cause = %v, want ErrServerClosed", call.Cause())
	}
	recv(t, in.Done(), "BYE at the agent")
	if _, err := r.Dial(testCtx(t), "sip:x@127.0.0.1:9", nil, sip.DialOptions{}); !errors.Is(err, sip.ErrServerClosed) {
		t.Errorf("Dial after stop = %v, want ErrServerClosed", err)
	}
}

// carrier is a minimal trunk UAS on raw UDP: it challenges each INVITE
// with 407, checks the digest answer, then rings and answers.
type carrier struct {
	t        *testing.T
	conn     net.PacketConn
	user     string
	password string

	mu      sync.Mutex
	invites int
	ruri    string // Request-URI of the authenticated INVITE
	from    string // From user of the authenticated INVITE
	byes    chan struct{}
}

const carrierRealm = "carrier.example"

func startCarrier(t *testing.T, user, password string) *carrier {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cr := &carrier{t: t, conn: conn, user: user, password: password, byes: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() { defer close(done); cr.serve() }()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	return cr
}

func (cr *carrier) addr() string { return cr.conn.LocalAddr().String() }

func (cr *carrier) send(res *sipmsg.Response, to net.Addr) {
	_, _ = cr.conn.WriteTo([]byte(res.String()), to)
}

func (cr *carrier) serve() {
	buf := make([]byte, 65535)
	parser := sipmsg.NewParser()
	toTag := "carrier1"
	for {
		n, src, err := cr.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := parser.ParseSIP(buf[:n])
		if err != nil {
			continue
		}
		req, ok := msg.(*sipmsg.Request)
		if !ok {
			continue
		}
		switch req.Method {
		case sipmsg.INVITE:
			cr.mu.Lock()
			cr.invites++
			cr.mu.Unlock()
			if !cr.authorized(req) {
				res := sipmsg.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
				chal := digest.Challenge{Realm: carrierRealm, Nonce: "n" + req.CSeq().Value(), Algorithm: "MD5", QOP: []string{"auth"}}
				res.AppendHeader(sipmsg.NewHeader("Proxy-Authenticate", chal.String()))
				cr.send(res, src)
				continue
			}
			cr.mu.Lock()
			cr.ruri, cr.from = req.Recipient.String(), req.From().Address.User
			cr.mu.Unlock()
			inv := req.Clone()
			inv.To().Params.Add("tag", toTag)
			cr.send(sipmsg.NewResponseFromRequest(inv, 180, "Ringing", nil), src)
			ok := sipmsg.NewSDPResponseFromRequest(inv, []byte(answerSDP))
			ok.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1",
				Port: cr.conn.LocalAddr().(*net.UDPAddr).Port}})
			cr.send(ok, src)
		case sipmsg.BYE:
			cr.send(sipmsg.NewResponseFromRequest(req, 200, "OK", nil), src)
			select {
			case cr.byes <- struct{}{}:
			default:
			}
		}
	}
}

// authorized checks the INVITE's Proxy-Authorization (RFC 3261 §22.3).
func (cr *carrier) authorized(req *sipmsg.Request) bool {
	h := req.GetHeader("Proxy-Authorization")
	if h == nil {
		return false
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || cred.Username != cr.user || cred.Realm != carrierRealm {
		return false
	}
	want, err := digest.Digest(
		&digest.Challenge{Realm: carrierRealm, Nonce: cred.Nonce, Algorithm: "MD5", QOP: []string{"auth"}},
		digest.Options{Method: "INVITE", URI: cred.URI, Username: cr.user, Password: cr.password,
			Cnonce: cred.Cnonce, Count: cred.Nc})
	return err == nil && want.Response == cred.Response
}

func TestServer_DialTrunk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		want     int // 0: answered
	}{
		{"right password", "trunkpw", 0},
		{"wrong password", "nope", 407},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cr := startCarrier(t, "hotline", "trunkpw")
			cfg := registrarConfig()
			cfg.Trunks = []sip.Trunk{{Name: "carrier", URI: "sip:" + cr.addr(), Username: "hotline",
				Password: tc.password, FromUser: "+15550100"}}
			r := startRegistrar(t, cfg)
			ctx := testCtx(t)
			call, err := r.Dial(ctx, "15551234", []byte(offerSDP), sip.DialOptions{Trunk: "carrier"})
			if tc.want != 0 {
				var re *sip.RejectError
				if !errors.As(err, &re) || re.Code != tc.want {
					t.Fatalf("Dial = %v, want RejectError %d", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			cr.mu.Lock()
			invites, ruri, from := cr.invites, cr.ruri, cr.from
			cr.mu.Unlock()
			if invites != 2 || from != "+15550100" || !strings.HasPrefix(ruri, "sip:15551234@"+cr.addr()) {
				t.Errorf("carrier saw %d INVITEs, R-URI %q, From user %q", invites, ruri, from)
			}
			if string(call.RemoteSDP()) != answerSDP {
				t.Errorf("RemoteSDP %q", call.RemoteSDP())
			}
			if err := call.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			recv(t, cr.byes, "BYE at the carrier")
		})
	}
}
