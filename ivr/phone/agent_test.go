package phone

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// wait bounds every wait of these tests.
const wait = 3 * time.Second

// noise returns a prompt of deterministic noise: every 20 ms frame differs from every other
// of any prompt made with another seed, so the recogniser indexes all of them.
func noise(name string, seed uint64, d time.Duration) *media.Prompt {
	r := rand.New(rand.NewPCG(seed, 0x686f746c696e65))
	pcm := make([]int16, int(d/time.Millisecond)*8)
	for i := range pcm {
		pcm[i] = int16(r.IntN(16001) - 8000)
	}
	return media.NewPrompt(name, pcm)
}

var (
	promptIntro = noise("queue_intro", 1, 400*time.Millisecond) // the queue, to the agent
	promptHello = noise("agent_hello", 2, 400*time.Millisecond) // the agent, to the caller
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
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

// registrar is a sip.Server on loopback with accounts agent1/agentpw and agent2/agentpw2,
// which serves no incoming calls: it only registers agents and dials them.
type registrar struct {
	*sip.Server
	udp, tcp string
	events   chan []sip.Contact // OnRegister reports for agent1
}

func startRegistrar(t *testing.T, rc sip.RegistrarConfig) *registrar {
	t.Helper()
	rc.Accounts = []sip.Account{{User: "agent1", Password: "agentpw"}, {User: "agent2", Password: "agentpw2"}}
	srv, err := sip.NewServer(sip.Config{UserAgent: "Registrar-Test", Registrar: rc},
		sip.HandlerFunc(func(context.Context, *sip.Leg) error { return errors.New("no calls here") }))
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	r := &registrar{Server: srv, events: make(chan []sip.Contact, 16)}
	srv.OnRegister(func(user string, contacts []sip.Contact) {
		if user == "agent1" {
			select {
			case r.events <- contacts:
			default:
			}
		}
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	r.udp, r.tcp = pc.LocalAddr().String(), ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.ServeUDP(ctx, pc) })
	wg.Go(func() { _ = srv.ServeTCP(ctx, ln) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r
}

// newAgent registers agent1 with r over transport; Close runs at cleanup, before the
// registrar stops.
func newAgent(t *testing.T, r *registrar, transport string, o AgentOptions) *Agent {
	t.Helper()
	o.Registrar, o.Transport = r.udp, transport
	if transport == "tcp" {
		o.Registrar = r.tcp
	}
	if o.User == "" {
		o.User, o.Password = "agent1", "agentpw"
	}
	if o.Prompts == nil {
		o.Prompts = map[string]*media.Prompt{promptIntro.Name(): promptIntro}
	}
	a, err := NewAgent(testCtx(t), o)
	if err != nil {
		t.Fatalf("NewAgent: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Agent.Close: %v", err)
		}
	})
	return a
}

// farEnd is the queue's side of a call to an agent: the server's outbound call with its own
// RTP session, whose received audio a Recogniser listens to.
type farEnd struct {
	call *sip.Call
	sess *media.Session
	rec  *Recogniser
	neg  sdp.Negotiated
}

// dialAgent has r call target with an offer of codecs + telephone-event, as the queue
// dispatcher would.
func dialAgent(t *testing.T, ctx context.Context, r *registrar, target string, o sip.DialOptions, codecs ...media.CodecName) (*farEnd, error) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	offer := sdp.Offer(sdp.OfferOptions{Addr: local, Codecs: codecs, DTMF: true, SessionID: 1})
	if o.FromUser == "" {
		o.FromUser = "support"
	}
	call, err := r.Dial(ctx, target, offer, o)
	if err != nil {
		conn.Close()
		return nil, err
	}
	neg, err := sdp.ParseAnswer(call.RemoteSDP())
	if err != nil {
		t.Fatalf("agent's answer %q: %v", call.RemoteSDP(), err)
	}
	f := &farEnd{call: call, neg: neg, rec: NewRecogniser(map[string]*media.Prompt{promptHello.Name(): promptHello}, neg.Codec.Name)}
	f.sess = media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote, OnAudio: f.rec.Feed})
	f.sess.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = call.Hangup(ctx)
		f.sess.Close()
		conn.Close()
	})
	return f, nil
}

