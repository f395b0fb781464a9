package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

const (
	defaultListen    = "127.0.0.1:5060"
	defaultUserAgent = "Hotline"

	// allowHeader lists the methods the server serves (RFC 3261 §20.5).
	allowHeader = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
	// acceptHeader lists the bodies the server understands (RFC 3261 §20.1).
	acceptHeader = "application/sdp, application/dtmf-relay, application/dtmf"

	// hangupTimeout bounds the BYE or final response the server sends
	// when a handler returns.
	hangupTimeout = 5 * time.Second
)

// unserved are methods we know but do not serve: 405 with Allow
// (RFC 3261 §8.2.1). Any other unknown method gets 501 (§21.5.2).
var unserved = []sipmsg.RequestMethod{
	sipmsg.SUBSCRIBE, sipmsg.NOTIFY, sipmsg.MESSAGE,
	sipmsg.REFER, sipmsg.PUBLISH, sipmsg.PRACK,
}

// Config configures a Server. The zero value is valid: every empty field
// takes its default. With no accounts the registrar is off (REGISTER gets
// 405); with no trunks Dial reaches SIP URIs and registered users only.
type Config struct {
	// Listen is the host:port ListenAndServe binds on both UDP and TCP.
	// Default "127.0.0.1:5060".
	Listen string `mapstructure:"listen"`
	// UserAgent is sent in User-Agent and Server headers. Default "Hotline".
	UserAgent string `mapstructure:"user_agent"`
	// Host is the IP or name put in the Contact and Via of calls the
	// server places (Dial): an address the far end can reach. Default: the
	// IP of the socket the call leaves from, or, when that socket listens
	// on an unspecified address (0.0.0.0, ::), the local IP the system
	// routes toward the far end.
	Host string `mapstructure:"host"`
	// ExternalAddress is the host or IP, with an optional port, advertised instead of the
	// bound address (Listen stays what the sockets bind): the Contact of our answers and
	// of the calls we place, the Via of every request we send (calls, BYE, re-INVITE,
	// REGISTER, OPTIONS). The public address of a NAT or port forward in front of Hotline.
	// Its port stands for Listen's (UDP, TCP); SIP over TLS keeps its own port. It
	// supersedes Host, so setting both is an error. Empty: off.
	ExternalAddress string `mapstructure:"external_address"`
	// Registrar configures REGISTER handling for agent softphones.
	Registrar RegistrarConfig `mapstructure:"registrar"`
	// Trunks are the SIP trunks Dial can call through (DialOptions.Trunk); calls arriving
	// from a trunk's source addresses are accepted (see trust.go).
	Trunks []Trunk `mapstructure:"trunks"`
	// Allow lists the sources (IPs or CIDRs) besides trunks and registered phones that may
	// place calls; others get 403. Default: loopback (127.0.0.0/8, ::1). ["none"]: no other.
	Allow []string `mapstructure:"allow"`
	// Limits caps new calls per source address (off unless set).
	Limits LimitsConfig `mapstructure:"limits"`
	// DrainTimeout is how long `hotline serve` lets calls in progress go on after SIGTERM
	// (new calls get 503 meanwhile, see Server.Drain) before it ends them. Default 30s.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// TCP bounds what TCP peers can hold open: see TCPConfig (edges.go).
	TCP TCPConfig `mapstructure:"tcp"`
	// TLS turns on SIP over TLS (ServeTLS, tls.go). Zero: off.
	TLS TLSConfig `mapstructure:"tls"`
	// MaxCallDuration ends (BYE) an incoming call this long after its answer; its context
	// ends with ErrMaxDuration. Zero turns it off; hotline's config defaults it to 4h.
	MaxCallDuration time.Duration `mapstructure:"max_call_duration"`
	// SessionExpires is the RFC 4028 session interval asked of callers that support
	// session timers (an INVITE asking less keeps its own); default 1800s (timers.go).
	SessionExpires time.Duration `mapstructure:"session_expires"`
	// MinSE is the shortest session interval accepted: an INVITE or UPDATE asking less
	// gets 422 with Min-SE. Default 90s, the least RFC 4028 §5 allows (lower only in tests).
	MinSE time.Duration `mapstructure:"min_se"`
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = defaultListen
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	c.Registrar = c.Registrar.withDefaults()
	c.TCP = c.TCP.withDefaults(c.Registrar)
	return c
}

