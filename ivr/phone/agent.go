package phone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// NoAnswer as AgentOptions.Reject (or SetReject) makes an agent ring without ever
// answering, until the caller gives up (CANCEL) or the agent closes.
const NoAnswer = -1

// agentBuffer is the capacity of the Calls and Rings channels.
const agentBuffer = 16

// agentTimeout bounds the REGISTER and BYEs Close sends.
const agentTimeout = 2 * time.Second

// AgentOptions configures an Agent.
type AgentOptions struct {
	// Registrar is where to register: host:port (UDP unless Transport says otherwise),
	// or a SIP URI such as "sip:127.0.0.1:5060;transport=tcp". Empty: the agent does not
	// register; it only listens (at Addr) and answers, as a SIP endpoint reached at a fixed
	// URI does (a static agent, or a customer's phone behind a trunk).
	Registrar string
	// Transport is "udp" (default) or "tcp", for the registration and so for the calls the
	// registrar routes to the agent.
	Transport string
	// User and Password are the digest credentials (the registrar's account). User is
	// required with a Registrar.
	User     string
	Password string
	// Expires is the registration lifetime asked for; 0: the registrar's default. The agent
	// refreshes it at half the lifetime granted.
	Expires time.Duration
	// Prompts are recognised in what the agent hears (AgentCall.NextPrompt).
	Prompts map[string]*media.Prompt
	// Codecs is the answer's preference, best first; nil: PCMU then PCMA.
	Codecs []media.CodecName
	// AnswerDelay is how long the agent rings before answering (after its 180 Ringing).
	AnswerDelay time.Duration
	// AnswerGate, when set, makes the agent ring until it is closed, then answer (after
	// AnswerDelay): a test answers once what must come first has happened, rather than
	// after a guessed delay.
	AnswerGate <-chan struct{}
	// Reject, when non-zero, is the final response to every INVITE instead of answering:
	// 300-699 (e.g. 486 Busy Here, 480 Temporarily Unavailable), or NoAnswer to ring until
	// the caller cancels. Zero answers: the agent auto-answers.
	Reject int
	// DigitDuration and DTMFMode are how AgentCall.Press sends keys, as in Options.
	DigitDuration time.Duration
	DTMFMode      string
	// Challenge, when its Realm is set, makes the agent demand digest authentication of
	// each INVITE as a carrier does of a trunk's calls (siptest.InviteAuth): 407 with a
	// Proxy-Authenticate challenge first, 403 for wrong credentials. Only an authenticated
	// INVITE rings. Its OnCheck sees every outcome.
	Challenge siptest.InviteAuth
	// Host is the loopback IP the agent binds its SIP and RTP sockets to; default
	// 127.0.0.1.
	Host string
	// SDPAddress, when set, is the address the agent's SDP answers name instead of its RTP
	// socket's: a phone behind NAT, whose SDP says its private address while its packets
	// come from another.
	SDPAddress netip.Addr
}

// Ring is one INVITE the agent was offered, whatever became of it.
type Ring struct {
	CallID string
	From   sip.Party // the caller ID the offer carries
	At     time.Time
}

// Agent is a test agent softphone: a SIP user agent registered with digest
// authentication (or, without a registrar, reached at its address) that rings on INVITEs
// and answers them (or rejects them, or lets them ring) as its options say, with its own
// RTP socket and media session on 127.0.0.1 per answered call. It stands in for the human
// agent of a hold queue, or for a customer's phone.
type Agent struct {
	opts      AgentOptions
	registrar string // SIP URI
	client    *siptest.Client
	calls     chan *AgentCall
	rings     chan Ring
	ctx       context.Context // done when Close starts: ringing INVITEs get 480, calls BYE
	stop      context.CancelFunc
	wg        sync.WaitGroup // INVITE handlers, call watchers, the refresher

	mu          sync.Mutex
	reject      int
	answerDelay time.Duration
	closed      bool
	silent      bool // Drop: no BYE for the calls
	registered  bool
	refresh     *time.Timer
}

// AgentCall is one call an Agent answered. Besides its own methods it has the call
// methods of Phone: ID, Codec, NextPrompt, WaitPrompt, Heard, PCM, Done, Play, Press, Run.
type AgentCall struct {
	line
	from   sip.Party
	closed chan struct{} // media released
}

// From returns the caller ID of the call (the INVITE's From).
func (c *AgentCall) From() sip.Party { return c.from }

// Hangup sends BYE (unless the call already ended), then releases the call's media.
func (c *AgentCall) Hangup(ctx context.Context) error {
	err := c.call.Hangup(ctx)
	select {
	case <-c.closed:
	case <-ctx.Done():
		if err == nil {
			err = context.Cause(ctx)
		}
	}
	return err
}