func TestAgent_AudioBothWays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport string
		agent     []media.CodecName // the agent's preference
		offer     []media.CodecName // the queue's offer
		want      media.CodecName
	}{
		{"udp PCMU", "udp", nil, []media.CodecName{media.PCMU, media.PCMA}, media.PCMU},
		{"tcp PCMA agent", "tcp", []media.CodecName{media.PCMA}, []media.CodecName{media.PCMU, media.PCMA}, media.PCMA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRegistrar(t, sip.RegistrarConfig{})
			a := newAgent(t, r, tc.transport, AgentOptions{Codecs: tc.agent})
			if got := r.Contacts("agent1"); len(got) != 1 || got[0].Transport != tc.transport {
				t.Fatalf("registrar's contacts for agent1 = %+v, want one over %s", got, tc.transport)
			}
			ctx := testCtx(t)
			far, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{FromUser: "support", FromDisplay: "Support queue"}, tc.offer...)
			if err != nil {
				t.Fatalf("Dial agent1: %v", err)
			}
			ring := recv(t, a.Rings(), "a ring")
			c := recv(t, a.Calls(), "the answered call")
			if c.ID() != far.call.ID() || ring.CallID != c.ID() {
				t.Errorf("Call-IDs: queue %q, agent %q, ring %q", far.call.ID(), c.ID(), ring.CallID)
			}
			if f := c.From(); f.User != "support" || f.Display != "Support queue" || ring.From != f {
				t.Errorf("caller ID at the agent = %+v (ring %+v)", f, ring.From)
			}
			if c.Codec().Name != tc.want || far.neg.Codec.Name != tc.want {
				t.Errorf("codec: agent %s, queue %s, want %s", c.Codec().Name, far.neg.Codec.Name, tc.want)
			}

			// The queue speaks, the agent hears it.
			far.sess.Play(promptIntro)
			if _, err := c.WaitPrompt(ctx, promptIntro.Name()); err != nil {
				t.Fatalf("agent: %v (heard %v)", err, c.Heard())
			}
			// The agent speaks, the queue hears it.
			c.Play(promptHello)
			if _, err := far.rec.Wait(ctx, far.call.Done(), promptHello.Name()); err != nil {
				t.Fatalf("queue side: %v (heard %v)", err, far.rec.Heard())
			}
			// The agent's keys reach the queue by RFC 4733.
			if err := c.Press(ctx, "5#"); err != nil {
				t.Fatalf("Press: %v", err)
			}
			var keys []byte
			for range 2 {
				d := recv(t, far.sess.Digits(), "a key from the agent")
				keys = append(keys, d.Key)
			}
			if string(keys) != "5#" {
				t.Errorf("queue got keys %q, want 5#", keys)
			}
			if pcm := c.PCM(); len(pcm) < 8000*300/1000 {
				t.Errorf("agent kept %d samples, want at least the prompt's", len(pcm))
			}

			if err := c.Hangup(ctx); err != nil {
				t.Fatalf("agent Hangup: %v", err)
			}
			recv(t, far.call.Done(), "the agent's BYE at the queue")
			if !errors.Is(far.call.Cause(), sip.ErrHangup) {
				t.Errorf("queue call cause = %v, want ErrHangup", far.call.Cause())
			}
		})
	}
}

func TestAgent_Answering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     AgentOptions
		dialFor  time.Duration // the queue's ring timeout
		wantCode int           // the queue's Dial gets this *sip.RejectError; 0: answered
		// ringing: the queue sees 180 Ringing. Over UDP a 180 sent right before the final
		// response may be handled after it, so only a ringing agent is checked.
		ringing bool
	}{
		{"busy", AgentOptions{Reject: 486}, wait, 486, false},
		{"unavailable", AgentOptions{Reject: 480}, wait, 480, false},
		{"never answers", AgentOptions{Reject: NoAnswer}, 300 * time.Millisecond, 487, true},
		{"answers after a delay", AgentOptions{AnswerDelay: 300 * time.Millisecond}, wait, 0, true},
		{"delay beyond the ring timeout", AgentOptions{AnswerDelay: 2 * time.Second}, 300 * time.Millisecond, 487, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRegistrar(t, sip.RegistrarConfig{})
			a := newAgent(t, r, "udp", tc.opts)
			ctx, cancel := context.WithTimeout(testCtx(t), tc.dialFor)
			defer cancel()
			var mu sync.Mutex
			var progress []int
			start := time.Now()
			far, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{OnProgress: func(p sip.Progress) {
				mu.Lock()
				progress = append(progress, p.Code)
				mu.Unlock()
			}})
			took := time.Since(start)
			recv(t, a.Rings(), "a ring")
			mu.Lock()
			if tc.ringing && !slices.Contains(progress, 180) {
				t.Errorf("provisional responses %v, want 180 Ringing", progress)
			}
			mu.Unlock()
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if took < tc.opts.AnswerDelay {
					t.Errorf("answered after %v, want at least %v", took, tc.opts.AnswerDelay)
				}
				c := recv(t, a.Calls(), "the answered call")
				if c.ID() != far.call.ID() {
					t.Errorf("agent's call %s, queue's %s", c.ID(), far.call.ID())
				}
				return
			}
			var re *sip.RejectError
			if !errors.As(err, &re) || re.Code != tc.wantCode {
				t.Fatalf("Dial error = %v, want a %d", err, tc.wantCode)
			}
			select {
			case c := <-a.Calls():
				t.Errorf("agent delivered call %s it did not answer", c.ID())
			default:
			}
		})
	}
}