// Validate reports every malformed field at once. Empty fields are valid
// (they take defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("listen %q: bad port", c.Listen))
	}
	if strings.ContainsAny(c.UserAgent, "\r\n") {
		errs = append(errs, fmt.Errorf("user_agent: must be a single line"))
	}
	if strings.ContainsAny(c.Host, " \t\r\n<>;:@") && net.ParseIP(c.Host) == nil {
		errs = append(errs, fmt.Errorf("host %q: not an IP or host name", c.Host))
	}
	if _, _, err := parseExternal(c.ExternalAddress); err != nil {
		errs = append(errs, fmt.Errorf("external_address %q: %w", c.ExternalAddress, err))
	} else if c.ExternalAddress != "" && c.Host != "" {
		errs = append(errs, errors.New("host, external_address: set one (external_address supersedes host)"))
	}
	if err := c.Registrar.validate(); err != nil {
		errs = append(errs, fmt.Errorf("registrar: %w", err))
	}
	if err := validateTrunks(c.Trunks); err != nil {
		errs = append(errs, err)
	}
	if err := c.TCP.validate(); err != nil {
		errs = append(errs, fmt.Errorf("tcp: %w", err))
	}
	errs = append(errs, c.TLS.validate(), validateTrunkTLS(c))
	if _, err := newACL(c.Allow, c.Trunks); err != nil {
		errs = append(errs, err)
	}
	if err := c.Limits.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain_timeout %v: must not be negative", c.DrainTimeout))
	}
	errs = append(errs, c.validateTimers()...)
	return errors.Join(errs...)
}

// Handler serves one call. ServeCall runs on the goroutine that received
// the INVITE and owns the call (rule C1); the call ends when it returns.
// ctx is cancelled with ErrHangup, ErrCanceled or ErrServerClosed.
type Handler interface {
	ServeCall(ctx context.Context, l *Leg) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, l *Leg) error

// ServeCall calls f(ctx, l).
func (f HandlerFunc) ServeCall(ctx context.Context, l *Leg) error { return f(ctx, l) }

// Server is a SIP user agent server (UAS) over UDP and TCP. Create it with
// NewServer, then run ServeUDP, ServeTCP or ListenAndServe.
//
// Each Serve* call owns the socket it is given and closes it when it
// returns. When a Serve* call's ctx is done, the server stops taking calls on
// that socket (503), cancels the calls that arrived on it with
// ErrServerClosed, waits for their handlers to return (so their BYE can
// still go out) and closes the socket. When the last running Serve* call
// returns, the server closes its sipgo user agent and cannot serve again.
type Server struct {
	cfg Config
	h   Handler
	log *slog.Logger

	ua  *sipgo.UserAgent
	sg  *sipgo.Server
	cli *sipgo.Client

	reg    *registrar
	trunks map[string]Trunk // by name
	acl    atomic.Pointer[acl]
	trust  trustStats
	limits *limiter

	draining atomic.Bool   // Drain: new INVITEs get 503
	drained  atomic.Uint64 // INVITEs refused while draining
	edge     *edge         // TCP limits, sipgo's logs, request checks (edges.go)
	tls      *tlsServer    // SIP over TLS (tls.go); nil: off

	mu      sync.Mutex
	legs    map[string]*Leg        // by dialog ID
	calls   map[string]*Call       // outbound (Dial), by dialog ID as the far end's requests name it
	serves  map[string]*serveState // by "transport:port"
	served  chan struct{}          // closed and replaced when a Serve* starts
	running int
	closed  bool
	// sending guards the user agent's transports: every request we originate holds it for
	// reading; the last serve takes it for writing to close the user agent. A request
	// after that would make sipgo open a fresh socket that nothing ever closes.
	sending  sync.RWMutex
	uaClosed bool

	out outbound // trunk registration and qualify (outreg.go)
}

// serveState tracks the calls that arrived on one served socket.
type serveState struct {
	key     string
	addr    net.Addr        // local address of the served socket
	ctx     context.Context // parent of the calls' contexts
	cancel  context.CancelCauseFunc
	closing bool // guarded by Server.mu
	calls   sync.WaitGroup
}

