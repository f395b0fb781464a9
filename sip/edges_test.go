package sip

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// SetEdgeLogHandler sends the log lines of s's edges (sipgo's, rate-limited
// and truncated) to h instead of the default logger's handler. Call it
// before serving.
func SetEdgeLogHandler(s *Server, h slog.Handler) { s.edge.log.sink.Store(&sinkBox{h}) }

// EdgeLogLimits are the rate limit of the edge log: a burst, then lines a
// second; and the longest string attribute kept.
func EdgeLogLimits() (burst, perSecond, attrMax int) { return logBurst, logRate, logAttrMax }

func TestFramer(t *testing.T) {
	t.Parallel()
	const opts = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"
	const withBody = "MESSAGE sip:a@b SIP/2.0\r\nl : 5\r\nContent-Type: text/plain\r\n\r\nhello"
	tests := []struct {
		name     string
		in       string
		inMsg    bool // a message is under way at the end
		messages int
	}{
		{"nothing", "", false, 0},
		{"keep-alives before anything", "\r\n\r\n\r\n", false, 0},
		{"one message", opts, false, 1},
		{"keep-alive between messages", opts + "\r\n\r\n" + opts, false, 2},
		{"start line only", "OPTIONS sip:a@b SIP/2.0\r\n", true, 0},
		{"header cut", opts[:40], true, 0},
		{"header ends, no blank line", strings.TrimSuffix(opts, "\r\n"), true, 0},
		{"compact Content-Length with a body", withBody, false, 1},
		{"body cut", withBody[:len(withBody)-1], true, 0},
		{"body and the next message", withBody + opts, false, 2},
		{"last Content-Length counts", strings.Replace(withBody, "l : 5", "Content-Length: 99\r\nl : 5", 1), false, 1},
		{"folded Content-Length", strings.Replace(withBody, "l : 5", "Content-Length:\r\n  5", 1), false, 1},
		{"lower-case name", strings.Replace(withBody, "l : 5", "content-LENGTH: 5", 1), false, 1},
		{"no Content-Length: no body", "MESSAGE sip:a@b SIP/2.0\r\nX: y\r\n\r\n", false, 1},
		{"unreadable Content-Length: no body", strings.Replace(withBody, "l : 5", "l: -5", 1), true, 1}, // "hello" starts a message
		{"a header named like it", strings.Replace(opts, "Content-Length: 0", "X-Content-Length: 7", 1), false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Whole, then byte by byte: a read is whatever TCP delivers.
			for _, chunk := range []int{len(tc.in) + 1, 1} {
				var f framer
				for i := 0; i < len(tc.in); i += chunk {
					f.feed([]byte(tc.in[i:min(i+chunk, len(tc.in))]))
				}
				if f.inMessage() != tc.inMsg || f.messages != tc.messages {
					t.Errorf("chunk %d: in message %v, messages %d; want %v, %d",
						chunk, f.inMessage(), f.messages, tc.inMsg, tc.messages)
				}
			}
		})
	}
}

func TestFramer_ReportsMessageStart(t *testing.T) {
	t.Parallel()
	var f framer
	if f.feed([]byte("\r\n\r\n")) {
		t.Error("a keep-alive started a message")
	}
	if !f.feed([]byte("OPT")) {
		t.Error("the first byte of a message did not start one")
	}
	if f.feed([]byte("IONS sip:a@b SIP/2.0\r\n")) {
		t.Error("the rest of a message started another")
	}
}

// syncBuffer is a bytes.Buffer safe for a handler and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.b.String()), "\n")
}