// An agent with an AnswerGate rings until the gate is closed, then answers.
func TestAgent_AnswerGate(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, sip.RegistrarConfig{})
	gate := make(chan struct{})
	a := newAgent(t, r, "udp", AgentOptions{AnswerGate: gate})
	ctx := testCtx(t)
	type dialed struct {
		far *farEnd
		err error
	}
	done := make(chan dialed, 1)
	go func() {
		far, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{})
		done <- dialed{far, err}
	}()
	recv(t, a.Rings(), "a ring")
	select {
	case c := <-a.Calls():
		t.Fatalf("agent answered %s with its gate shut", c.ID())
	case d := <-done:
		t.Fatalf("the dial ended (%v) with the agent's gate shut", d.err)
	default:
	}
	close(gate)
	d := recv(t, done, "the answer once the gate opened")
	if d.err != nil {
		t.Fatalf("Dial: %v", d.err)
	}
	if c := recv(t, a.Calls(), "the answered call"); c.ID() != d.far.call.ID() {
		t.Errorf("agent's call %s, queue's %s", c.ID(), d.far.call.ID())
	}
}

func TestAgent_SetRejectThenAnswer(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, sip.RegistrarConfig{})
	a := newAgent(t, r, "udp", AgentOptions{Reject: 486})
	ctx := testCtx(t)
	if _, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{}); err == nil {
		t.Fatal("busy agent answered")
	}
	a.SetReject(0)
	if _, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{}); err != nil {
		t.Fatalf("Dial after SetReject(0): %v", err)
	}
	recv(t, a.Calls(), "the answered call")
}

func TestAgent_QueueHangsUp(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, sip.RegistrarConfig{})
	a := newAgent(t, r, "udp", AgentOptions{})
	ctx := testCtx(t)
	far, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c := recv(t, a.Calls(), "the answered call")
	far.sess.Play(promptIntro)
	if _, err := c.WaitPrompt(ctx, promptIntro.Name()); err != nil {
		t.Fatalf("agent: %v", err)
	}
	if err := far.call.Hangup(ctx); err != nil {
		t.Fatalf("queue Hangup: %v", err)
	}
	recv(t, c.Done(), "the queue's BYE at the agent")
	if _, err := c.NextPrompt(ctx); !errors.Is(err, ErrRemoteHangup) {
		t.Errorf("NextPrompt after BYE = %v, want ErrRemoteHangup", err)
	}
	if err := c.Hangup(ctx); err != nil {
		t.Errorf("Hangup of an ended call: %v", err)
	}
}

func TestAgent_CloseUnregistersAndHangsUp(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, sip.RegistrarConfig{})
	a := newAgent(t, r, "udp", AgentOptions{})
	if got := recv(t, r.events, "agent1 registered"); len(got) != 1 {
		t.Fatalf("contacts after REGISTER = %+v", got)
	}
	ctx := testCtx(t)
	far, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	recv(t, a.Calls(), "the answered call")
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := recv(t, r.events, "agent1 unregistered"); len(got) != 0 {
		t.Errorf("contacts after Close = %+v, want none", got)
	}
	recv(t, far.call.Done(), "the agent's BYE at Close")
	if _, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{}); !errors.Is(err, sip.ErrNotRegistered) {
		t.Errorf("Dial after Close = %v, want ErrNotRegistered", err)
	}
}

// Drop says nothing to the registrar, as when the server it talks to is gone: the binding
// stays. (That it sends no BYE either is not checked here: the far end would then BYE the
// dropped phone itself, and its retransmissions outlive the test.)
func TestAgent_DropKeepsTheBinding(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, sip.RegistrarConfig{})
	a := newAgent(t, r, "udp", AgentOptions{})
	if got := recv(t, r.events, "agent1 registered"); len(got) != 1 {
		t.Fatalf("contacts after REGISTER = %+v", got)
	}
	if err := a.Drop(); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	// An unregistration would have been answered, and reported, before Drop returned.
	select {
	case got := <-r.events:
		t.Errorf("the registrar heard %+v after Drop, want nothing", got)
	default:
	}
	if got := r.Contacts("agent1"); len(got) != 1 {
		t.Errorf("contacts after Drop = %+v, want the binding kept", got)
	}
}