// NewServer returns a Server that hands each incoming call to h.
func NewServer(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("sip: new server: nil handler")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sip: new server: %w", err)
	}
	edge := newEdge(cfg.TCP, slog.Default().Handler())
	ts, tlsOpt, err := newTLS(cfg)
	if err != nil {
		return nil, fmt.Errorf("sip: new server: %w", err)
	}
	ua, err := sipgo.NewUA(append(edge.uaOptions(), sipgo.WithUserAgent(cfg.UserAgent), tlsOpt)...)
	if err != nil {
		return nil, fmt.Errorf("sip: new server: %w", err)
	}
	sg, err := sipgo.NewServer(ua, sipgo.WithServerLogger(edge.logger))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("sip: new server: %w", err)
	}
	extHost, extPort, _ := parseExternal(cfg.ExternalAddress) // validated
	cli, err := sipgo.NewClient(ua, append(viaOptions(cfg.ExternalAddress, extHost, extPort), sipgo.WithClientLogger(edge.logger))...)
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("sip: new server: %w", err)
	}
	reg, err := newRegistrar(cfg.Registrar)
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("sip: new server: %w", err)
	}
	trunks := make(map[string]Trunk, len(cfg.Trunks))
	for _, t := range cfg.Trunks {
		trunks[t.Name] = t
	}
	s := &Server{
		cfg:    cfg,
		h:      h,
		log:    slog.Default().With("component", "sip"),
		ua:     ua,
		sg:     sg,
		cli:    cli,
		reg:    reg,
		trunks: trunks,
		legs:   make(map[string]*Leg),
		calls:  make(map[string]*Call),
		serves: make(map[string]*serveState),
		served: make(chan struct{}),
		edge:   edge,
		tls:    ts,
	}
	a, err := newACL(cfg.Allow, cfg.Trunks)
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("sip: new server: %w", err)
	}
	s.acl.Store(a)
	s.limits = newLimiter(cfg.Limits)
	// sipgo keeps handlers in a plain map: register all before serving.
	sg.OnInvite(s.checked(s.checkInterval(s.onInvite)))
	sg.OnRequest(sipmsg.UPDATE, s.checked(s.checkInterval(s.onUpdate)))
	sg.OnAck(s.checked(s.onAck))
	sg.OnCancel(s.checked(s.onCancel))
	sg.OnBye(s.checked(s.onBye))
	sg.OnInfo(s.checked(s.onInfo))
	sg.OnOptions(s.checked(s.onOptions))
	sg.OnRegister(s.checked(s.onRegister))
	for _, m := range unserved {
		sg.OnRequest(m, s.checked(s.onUnserved))
	}
	// sipgo answers unrouted methods with 405 and no Allow; we answer 501.
	sg.OnNoRoute(s.checked(s.onUnknown))
	return s, nil
}

// ServeUDP serves SIP on conn until ctx is done, then drains the calls
// that arrived on it and closes it. It returns nil after ctx is done,
// ErrServerClosed if the server has stopped, or the transport's error.
func (s *Server) ServeUDP(ctx context.Context, conn net.PacketConn) error {
	return s.serve(ctx, "udp", conn.LocalAddr(), conn, func() error {
		return s.sg.ServeUDP(conn)
	}, func() {
		// sipgo pools the listening socket only once ServeUDP's goroutine
		// runs; a Dial before that would try to bind the port again.
		// Pool it now (ServeUDP replaces the entry).
		addr := conn.LocalAddr().String()
		s.ua.TransportLayer().Pool("udp").Add(addr,
			&sipmsg.UDPConnection{PacketConn: conn, PacketAddr: addr, Listener: true})
	})
}

// ServeTCP serves SIP on ln until ctx is done, then drains the calls that
// arrived on it and closes it. Return values are those of ServeUDP.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	ln = s.edge.listener(ln) // per-source cap, read and idle timeouts (edges.go)
	return s.serve(ctx, "tcp", ln.Addr(), ln, func() error {
		return s.sg.ServeTCP(ln)
	}, nil)
}