func TestEdgeLog_RateLimitAndTruncation(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	var parseErrors atomic.Uint64
	l := newEdgeLog(slog.NewTextHandler(&out, nil), &parseErrors)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	lg := slog.New(&edgeHandler{e: l}).With("caller", strings.Repeat("c", 1000)).WithGroup("g")

	junk := strings.Repeat("J", 35000) // finding 9: a 35 KB datagram
	for range 100 {
		lg.Error(parseErrorMsg, "data", junk, "error", "x")
	}
	lines := out.lines()
	if len(lines) != logBurst {
		t.Fatalf("%d lines in a burst of 100 at one instant, want %d", len(lines), logBurst)
	}
	if got := parseErrors.Load(); got != 100 {
		t.Errorf("parse errors = %d, want 100", got)
	}
	if got := l.suppressedTotal.Load(); got != 100-logBurst {
		t.Errorf("suppressed = %d, want %d", got, 100-logBurst)
	}
	for _, ln := range lines {
		if len(ln) > 3*logAttrMax {
			t.Fatalf("line of %d bytes: %.300s...", len(ln), ln)
		}
		if !strings.Contains(ln, "level=WARN") || !strings.Contains(ln, "truncated, 35000 bytes") ||
			!strings.Contains(ln, "truncated, 1000 bytes") || !strings.Contains(ln, "g.data=") {
			t.Fatalf("line %q: want WARN, both long values cut, the group kept", ln)
		}
	}

	// A second later: logRate lines, the first preceded by the count dropped.
	now = now.Add(time.Second)
	for range 20 {
		lg.Warn("again")
	}
	lines = out.lines()[logBurst:]
	if len(lines) != logRate+1 || !strings.Contains(lines[0], "suppressed=90") {
		t.Fatalf("after a second: %d lines, first %q; want %d with suppressed=90 first", len(lines), lines[0], logRate+1)
	}
	// Debug lines are not limited (they are off unless asked for).
	dbg := slog.New(&edgeHandler{e: newEdgeLog(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}), &parseErrors)})
	before := len(out.lines())
	for range 50 {
		dbg.Debug("detail")
	}
	if got := len(out.lines()) - before; got != 50 {
		t.Errorf("%d debug lines, want 50", got)
	}
}

// Parse errors are counted whatever level the sink logs at.
func TestEdgeLog_CountsParseErrorsWhenQuiet(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	var parseErrors atomic.Uint64
	l := newEdgeLog(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError + 4}), &parseErrors)
	lg := slog.New(&edgeHandler{e: l})
	lg.Error(parseErrorMsg, "data", "junk")
	if parseErrors.Load() != 1 || strings.TrimSpace(out.lines()[0]) != "" {
		t.Fatalf("parse errors %d, output %q", parseErrors.Load(), out.lines())
	}
	if lg.Enabled(context.Background(), slog.LevelWarn) {
		t.Error("Warn enabled above the sink's level")
	}
}

func TestTCPConfig_DefaultsAndValidate(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults().TCP
	if c.ReadTimeout != 10*time.Second || c.IdleTimeout != 2*time.Hour+5*time.Minute || c.MaxConnsPerSource != 64 {
		t.Errorf("defaults %+v", c)
	}
	c = Config{Registrar: RegistrarConfig{MaxExpires: 4 * time.Hour}}.withDefaults().TCP
	if c.IdleTimeout != 4*time.Hour+5*time.Minute {
		t.Errorf("idle timeout %v, want max_expires + 5m", c.IdleTimeout)
	}
	err := Config{TCP: TCPConfig{ReadTimeout: -1, IdleTimeout: -time.Second, MaxConnsPerSource: -2}}.Validate()
	for _, want := range []string{"tcp: read_timeout", "idle_timeout", "max_conns_per_source"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
}

func TestSourceOf(t *testing.T) {
	t.Parallel()
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	tests := []struct {
		a, b net.Addr
		same bool
	}{
		{tcp("192.0.2.1:5060"), tcp("192.0.2.1:40000"), true},
		{tcp("192.0.2.1:5060"), tcp("192.0.2.2:5060"), false},
		{tcp("[::ffff:192.0.2.1]:5060"), tcp("192.0.2.1:1"), true},
		{tcp("[2001:db8:1:2::1]:5060"), tcp("[2001:db8:1:2:ffff::9]:5060"), true}, // one /64
		{tcp("[2001:db8:1:2::1]:5060"), tcp("[2001:db8:1:3::1]:5060"), false},
	}
	for _, tc := range tests {
		if got := sourceOf(tc.a) == sourceOf(tc.b); got != tc.same {
			t.Errorf("sourceOf(%v) == sourceOf(%v): %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

// The framer runs on every TCP read: it allocates nothing once its line
// buffer has grown.
func TestFramer_NoAllocs(t *testing.T) {
	msg := []byte("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Type: application/sdp\r\n" +
		"Content-Length: 4\r\n\r\nv=0\n")
	var f framer
	f.feed(msg)
	if n := testing.AllocsPerRun(100, func() { f.feed(msg) }); n != 0 {
		t.Errorf("%v allocations per message", n)
	}
}
