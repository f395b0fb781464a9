package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Overload control at the door: per-source caps on new calls, 503 with Retry-After for
// what is refused, and a drain mode for a graceful stop.

const (
	// defaultRetryAfter is what a 503 tells the caller to wait (RFC 3261 §20.33) when the
	// refusal does not say.
	defaultRetryAfter = 5 * time.Second
	// maxLimiterSources bounds the per-source state: beyond it, sources whose buckets are
	// full again are forgotten, and if none is, new sources are refused (an attacker
	// spraying source addresses cannot grow memory).
	maxLimiterSources = 65536
)

// LimitsConfig caps what one source address may ask of the server. Zero fields are off:
// a carrier's trunk sends every caller from a few addresses, so set them above its peak.
type LimitsConfig struct {
	// CallsPerSource caps the calls in progress that arrived from one source IP; more get
	// 503 with Retry-After.
	CallsPerSource int `mapstructure:"calls_per_source"`
	// InvitesPerSecond caps the rate of new INVITEs from one source IP (a token bucket
	// holding a burst of twice the rate, at least 1); more get 503 with Retry-After.
	InvitesPerSecond float64 `mapstructure:"invites_per_second"`
}

func (c LimitsConfig) validate() error {
	var errs []error
	if c.CallsPerSource < 0 {
		errs = append(errs, fmt.Errorf("limits.calls_per_source %d: must not be negative", c.CallsPerSource))
	}
	if c.InvitesPerSecond < 0 {
		errs = append(errs, fmt.Errorf("limits.invites_per_second %v: must not be negative", c.InvitesPerSecond))
	}
	return errors.Join(errs...)
}

// limiter applies LimitsConfig. Its state is per source IP, bounded.
type limiter struct {
	cfg LimitsConfig
	now func() time.Time

	mu      sync.Mutex
	sources map[netip.Addr]*sourceState

	refusedCalls, refusedRate atomic.Uint64
}

type sourceState struct {
	calls  int
	tokens float64
	at     time.Time // when tokens was last filled
}

func newLimiter(cfg LimitsConfig) *limiter {
	return &limiter{cfg: cfg, now: time.Now, sources: make(map[netip.Addr]*sourceState)}
}

func (l *limiter) enabled() bool { return l.cfg.CallsPerSource > 0 || l.cfg.InvitesPerSecond > 0 }

// admit counts a new call from ip. It returns the function that gives the call's place
// back, or, when refused, how long the caller should wait.
func (l *limiter) admit(ip netip.Addr) (release func(), retry time.Duration, ok bool) {
	if !l.enabled() {
		return func() {}, 0, true
	}
	if ip.Is6() && !ip.Is4In6() { // an IPv6 source is a /64, as at the TCP edges
		ip = netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.sources[ip]
	if st == nil {
		if len(l.sources) >= maxLimiterSources && !l.sweepLocked(now) {
			l.refusedRate.Add(1)
			return nil, defaultRetryAfter, false
		}
		st = &sourceState{tokens: l.burst(), at: now}
		l.sources[ip] = st
	}
	if r := l.cfg.InvitesPerSecond; r > 0 {
		st.tokens = min(l.burst(), st.tokens+now.Sub(st.at).Seconds()*r)
		st.at = now
		if st.tokens < 1 {
			l.refusedRate.Add(1)
			wait := time.Duration((1 - st.tokens) / r * float64(time.Second))
			return nil, max(wait, time.Second), false
		}
	}
	if c := l.cfg.CallsPerSource; c > 0 && st.calls >= c {
		l.refusedCalls.Add(1)
		return nil, defaultRetryAfter, false
	}
	st.tokens--
	st.calls++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			st.calls--
			l.mu.Unlock()
		})
	}, 0, true
}

func (l *limiter) burst() float64 { return max(1, 2*l.cfg.InvitesPerSecond) }

// sweepLocked forgets sources with no call in progress and a full bucket; it reports
// whether any was forgotten.
func (l *limiter) sweepLocked(now time.Time) bool {
	n := len(l.sources)
	for ip, st := range l.sources {
		full := l.cfg.InvitesPerSecond <= 0 || st.tokens+now.Sub(st.at).Seconds()*l.cfg.InvitesPerSecond >= l.burst()
		if st.calls == 0 && full {
			delete(l.sources, ip)
		}
	}
	return len(l.sources) < n
}

// LimitStats counts what the overload controls refused since the server started.
type LimitStats struct {
	RefusedCalls    uint64 // INVITEs refused: their source had CallsPerSource calls up
	RefusedRate     uint64 // INVITEs refused: their source passed InvitesPerSecond
	RefusedDraining uint64 // INVITEs refused while draining
}

// LimitStats returns the overload counters, for metrics.
func (s *Server) LimitStats() LimitStats {
	return LimitStats{
		RefusedCalls:    s.limits.refusedCalls.Load(),
		RefusedRate:     s.limits.refusedRate.Load(),
		RefusedDraining: s.drained.Load(),
	}
}

// Drain stops taking new calls: from now on a new INVITE gets 503 with Retry-After, while
// the calls in progress go on (their in-dialog requests are served as before). Stop the
// server (cancel the Serve* contexts) once they have ended, or a deadline has passed.
func (s *Server) Drain() { s.draining.Store(true) }

// retryAfter is the Retry-After header of a 503 (RFC 3261 §20.33): whole seconds, at
// least 1.
func retryAfter(d time.Duration) sipmsg.Header {
	if d <= 0 {
		d = defaultRetryAfter
	}
	secs := max(1, int((d+time.Second-1)/time.Second))
	return sipmsg.NewHeader("Retry-After", strconv.Itoa(secs))
}