func TestAgent_LogoutLogin(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, sip.RegistrarConfig{})
	a := newAgent(t, r, "udp", AgentOptions{})
	ctx := testCtx(t)
	if err := a.Unregister(ctx); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	if _, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{}); !errors.Is(err, sip.ErrNotRegistered) {
		t.Fatalf("Dial after Unregister = %v, want ErrNotRegistered", err)
	}
	if err := a.Register(ctx); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if _, err := dialAgent(t, ctx, r, "agent1", sip.DialOptions{}); err != nil {
		t.Fatalf("Dial after Register: %v", err)
	}
	recv(t, a.Calls(), "the answered call")
}

func TestAgent_RefreshesRegistration(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, sip.RegistrarConfig{MinExpires: time.Second})
	newAgent(t, r, "udp", AgentOptions{Expires: 2 * time.Second})
	first := r.Contacts("agent1")
	if len(first) != 1 {
		t.Fatalf("contacts = %+v", first)
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if got := r.Contacts("agent1"); len(got) == 1 && got[0].Expires.After(first[0].Expires) {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling the registrar, which has no refresh event
	}
	t.Fatalf("binding not refreshed: %+v", r.Contacts("agent1"))
}

func TestAgent_BadCredentials(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, sip.RegistrarConfig{})
	tests := []struct {
		name string
		o    AgentOptions
	}{
		{"wrong password", AgentOptions{User: "agent1", Password: "nope"}},
		{"unknown user", AgentOptions{User: "mallory", Password: "agentpw"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.o.Registrar = r.udp
			a, err := NewAgent(testCtx(t), tc.o)
			var re *sip.RejectError
			if !errors.As(err, &re) || re.Code < 400 {
				if a != nil {
					a.Close()
				}
				t.Fatalf("NewAgent = %v, want a 4xx *sip.RejectError", err)
			}
		})
	}
}

func TestNewAgent_BadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    AgentOptions
	}{
		{"no user", AgentOptions{Registrar: "127.0.0.1:5060"}},
		{"reject 200", AgentOptions{Registrar: "127.0.0.1:5060", User: "agent1", Reject: 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if a, err := NewAgent(context.Background(), tc.o); err == nil {
				a.Close()
				t.Fatal("NewAgent accepted bad options")
			}
		})
	}
}

// Without a registrar the agent only listens, at Addr; with a Challenge it demands digest
// credentials of each INVITE as a carrier does: a trunk with the right password gets
// through after the 407, one with the wrong password gets 403 and never rings the phone.
func TestAgent_WithoutRegistrarChallengesLikeACarrier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		want     []siptest.AuthCheck
		wantCode int // the Dial's *sip.RejectError; 0: answered
	}{
		{"right password", "trunkpw", []siptest.AuthCheck{{User: "carol", Code: 407}, {User: "carol", Username: "hotline"}}, 0},
		{"wrong password", "nope", []siptest.AuthCheck{{User: "carol", Code: 407}, {User: "carol", Username: "hotline", Code: 403}}, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var got []siptest.AuthCheck
			a, err := NewAgent(testCtx(t), AgentOptions{Challenge: siptest.InviteAuth{Realm: "carrier", User: "hotline", Password: "trunkpw",
				OnCheck: func(c siptest.AuthCheck) { mu.Lock(); got = append(got, c); mu.Unlock() }}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			srv, err := sip.NewServer(sip.Config{UserAgent: "Trunk-Test", Trunks: []sip.Trunk{{Name: "carrier",
				URI: "sip:" + a.Addr(), Username: "hotline", Password: tc.password}}},
				sip.HandlerFunc(func(context.Context, *sip.Leg) error { return errors.New("no calls here") }))
			if err != nil {
				t.Fatal(err)
			}
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = srv.ServeUDP(ctx, pc) })
			t.Cleanup(func() { cancel(); wg.Wait() })

			_, err = dialAgent(t, testCtx(t), &registrar{Server: srv}, "carol", sip.DialOptions{Trunk: "carrier"})
			var re *sip.RejectError
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Fatalf("Dial through the trunk: %v", err)
			case tc.wantCode != 0 && (!errors.As(err, &re) || re.Code != tc.wantCode):
				t.Fatalf("Dial through the trunk = %v, want RejectError %d", err, tc.wantCode)
			case tc.wantCode == 0:
				recv(t, a.Calls(), "the answered call")
			default:
				select {
				case r := <-a.Rings():
					t.Errorf("rang (%+v) without valid credentials", r)
				default:
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, tc.want) {
				t.Errorf("auth checks %+v, want %+v", got, tc.want)
			}
		})
	}
}