// ListenAndServe binds cfg.Listen on UDP and on TCP (the same port; with
// port 0 TCP takes the port UDP got) and serves both until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	host, _, err := net.SplitHostPort(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("sip: listen %s: %w", s.cfg.Listen, err)
	}
	var pc net.PacketConn
	var ln net.Listener
	// With port 0 the port UDP got may be taken for TCP: try a fresh pair a few times.
	for try := 0; ; try++ {
		pc, err = net.ListenPacket("udp", s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("sip: listen udp %s: %w", s.cfg.Listen, err)
		}
		_, port, err := net.SplitHostPort(pc.LocalAddr().String())
		if err != nil {
			_ = pc.Close()
			return fmt.Errorf("sip: listen udp %s: %w", s.cfg.Listen, err)
		}
		ln, err = net.Listen("tcp", net.JoinHostPort(host, port))
		if err == nil {
			break
		}
		_ = pc.Close()
		if !strings.HasSuffix(s.cfg.Listen, ":0") || try == 9 {
			return fmt.Errorf("sip: listen tcp %s: %w", net.JoinHostPort(host, port), err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var udpErr, tcpErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel() // one transport failing stops the other
		udpErr = s.ServeUDP(ctx, pc)
	}()
	go func() {
		defer wg.Done()
		defer cancel()
		tcpErr = s.ServeTCP(ctx, ln)
	}()
	wg.Wait()
	return errors.Join(udpErr, tcpErr)
}

var errStopped = errors.New("transport stopped")

func (s *Server) serve(ctx context.Context, network string, addr net.Addr, c io.Closer, run func() error, prepare func()) error {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		_ = c.Close()
		return fmt.Errorf("sip: serve %s %s: %w", network, addr, err)
	}
	key := network + ":" + port

	if ctx.Err() != nil { // nothing to serve
		_ = c.Close()
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		return ErrServerClosed
	}
	if _, dup := s.serves[key]; dup {
		s.mu.Unlock()
		_ = c.Close()
		return fmt.Errorf("sip: serve %s: already serving this port", key)
	}
	st := &serveState{key: key, addr: addr}
	// Calls see ErrServerClosed as their cause, not the caller's.
	st.ctx, st.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	if prepare != nil {
		prepare() // before a Dial can pick the socket
	}
	s.serves[key] = st
	s.running++
	close(s.served) // wake Dials waiting for a socket
	s.served = make(chan struct{})
	s.mu.Unlock()
	s.startTrunks() // the first Serve starts the trunks' registration and qualify

	errc := make(chan error, 1)
	go func() { errc <- run() }()

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		errc = nil
		if err == nil {
			err = errStopped
		}
		serveErr = fmt.Errorf("sip: serve %s: %w", key, err)
	}

	// Refuse new calls, end the ones this socket carries while it can
	// still send their BYEs, then close it.
	s.mu.Lock()
	st.closing = true
	s.mu.Unlock()
	s.stopTrunks() // unregister while the sockets are open; any Serve stopping stops them
	st.cancel(ErrServerClosed)
	st.calls.Wait()
	s.hangupCalls(key) // outbound calls on this socket, now that no Dial runs
	_ = c.Close()
	if errc != nil {
		<-errc
	}

	s.mu.Lock()
	delete(s.serves, key)
	s.running--
	last := s.running == 0
	if last {
		s.closed = true
	}
	s.mu.Unlock()
	if last {
		s.reg.close()
		// Terminates transactions and closes pooled connections (accepted
		// TCP connections, sockets opened for requests).
		s.sending.Lock()
		s.uaClosed = true
		s.sending.Unlock()
		_ = s.ua.Close()
		// sipgo handles each request on a goroutine of its own: one read just before the
		// sockets closed may still be on its way, and to answer it sipgo opens a fresh UDP
		// socket (with a reader) that nothing would close. Close the transports again once
		// such stragglers are done.
		tp := s.ua.TransportLayer()
		for _, d := range []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
			time.AfterFunc(d, func() { _ = tp.Close() })
		}
	}
	return serveErr
}

// acquire finds the served socket req arrived on and counts a call on it.
// It returns nil when that socket is shutting down.
func (s *Server) acquire(req *sipmsg.Request, la net.Addr) *serveState {
	network := strings.ToLower(req.Transport())
	port := ""
	if la != nil {
		_, port, _ = net.SplitHostPort(la.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.serves[network+":"+port]
	if st == nil {
		// Not matched by port (unusual routing): any socket of the transport.
		for _, o := range s.serves {
			if strings.HasPrefix(o.key, network+":") && !o.closing {
				st = o
				break
			}
		}
	}
	if st == nil || st.closing {
		return nil
	}
	st.calls.Add(1)
	return st
}

func (s *Server) newResponse(req *sipmsg.Request, code int, reason string, body []byte) *sipmsg.Response {
	if reason == "" {
		reason = statusText(code)
	}
	res := sipmsg.NewResponseFromRequest(req, code, reason, body)
	res.AppendHeader(sipmsg.NewHeader("Server", s.cfg.UserAgent))
	return res
}

func (s *Server) respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, hdrs ...sipmsg.Header) {
	res := s.newResponse(req, code, "", nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "method", req.Method, "code", code, "error", err)
	}
}