// NewAgent starts an agent softphone on 127.0.0.1 (ephemeral SIP and RTP ports), registers
// it with o.Registrar and returns once the registrar has accepted it; without a Registrar
// it returns at once, listening at Addr. Close unregisters it and ends its calls.
func NewAgent(ctx context.Context, o AgentOptions) (*Agent, error) {
	if o.Registrar != "" && o.User == "" {
		return nil, errors.New("phone: new agent: a registrar wants a user")
	}
	if o.Reject != 0 && o.Reject != NoAnswer && (o.Reject < 300 || o.Reject > 699) {
		return nil, fmt.Errorf("phone: new agent: reject %d: want 300-699 or NoAnswer", o.Reject)
	}
	if o.DigitDuration == 0 {
		o.DigitDuration = 100 * time.Millisecond
	}
	registrar := o.Registrar
	if registrar != "" && !strings.HasPrefix(strings.ToLower(registrar), "sip:") {
		registrar = "sip:" + registrar
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	client, err := siptest.NewClient(siptest.ClientConfig{UserAgent: "Hotline-agent", Host: o.Host, InviteAuth: o.Challenge})
	if err != nil {
		return nil, fmt.Errorf("phone: new agent %s: %w", o.User, err)
	}
	a := &Agent{
		opts:        o,
		registrar:   registrar,
		client:      client,
		calls:       make(chan *AgentCall, agentBuffer),
		rings:       make(chan Ring, agentBuffer),
		reject:      o.Reject,
		answerDelay: o.AnswerDelay,
	}
	a.ctx, a.stop = context.WithCancel(context.Background())
	client.OnInvite(a.onInvite)
	if registrar == "" {
		return a, nil
	}
	if err := a.Register(ctx); err != nil {
		a.shutdown()
		return nil, errors.Join(err, client.Close())
	}
	return a, nil
}

// User returns the agent's user name.
func (a *Agent) User() string { return a.opts.User }

// Addr returns the host:port the agent's SIP UDP socket listens on: with no Registrar,
// call it at sip:USER@Addr.
func (a *Agent) Addr() string { return a.client.Addr() }

// Calls delivers each call the agent answered, as it answers it (the caller's ACK may
// still be on its way). When 16 answered calls wait undelivered, further INVITEs get 486.
func (a *Agent) Calls() <-chan *AgentCall { return a.calls }

// Rings delivers each INVITE the agent is offered, answered or not, when it starts to
// ring. Rings beyond 16 undelivered are dropped.
func (a *Agent) Rings() <-chan Ring { return a.rings }

// SetReject changes how the agent treats the next INVITEs, as AgentOptions.Reject.
func (a *Agent) SetReject(code int) {
	a.mu.Lock()
	a.reject = code
	a.mu.Unlock()
}

// SetAnswerDelay changes how long the agent rings before answering the next INVITEs.
func (a *Agent) SetAnswerDelay(d time.Duration) {
	a.mu.Lock()
	a.answerDelay = d
	a.mu.Unlock()
}

func (a *Agent) regOptions() siptest.RegisterOptions {
	return siptest.RegisterOptions{User: a.opts.User, Password: a.opts.Password, Expires: a.opts.Expires, Transport: a.opts.Transport}
}

// Register (re-)registers the agent, with digest authentication, and keeps the binding
// refreshed until Unregister or Close: the agent logs in.
func (a *Agent) Register(ctx context.Context) error {
	if a.registrar == "" {
		return errors.New("phone: agent: register: no registrar")
	}
	granted, err := a.client.Register(ctx, a.registrar, a.regOptions())
	if err != nil {
		return fmt.Errorf("phone: agent: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.registered = true
	if a.refresh != nil {
		a.refresh.Stop()
		a.refresh = nil
	}
	if granted > 0 {
		a.refresh = time.AfterFunc(granted/2, a.refreshNow)
	}
	return nil
}

// refreshNow re-registers on the refresh timer's goroutine.
func (a *Agent) refreshNow() {
	a.mu.Lock()
	if a.closed || !a.registered {
		a.mu.Unlock()
		return
	}
	a.wg.Add(1)
	a.mu.Unlock()
	defer a.wg.Done()
	ctx, cancel := context.WithTimeout(a.ctx, agentTimeout)
	defer cancel()
	_ = a.Register(ctx) // a failed refresh lets the binding lapse, as a real phone's would
}

// Unregister removes the agent's binding (Expires 0) and stops refreshing it: the agent
// logs out. Calls in progress go on.
func (a *Agent) Unregister(ctx context.Context) error {
	a.mu.Lock()
	a.registered = false
	if a.refresh != nil {
		a.refresh.Stop()
		a.refresh = nil
	}
	a.mu.Unlock()
	if a.registrar == "" {
		return errors.New("phone: agent: unregister: no registrar")
	}
	if err := a.client.Unregister(ctx, a.registrar, a.regOptions()); err != nil {
		return fmt.Errorf("phone: agent: %w", err)
	}
	return nil
}

// Close unregisters the agent, hangs up its calls, and releases everything. It waits for
// the registrar and the BYEs at most 2 s each.
func (a *Agent) Close() error {
	a.mu.Lock()
	closed, registered := a.closed, a.registered
	a.mu.Unlock()
	if closed {
		return nil
	}
	var err error
	if registered {
		ctx, cancel := context.WithTimeout(context.Background(), agentTimeout)
		err = a.Unregister(ctx)
		cancel()
	}
	a.shutdown()
	return errors.Join(err, a.client.Close())
}

// Drop releases the agent and its calls without a word to the far end: no REGISTER to
// remove the binding, no BYE, as a phone whose network went away. It is for a server that
// is gone (killed), which Close would wait for at each step until its timeout.
func (a *Agent) Drop() error {
	a.mu.Lock()
	closed := a.closed
	a.silent = true
	a.mu.Unlock()
	if closed {
		return nil
	}
	a.shutdown()
	return a.client.Close()
}

// shutdown stops answering and refreshing, hangs up the calls (unless dropped), and waits
// for every goroutine of the agent.
func (a *Agent) shutdown() {
	a.mu.Lock()
	a.closed = true
	if a.refresh != nil {
		a.refresh.Stop()
		a.refresh = nil
	}
	a.mu.Unlock()
	a.stop() // ringing INVITEs get 480; call watchers send BYE
	a.wg.Wait()
}

// onInvite answers (or not) one INVITE, on the client's goroutine for it.
func (a *Agent) onInvite(ctx context.Context, call *siptest.Call) ([]byte, int) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, 480
	}
	a.wg.Add(1)
	reject, delay := a.reject, a.answerDelay
	a.mu.Unlock()
	defer a.wg.Done()

	select {
	case a.rings <- Ring{CallID: call.ID(), From: call.From(), At: time.Now()}:
	default:
	}
	switch {
	case reject == NoAnswer:
		select {
		case <-ctx.Done(): // CANCEL: the client sends 487
			return nil, 487
		case <-a.ctx.Done():
			return nil, 480
		}
	case reject != 0:
		return nil, reject
	}
	if gate := a.opts.AnswerGate; gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, 487
		case <-a.ctx.Done():
			return nil, 480
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, 487
		case <-a.ctx.Done():
			t.Stop()
			return nil, 480
		}
	}

	ac, answer, code := a.answer(call)
	if code != 200 {
		return nil, code
	}
	select {
	case a.calls <- ac:
	default:
		ac.closeMedia()
		return nil, 486
	}
	a.wg.Add(1)
	go a.watch(ac)
	return answer, 200
}

