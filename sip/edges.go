package sip

// The server's edges: what a peer can make it hold or say before any call
// logic runs (issue #10, findings 8-10).
//
//   - TCP: a cap on concurrent connections per source, a deadline for each
//     message to arrive whole, and an idle timeout for quiet connections
//     (edgeListener, edgeConn).
//   - Logs: sipgo's log lines go through a handler that rate-limits them,
//     truncates long attributes (the raw bytes of an unparsable message) and
//     counts parse errors (edgeLog).
//   - Requests: every handler checks the version, the mandatory header
//     fields, the Request-URI scheme and Require first: 505, 400, 416, 420
//     (Server.checked).

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

const (
	defaultTCPReadTimeout = 10 * time.Second
	// defaultTCPIdleSlack is added to the registrar's max_expires to make the
	// default idle timeout: a phone re-registering over its connection keeps it.
	defaultTCPIdleSlack      = 5 * time.Minute
	defaultMaxConnsPerSource = 64
	// defaultTCPStrangerIdle is StrangerIdleTimeout's default.
	defaultTCPStrangerIdle = time.Minute

	// logBurst and logRate bound the sipgo log lines at Info and above: a
	// burst of logBurst lines, then logRate a second.
	logBurst = 10
	logRate  = 5
	// logAttrMax is the longest string attribute (raw message bytes, error
	// text) a log line keeps; the rest is cut and its length noted.
	logAttrMax = 256

	// acceptBackoffMax bounds the wait between Accept retries after a
	// temporary error (out of file descriptors).
	acceptBackoffMax = time.Second
)

// TCPConfig bounds what TCP peers can make the server hold. The zero value
// takes the defaults.
//
// Registered phones keep their TCP connection open and may send CRLF
// keep-alives on it (RFC 5626 §3.5.1): a quiet connection between messages
// may stay for IdleTimeout, while a message must arrive whole within
// ReadTimeout of its first byte.
type TCPConfig struct {
	// ReadTimeout bounds the arrival of one message, from its first byte to
	// its last (its body, by Content-Length), and of a new connection's
	// first message, from the accept. A connection that misses it is
	// closed: a half-sent request holds nothing for long. It also bounds a
	// write to a peer that stopped reading. Default 10s.
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// IdleTimeout closes a connection on which nothing (not even a CRLF
	// keep-alive) arrived for this long between messages, unless a call
	// that arrived on it is still up. Default: the registrar's max_expires
	// plus 5m (2h5m by default), so a phone that re-registers over its
	// connection keeps it and stays reachable.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// StrangerIdleTimeout is the idle timeout of a connection that has carried no
	// successful REGISTER and no call: whoever opened it has not shown who they are (a
	// complete OPTIONS costs nothing), so it is not kept long. Default 1m (or IdleTimeout,
	// when shorter).
	StrangerIdleTimeout time.Duration `mapstructure:"stranger_idle_timeout"`
	// MaxConnsPerSource caps the concurrent connections from one source (an
	// IPv4 address, or an IPv6 /64); more are closed at accept. Raise it
	// when many phones register over TCP from behind one NAT. Default 64.
	MaxConnsPerSource int `mapstructure:"max_conns_per_source"`
}

func (c TCPConfig) withDefaults(reg RegistrarConfig) TCPConfig {
	if c.ReadTimeout == 0 {
		c.ReadTimeout = defaultTCPReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = reg.withDefaults().MaxExpires + defaultTCPIdleSlack
	}
	if c.MaxConnsPerSource == 0 {
		c.MaxConnsPerSource = defaultMaxConnsPerSource
	}
	if c.StrangerIdleTimeout == 0 {
		c.StrangerIdleTimeout = defaultTCPStrangerIdle
	}
	c.StrangerIdleTimeout = min(c.StrangerIdleTimeout, c.IdleTimeout)
	return c
}

func (c TCPConfig) validate() error {
	var errs []error
	if c.ReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("read_timeout %v: must not be negative", c.ReadTimeout))
	}
	if c.StrangerIdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("stranger_idle_timeout %v: must not be negative", c.StrangerIdleTimeout))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle_timeout %v: must not be negative", c.IdleTimeout))
	}
	if c.MaxConnsPerSource < 0 {
		errs = append(errs, fmt.Errorf("max_conns_per_source %d: must not be negative", c.MaxConnsPerSource))
	}
	return errors.Join(errs...)
}