// onInvite starts a call (or handles a re-INVITE).
func (s *Server) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onReinvite(req, tx)
		return
	}
	if err := checkInvite(req); err != nil {
		s.log.Debug("bad INVITE", "error", err, "source", req.Source())
		s.respond(tx, req, 400)
		return
	}
	if ct := mediaType(req); len(req.Body()) > 0 && ct != "application/sdp" {
		s.respond(tx, req, 415, sipmsg.NewHeader("Accept", "application/sdp"))
		return
	}
	o, ok := s.originOf(req)
	if !ok {
		s.trust.refused.Add(1)
		s.log.Debug("INVITE refused: source not allowed", "source", req.Source())
		s.respond(tx, req, 403)
		return
	}
	if s.draining.Load() {
		s.drained.Add(1)
		s.respond(tx, req, 503, retryAfter(defaultRetryAfter))
		return
	}
	ip, _ := sourceIP(req) // valid: originOf needed it
	release, wait, ok := s.limits.admit(ip)
	if !ok {
		s.log.Debug("INVITE refused: source over its limits", "source", req.Source())
		s.respond(tx, req, 503, retryAfter(wait))
		return
	}
	defer release()
	if c := edgeConnOf(tx); c != nil {
		c.earn() // a call was taken on it: its source passed the trust check and the limits
	}
	la := localAddr(tx)
	st := s.acquire(req, la)
	if st == nil {
		s.respond(tx, req, 503, retryAfter(defaultRetryAfter))
		return
	}
	defer st.calls.Done()

	l, ctx := newLeg(st.ctx, s, req, tx, la)
	l.origin = o
	// Wire CANCEL first: sipgo answers it in the transaction layer (200 to
	// the CANCEL, 487 to the INVITE) and only tells us through this hook.
	if !tx.OnCancel(func(*sipmsg.Request) { l.end(ErrCanceled) }) {
		l.end(ErrCanceled)
	}
	tx.OnTerminate(func(_ string, err error) {
		// Must not call tx methods here (sipgo holds the FSM lock).
		if !l.isAnswered() {
			if err == nil {
				err = errors.New("invite transaction terminated")
			}
			l.end(fmt.Errorf("invite transaction: %w", err))
		}
	})
	// RFC 3261 §17.2.1: stop INVITE retransmissions at once.
	s.respond(tx, req, 100)

	s.mu.Lock()
	s.legs[l.dialogID] = l
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.legs, l.dialogID)
		s.mu.Unlock()
	}()
	s.run(ctx, l)
}

// run calls the handler on this goroutine, then ends the call.
func (s *Server) run(ctx context.Context, l *Leg) {
	start := time.Now()
	var err error
	if l.Cause() == nil { // not already canceled
		err = s.call(ctx, l)
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
	herr := l.Hangup(hctx, err)
	// Wait for the ACKs still due: the call's exchanges are then over when
	// it ends, and a server shutdown never races a late ACK (sipgo would
	// open a new socket to answer it after closing its own).
	if !l.isAnswered() {
		// The ACK of our non-2xx (or sipgo's 487), as sipgo's dialog code does.
		select {
		case <-l.tx.Acks():
		case <-l.tx.Done():
		case <-hctx.Done():
		}
	}
	l.awaitPendingACKs(hctx)
	cancel()
	l.end(errLocalHangup) // no-op unless Hangup failed before ending

	attrs := []any{
		"call_id", l.id, "from", l.from.URI, "to", l.to.URI, "source", l.source,
		"answered", l.isAnswered(), "cause", l.Cause(), "duration", time.Since(start),
	}
	if err != nil {
		attrs = append(attrs, "error", err)
	}
	if herr != nil {
		attrs = append(attrs, "hangup_error", herr)
	}
	var pe *panicError
	if errors.As(err, &pe) {
		s.log.Error("call ended by handler panic", append(attrs, "stack", string(pe.stack))...)
		return
	}
	s.log.Info("call ended", attrs...)
}

// panicError is a recovered handler panic (rule C7).
type panicError struct {
	val   any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler panic: %v", e.val) }

func (s *Server) call(ctx context.Context, l *Leg) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{val: r, stack: debug.Stack()}
		}
	}()
	err = s.h.ServeCall(ctx, l)
	// A handler returning ctx.Err() ended because of the call's cause.
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = context.Cause(ctx)
	}
	return err
}