// answer opens the call's RTP socket and session and makes the SDP answer.
func (a *Agent) answer(call *siptest.Call) (*AgentCall, []byte, int) {
	ip := netip.MustParseAddr(a.opts.Host)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, nil, 500
	}
	if a.opts.SDPAddress.IsValid() {
		ip = a.opts.SDPAddress
	}
	local := netip.AddrPortFrom(ip, uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	answer, neg, err := sdp.Answer(call.RemoteSDP(), sdp.AnswerOptions{Addr: local, Codecs: a.opts.Codecs, SessionID: uint64(time.Now().UnixNano())})
	if err != nil {
		conn.Close()
		return nil, nil, 488 // RFC 3261 §21.4.26 Not Acceptable Here
	}
	ac := &AgentCall{from: call.From(), closed: make(chan struct{})}
	ac.call, ac.conn = call, conn
	ac.codec, ac.dtmfPT = neg.Codec, neg.DTMFPT
	ac.dtmfMode, ac.digitDur = a.opts.DTMFMode, a.opts.DigitDuration
	ac.rec = NewRecogniser(a.opts.Prompts, neg.Codec.Name)
	ac.sess = media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote, OnAudio: ac.rec.Feed})
	ac.sess.Start(context.Background())
	return ac, answer, 200
}

// watch releases a call's media when it ends, and hangs it up when the agent closes.
func (a *Agent) watch(ac *AgentCall) {
	defer a.wg.Done()
	select {
	case <-ac.call.Done():
	case <-a.ctx.Done():
		a.mu.Lock()
		silent := a.silent
		a.mu.Unlock()
		if !silent {
			ctx, cancel := context.WithTimeout(context.Background(), agentTimeout)
			_ = ac.call.Hangup(ctx)
			cancel()
		}
	}
	ac.closeMedia()
	close(ac.closed)
}