// EdgeStats counts what the server's edges refused or cut since it was
// created.
type EdgeStats struct {
	// ParseErrors counts messages sipgo could not parse: the datagram is
	// dropped, the TCP connection closed.
	ParseErrors uint64
	// BadRequests counts requests refused by the edge checks (505, 400,
	// 416, 420; a malformed ACK is dropped but counted).
	BadRequests uint64
	// LogsSuppressed counts transport log lines dropped by the rate limit.
	LogsSuppressed uint64
	// TCPRefused counts connections closed at accept: their source was at
	// TCPConfig.MaxConnsPerSource.
	TCPRefused uint64
	// TCPTimedOut counts connections closed for missing ReadTimeout: a
	// message (or a first message) that did not arrive whole, or a write
	// the peer did not take.
	TCPTimedOut uint64
	// TCPIdleClosed counts connections closed after IdleTimeout of silence.
	TCPIdleClosed uint64
}

// EdgeStats returns the counters of the server's edges.
func (s *Server) EdgeStats() EdgeStats {
	e := s.edge
	return EdgeStats{
		ParseErrors:    e.parseErrors.Load(),
		BadRequests:    e.badRequests.Load(),
		LogsSuppressed: e.log.suppressedTotal.Load(),
		TCPRefused:     e.refused.Load(),
		TCPTimedOut:    e.timedOut.Load(),
		TCPIdleClosed:  e.idleClosed.Load(),
	}
}

// edge is the state of a Server's edges.
type edge struct {
	cfg    TCPConfig
	log    *edgeLog
	logger *slog.Logger // sipgo's logger and ours for edge events

	parseErrors atomic.Uint64
	badRequests atomic.Uint64
	refused     atomic.Uint64
	timedOut    atomic.Uint64
	idleClosed  atomic.Uint64

	mu      sync.Mutex
	sources map[netip.Prefix]int // open accepted connections by source
}

func newEdge(cfg TCPConfig, h slog.Handler) *edge {
	e := &edge{cfg: cfg, sources: make(map[netip.Prefix]int)}
	e.log = newEdgeLog(h, &e.parseErrors)
	e.logger = slog.New(&edgeHandler{e: e.log}).With("component", "sip")
	return e
}

// uaOptions route the logs of sipgo's transport and transaction layers
// through the edge's handler.
func (e *edge) uaOptions() []sipgo.UserAgentOption {
	return []sipgo.UserAgentOption{
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(e.logger)),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(e.logger)),
	}
}

// ----------------------------------------------------------------------------
// Logs

// parseErrorMsg is the message sipgo (v1.7.2, transport_udp.go and
// transport_tcp.go) logs, at Error with the raw bytes, for data it cannot
// parse. TestEdges_JunkFloodLogsBounded pins it.
const parseErrorMsg = "failed to parse"

// edgeLog is the state the handlers derived from one edgeHandler share: the
// sink, the rate limit, the counters.
type edgeLog struct {
	sink        atomic.Pointer[sinkBox]
	parseErrors *atomic.Uint64
	now         func() time.Time

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed uint64 // since the last line let through

	suppressedTotal atomic.Uint64
}

// sinkBox makes the sink comparable whatever its dynamic type.
type sinkBox struct{ h slog.Handler }

func newEdgeLog(h slog.Handler, parseErrors *atomic.Uint64) *edgeLog {
	l := &edgeLog{parseErrors: parseErrors, now: time.Now, tokens: logBurst}
	l.sink.Store(&sinkBox{h})
	return l
}