// match returns the leg an in-dialog request belongs to, or nil.
func (s *Server) match(req *sipmsg.Request) *Leg {
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[id]
}

// matchDialog returns the dialog an in-dialog request belongs to: an
// incoming call's Leg, else a Call the server placed; nil for none.
func (s *Server) matchDialog(req *sipmsg.Request) *dialog {
	if l := s.match(req); l != nil {
		return &l.dialog
	}
	if c := s.matchCall(req); c != nil {
		return &c.dialog
	}
	return nil
}

func (s *Server) onAck(req *sipmsg.Request, _ sipmsg.ServerTransaction) {
	// ACK gets no response (RFC 3261 §17); an ACK for no dialog is dropped.
	if req.CSeq() == nil {
		return
	}
	if d := s.matchDialog(req); d != nil {
		d.acked(req.CSeq().SeqNo, ackSDP(req)) // the answer, when our 2xx offered
	}
}

func (s *Server) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if d := s.matchDialog(req); s.admit(d, req, tx) {
		d.serveBye(req, tx)
	}
}

func (s *Server) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if d := s.matchDialog(req); s.admit(d, req, tx) {
		d.serveInfo(req, tx)
	}
}

func (s *Server) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if d := s.matchDialog(req); s.admit(d, req, tx) {
		d.serveReinvite(req, tx)
	}
}

// onCancel sees only CANCELs sipgo could not match to an INVITE
// transaction: RFC 3261 §9.2 says 481.
func (s *Server) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.respond(tx, req, 481)
}

func (s *Server) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if s.draining.Load() { // a carrier that qualifies us routes elsewhere while we drain
		s.respond(tx, req, 503, retryAfter(defaultRetryAfter))
		return
	}
	// RFC 3261 §11.2.
	s.respond(tx, req, 200,
		sipmsg.NewHeader("Allow", s.allow()),
		sipmsg.NewHeader("Accept", acceptHeader),
	)
}

func (s *Server) onUnserved(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.respond(tx, req, 405, sipmsg.NewHeader("Allow", s.allow()))
}

// allow is the Allow header of out-of-dialog responses: REGISTER is
// served while the registrar has accounts.
func (s *Server) allow() string {
	if s.reg.enabled() {
		return allowHeader + ", REGISTER"
	}
	return allowHeader
}

func (s *Server) onUnknown(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if req.IsAck() {
		return
	}
	s.respond(tx, req, 501, sipmsg.NewHeader("Allow", s.allow()))
}

// checkInvite checks what a dialog needs (RFC 3261 §8.1.1, §12.1.1).
func checkInvite(req *sipmsg.Request) error {
	switch {
	case req.CallID() == nil:
		return errors.New("missing Call-ID")
	case req.CSeq() == nil:
		return errors.New("missing CSeq")
	case req.From() == nil || !req.From().Params.Has("tag"):
		return errors.New("missing From tag")
	case req.To() == nil:
		return errors.New("missing To")
	case req.Contact() == nil || req.Contact().Address.Host == "":
		return errors.New("missing Contact")
	}
	return nil
}

// mediaTypeRaw returns the Content-Type header value, or "".
func mediaTypeRaw(m *sipmsg.Request) string {
	if h := m.GetHeader("Content-Type"); h != nil {
		return strings.TrimSpace(h.Value())
	}
	return ""
}

// mediaType returns the lower-case media type without parameters.
func mediaType(m *sipmsg.Request) string {
	t, _, _ := strings.Cut(mediaTypeRaw(m), ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// localAddr returns the local address of the connection tx arrived on.
func localAddr(tx sipmsg.ServerTransaction) net.Addr {
	if c, ok := tx.(interface{ Connection() sipmsg.Connection }); ok {
		if conn := c.Connection(); conn != nil {
			return conn.LocalAddr()
		}
	}
	return nil
}

// beginSend reports whether a request may go out; if so, endSend must follow once it is
// done. False once the server has closed its user agent.
func (s *Server) beginSend() bool {
	s.sending.RLock()
	if s.uaClosed {
		s.sending.RUnlock()
		return false
	}
	return true
}

func (s *Server) endSend() { s.sending.RUnlock() }