// allow takes a token for one line. When lines were suppressed since the
// last one let through, it returns their number, to be reported first.
func (l *edgeLog) allow() (ok bool, suppressed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(logBurst, l.tokens+now.Sub(l.last).Seconds()*logRate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		l.suppressedTotal.Add(1)
		return false, 0
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// edgeHandler is the slog.Handler of sipgo's loggers. Lines at Info and
// above share a rate limit (logBurst, then logRate a second; a line
// reports how many were dropped before it); every line has its long string
// attributes cut to logAttrMax bytes. sipgo's parse errors are counted
// (whatever the level let through) and logged at Warn: the peer's fault,
// not ours.
type edgeHandler struct {
	e     *edgeLog
	ops   []handlerOp // WithAttrs and WithGroup, in order
	cache atomic.Pointer[derived]
}

type handlerOp struct {
	group string
	attrs []slog.Attr
}

// derived is the sink with ops applied, rebuilt when the sink changes.
type derived struct {
	base *sinkBox
	h    slog.Handler
}

func (h *edgeHandler) inner() slog.Handler {
	base := h.e.sink.Load()
	if d := h.cache.Load(); d != nil && d.base == base {
		return d.h
	}
	in := base.h
	for _, op := range h.ops {
		if op.group != "" {
			in = in.WithGroup(op.group)
		} else {
			in = in.WithAttrs(op.attrs)
		}
	}
	h.cache.Store(&derived{base: base, h: in})
	return in
}

// Enabled lets Error through whatever the sink's level, so parse errors
// are counted.
func (h *edgeHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelError || h.inner().Enabled(ctx, level)
}

func (h *edgeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == parseErrorMsg {
		h.e.parseErrors.Add(1)
		r.Level = slog.LevelWarn
	}
	in := h.inner()
	if !in.Enabled(ctx, r.Level) {
		return nil
	}
	if r.Level >= slog.LevelInfo {
		ok, dropped := h.e.allow()
		if !ok {
			return nil
		}
		if dropped > 0 {
			sum := slog.NewRecord(r.Time, slog.LevelWarn, "log lines suppressed by rate limit", 0)
			sum.AddAttrs(slog.Uint64("suppressed", dropped))
			if err := in.Handle(ctx, sum); err != nil {
				return err
			}
		}
	}
	out := slog.NewRecord(r.Time, r.Level, truncate(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(truncateAttr(a))
		return true
	})
	return in.Handle(ctx, out)
}

func (h *edgeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	cut := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		cut[i] = truncateAttr(a)
	}
	return h.with(handlerOp{attrs: cut})
}

func (h *edgeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(handlerOp{group: name})
}

func (h *edgeHandler) with(op handlerOp) *edgeHandler {
	ops := make([]handlerOp, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &edgeHandler{e: h.e, ops: append(ops, op)}
}

// truncateAttr cuts a long string (or error text) value, in groups too.
func truncateAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > logAttrMax {
			return slog.String(a.Key, truncate(s))
		}
	case slog.KindGroup:
		g := v.Group()
		cut := make([]any, len(g))
		for i, ga := range g {
			cut[i] = truncateAttr(ga)
		}
		return slog.Group(a.Key, cut...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			if s := err.Error(); len(s) > logAttrMax {
				return slog.String(a.Key, truncate(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// truncate cuts s to logAttrMax bytes (at a rune start) and notes the
// length it had.
func truncate(s string) string {
	if len(s) <= logAttrMax {
		return s
	}
	n := logAttrMax
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s...[truncated, %d bytes]", s[:n], len(s))
}

// ----------------------------------------------------------------------------
// TCP

// sourceOf is the source a connection counts against: its IPv4 address, or
// its IPv6 /64 (one host commonly holds a whole /64).
func sourceOf(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr().Unmap()
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits) // the zero Prefix for an unknown address: one shared source
	return p
}

func (e *edge) admit(src netip.Prefix) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sources[src] >= e.cfg.MaxConnsPerSource {
		return false
	}
	e.sources[src]++
	return true
}

func (e *edge) release(src netip.Prefix) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sources[src]--; e.sources[src] <= 0 {
		delete(e.sources, src)
	}
}

// listener wraps ln for sipgo's TCP transport: connections over the
// per-source cap are closed at once, the others are edgeConns. Connections
// sipgo dials itself (Dial, responses to a closed connection) are not
// accepted here and keep sipgo's defaults.
func (e *edge) listener(ln net.Listener) net.Listener {
	return &edgeListener{Listener: ln, e: e, done: make(chan struct{})}
}

type edgeListener struct {
	net.Listener
	e         *edge
	done      chan struct{}
	closeOnce sync.Once
}

// Accept returns the next connection within the cap. It retries after a
// temporary error (no file descriptor left) instead of returning it: sipgo
// stops serving on any Accept error.
func (l *edgeListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !temporaryAcceptError(err) {
				return nil, err
			}
			delay = min(max(2*delay, 5*time.Millisecond), acceptBackoffMax)
			l.e.logger.Warn("tcp accept failed; retrying", "error", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
				continue
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
		}
		delay = 0
		src := sourceOf(c.RemoteAddr())
		if !l.e.admit(src) {
			l.e.refused.Add(1) // counted before the peer can see the close
			_ = c.Close()
			l.e.logger.Warn("tcp connection refused: too many from its source",
				"source", c.RemoteAddr().String(), "max_conns_per_source", l.e.cfg.MaxConnsPerSource)
			continue
		}
		return newEdgeConn(c, l.e, src, time.Now()), nil
	}
}

func (l *edgeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func temporaryAcceptError(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// edgeConn is an accepted connection with read deadlines chosen by where
// the peer is in its message stream (framer):
//   - inside a message: its first byte + ReadTimeout (trickling bytes does
//     not extend it);
//   - before the first message: the accept + ReadTimeout;
//   - between messages: the last byte + IdleTimeout, re-armed while a call
//     that arrived on the connection is up (pins).
//
// Each write must complete within ReadTimeout. A missed deadline closes the
// connection; Read then returns an error wrapping net.ErrClosed, which
// sipgo takes as a peer's close.
type edgeConn struct {
	net.Conn
	e         *edge
	src       netip.Prefix
	accepted  time.Time
	pins      atomic.Int32
	earned    atomic.Bool // a REGISTER succeeded or a call came on it: IdleTimeout applies
	closeOnce sync.Once

	// Owned by the one goroutine that reads (sipgo's reader).
	f        framer
	msgStart time.Time
}

func newEdgeConn(c net.Conn, e *edge, src netip.Prefix, now time.Time) *edgeConn {
	return &edgeConn{Conn: c, e: e, src: src, accepted: now}
}

func (c *edgeConn) deadline(now time.Time) time.Time {
	switch {
	case c.f.inMessage():
		return c.msgStart.Add(c.e.cfg.ReadTimeout)
	case c.f.messages == 0:
		return c.accepted.Add(c.e.cfg.ReadTimeout)
	case c.earned.Load():
		return now.Add(c.e.cfg.IdleTimeout)
	default:
		// Nobody has shown who they are on it yet (a complete OPTIONS costs nothing):
		// such a connection is kept for a short while only.
		return now.Add(c.e.cfg.StrangerIdleTimeout)
	}
}

// earn gives the connection the long idle timeout: a phone registered over it (and will
// be called over it), or a call came over it.
func (c *edgeConn) earn() { c.earned.Store(true) }

func (c *edgeConn) Read(b []byte) (int, error) {
	for {
		if err := c.Conn.SetReadDeadline(c.deadline(time.Now())); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(b)
		if n > 0 {
			if c.f.feed(b[:n]) {
				c.msgStart = time.Now()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = nil // the next Read sees the deadline again
			}
			return n, err
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		idle := !c.f.inMessage() && c.f.messages > 0
		if idle && c.pins.Load() > 0 {
			continue // a call is up on this connection
		}
		return 0, c.expire(idle)
	}
}

func (c *edgeConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.e.cfg.ReadTimeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.e.timedOut.Add(1)
		c.e.logger.Warn("tcp connection closed: the peer takes no data",
			"source", c.RemoteAddr().String(), "write_timeout", c.e.cfg.ReadTimeout)
		_ = c.Close()
	}
	return n, err
}

// expire closes the connection after a missed read deadline.
func (c *edgeConn) expire(idle bool) error {
	var why string
	if idle {
		c.e.idleClosed.Add(1)
		why = fmt.Sprintf("idle for %v", c.e.cfg.IdleTimeout)
		c.e.logger.Debug("tcp connection closed: "+why, "source", c.RemoteAddr().String())
	} else {
		c.e.timedOut.Add(1)
		why = fmt.Sprintf("message not complete within %v", c.e.cfg.ReadTimeout)
		c.e.logger.Warn("tcp connection closed: "+why, "source", c.RemoteAddr().String(),
			"messages", c.f.messages)
	}
	_ = c.Close()
	return fmt.Errorf("sip: tcp %s: %s: %w", c.RemoteAddr(), why, net.ErrClosed)
}

// Close closes the connection and frees its place under its source's cap.
func (c *edgeConn) Close() error {
	c.closeOnce.Do(func() { c.e.release(c.src) })
	return c.Conn.Close()
}

func (c *edgeConn) pin()   { c.pins.Add(1) }
func (c *edgeConn) unpin() { c.pins.Add(-1) }

// edgeConnOf returns the accepted TCP connection tx's request came on, or
// nil.
func edgeConnOf(tx sipmsg.ServerTransaction) *edgeConn {
	c, ok := tx.(interface{ Connection() sipmsg.Connection })
	if !ok {
		return nil
	}
	tc, ok := c.Connection().(*sipmsg.TCPConnection)
	if !ok {
		return nil
	}
	conn := tc.Conn
	if t, ok := conn.(*tls.Conn); ok { // sipgo keeps TLS in a TCPConnection too
		conn = t.NetConn()
	}
	ec, _ := conn.(*edgeConn)
	return ec
}

// framer follows a SIP byte stream only as far as deadlines need: whether
// the bytes so far end between messages. A message starts at its first byte
// that is not CR or LF (RFC 3261 §7.5: CRLFs before a start-line are
// ignored, RFC 5626 §3.5.1 keep-alives), its header ends at the first empty
// line, and its body is Content-Length bytes long (the last Content-Length
// or "l" field, as sipgo's parser reads it; none or unreadable: no body).
// Where it and sipgo's parser disagree (a malformed message), only the
// deadline choice is off: sipgo rejects such a message and closes the
// connection itself.
type framer struct {
	state    frameState
	crlf     int    // how much of "\r\n\r\n" the header bytes end with
	lineEnd  bool   // the last header line ended; the next byte starts a line or folds it
	line     []byte // the current header field, its start only (lineMax)
	clen     int64  // Content-Length of the current message, -1 unknown
	body     int64  // body bytes still due
	messages int    // messages completed
}

type frameState uint8

const (
	frameIdle frameState = iota
	frameHeader
	frameBody
)

// lineMax is how much of a header line the framer keeps: enough for
// "Content-Length:" with room for spaces and digits.
const lineMax = 64

func (f *framer) inMessage() bool { return f.state != frameIdle }

// feed advances over p and reports whether a message started in it.
func (f *framer) feed(p []byte) (started bool) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch f.state {
		case frameIdle:
			if b == '\r' || b == '\n' {
				continue
			}
			f.state, f.crlf, f.lineEnd, f.clen = frameHeader, 0, false, -1
			f.line = f.line[:0]
			started = true
			f.headerByte(b)
		case frameHeader:
			f.headerByte(b)
		case frameBody:
			n := min(int64(len(p)-i), f.body)
			f.body -= n
			i += int(n) - 1
			if f.body == 0 {
				f.done()
			}
		}
	}
	return started
}

func (f *framer) headerByte(b byte) {
	const end = "\r\n\r\n"
	switch {
	case b == end[f.crlf]:
		f.crlf++
	case b == '\r':
		f.crlf = 1
	default:
		f.crlf = 0
	}
	switch f.crlf {
	case 2:
		f.lineEnd = true
		return
	case 4:
		f.field()
		if f.clen > 0 {
			f.state, f.body = frameBody, f.clen
		} else {
			f.done()
		}
		return
	}
	if b == '\r' || b == '\n' {
		return
	}
	if f.lineEnd {
		f.lineEnd = false
		if b == ' ' || b == '\t' {
			b = ' ' // a folded line continues the field (RFC 3261 §7.3.1)
		} else {
			f.field()
			f.line = f.line[:0]
		}
	}
	if len(f.line) < lineMax {
		f.line = append(f.line, b)
	}
}

// field reads the Content-Length of the header field just ended, if it is
// one. It allocates nothing: it runs for every header line over TCP.
func (f *framer) field() {
	name, val, ok := bytes.Cut(f.line, []byte(":"))
	if !ok {
		return
	}
	name = bytes.TrimSpace(name)
	if !bytes.EqualFold(name, []byte("content-length")) && !bytes.EqualFold(name, []byte("l")) {
		return
	}
	val = bytes.TrimSpace(val)
	if len(val) == 0 {
		f.clen = -1
		return
	}
	var n int64
	for _, d := range val {
		if d < '0' || d > '9' || n > 1<<31 {
			f.clen = -1
			return
		}
		n = n*10 + int64(d-'0')
	}
	f.clen = n
}

func (f *framer) done() {
	f.state = frameIdle
	f.messages++
}

// ----------------------------------------------------------------------------
// Requests

// checked wraps a request handler with the checks every request passes
// first (RFC 3261 §8.2): a request failing them gets 505, 400, 416 or 420
// with a reason saying what is wrong, and never reaches h; a failing ACK is
// dropped (an ACK gets no response, §17.2.3). sipgo already answers 400
// to a request without Via or CSeq before any handler (it cannot make a
// transaction), and drops what it cannot parse (counted in
// EdgeStats.ParseErrors).
//
// While h runs (for an INVITE: the whole call), the TCP connection the
// request came on is pinned: its idle timeout does not close it.
func (s *Server) checked(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if code, reason, hdr := checkRequest(req); code != 0 {
			s.edge.badRequests.Add(1)
			s.log.Debug("bad request", "method", req.Method, "code", code, "reason", reason,
				"source", req.Source())
			if req.IsAck() {
				return
			}
			res := s.newResponse(req, code, reason, nil)
			res.SipVersion = "SIP/2.0" // not the request's (sipgo copies it)
			if hdr != nil {
				res.AppendHeader(hdr)
			}
			if err := tx.Respond(res); err != nil {
				s.log.Debug("respond failed", "method", req.Method, "code", code, "error", err)
			}
			return
		}
		if req.SipVersion != "SIP/2.0" {
			// "sip/2.0": accepted (RFC 3261 §7.1), but answered in upper case,
			// and sipgo copies the request's version into its responses.
			req.SipVersion = "SIP/2.0"
		}
		if c := edgeConnOf(tx); c != nil {
			c.pin()
			defer c.unpin()
		}
		h(req, tx)
	}
}

// singleHeaders may appear once in a request (RFC 3261 §20; RFC 4475
// §3.3.8 and §3.3.9).
var singleHeaders = []string{"Call-ID", "From", "To", "CSeq", "Max-Forwards", "Content-Length"}

// checkRequest returns the status, reason phrase and extra header field a
// malformed request gets, or 0.
//
// It does not answer Max-Forwards: 0 with 483: that is a proxy's rule
// (RFC 3261 §16.3); a UAS serves the request (RFC 4475 §3.3.11).
func checkRequest(req *sipmsg.Request) (int, string, sipmsg.Header) {
	// RFC 3261 §7.1: the version is compared case-insensitively; §21.5.7.
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return 505, "Version Not Supported", nil
	}
	// RFC 3261 §8.1.1: the mandatory header fields.
	switch {
	case req.Via() == nil:
		return 400, "Missing Via", nil
	case req.CallID() == nil:
		return 400, "Missing Call-ID", nil
	case req.From() == nil:
		return 400, "Missing From", nil
	case req.To() == nil:
		return 400, "Missing To", nil
	case req.CSeq() == nil:
		return 400, "Missing CSeq", nil
	}
	for _, name := range singleHeaders {
		if len(req.GetHeaders(name)) > 1 {
			return 400, "Multiple " + name, nil
		}
	}
	// RFC 3261 §8.1.1.5: the CSeq method matches the request's, ACK and
	// CANCEL included (§17.1.1.3, §9.1). sipgo upper-cases the request
	// line's method, so compare without case.
	if m := req.CSeq().MethodName; !strings.EqualFold(string(m), string(req.Method)) {
		return 400, "CSeq Method Does Not Match Request", nil
	}
	// RFC 3261 §19.1.1, table 1: no headers component in a Request-URI
	// (RFC 4475 §3.1.2.11 allows refusing it).
	if req.Recipient.Headers.Length() > 0 {
		return 400, "Headers Not Allowed In Request-URI", nil
	}
	// RFC 3261 §8.2.2.1. tel: is served as trunks send it (RFC 3966).
	switch strings.ToLower(req.Recipient.Scheme) {
	case "sip", "sips", "tel":
	default:
		return 416, "Unsupported URI Scheme", nil
	}
	// RFC 3261 §8.2.2.3: an option tag a request requires that we do not
	// support gets 420 with Unsupported. We support session timers (RFC
	// 4028 "timer", sip/timers.go) only. Not for ACK and CANCEL (§9.1).
	if !req.IsAck() && !req.IsCancel() {
		var tags []string
		for _, h := range req.GetHeaders("Require") {
			for _, t := range strings.Split(h.Value(), ",") {
				if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, "timer") {
					tags = append(tags, t)
				}
			}
		}
		if len(tags) > 0 {
			return 420, "Bad Extension", sipmsg.NewHeader("Unsupported", strings.Join(tags, ", "))
		}
	}
	return 0, "", nil
}
