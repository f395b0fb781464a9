package sip

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	t0 := time.Unix(1e9, 0)
	now := t0
	l := newLimiter(LimitsConfig{CallsPerSource: 2, InvitesPerSecond: 1})
	l.now = func() time.Time { return now }

	// A burst of 2 (twice the rate), then one a second.
	r1, _, ok1 := l.admit(a)
	r2, _, ok2 := l.admit(a)
	if !ok1 || !ok2 {
		t.Fatal("the burst was refused")
	}
	if _, wait, ok := l.admit(a); ok || wait < time.Second {
		t.Fatalf("third INVITE in the same instant: ok %v, retry %v; want refused, retry >= 1s", ok, wait)
	}
	if _, _, ok := l.admit(b); !ok {
		t.Fatal("another source shares the first one's limits")
	}
	now = t0.Add(1500 * time.Millisecond) // a token again, but two calls are up
	if _, wait, ok := l.admit(a); ok || wait != defaultRetryAfter {
		t.Fatalf("over calls_per_source: ok %v, retry %v", ok, wait)
	}
	r1()
	r1() // twice is once
	if _, _, ok := l.admit(a); !ok {
		t.Fatal("a freed place was not given")
	}
	r2()
	if l.refusedRate.Load() != 1 || l.refusedCalls.Load() != 1 {
		t.Errorf("refused: rate %d, calls %d; want 1 and 1", l.refusedRate.Load(), l.refusedCalls.Load())
	}
	if off := newLimiter(LimitsConfig{}); off.enabled() {
		t.Error("zero config is not off")
	}
}

// Spraying source addresses cannot grow the limiter past its bound: sources with nothing
// up and a full bucket are forgotten to make room.
func TestLimiter_Bounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	l := newLimiter(LimitsConfig{InvitesPerSecond: 100})
	l.now = func() time.Time { return now }
	for i := range maxLimiterSources + 10 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		release, _, ok := l.admit(ip)
		if !ok {
			t.Fatalf("source %d refused", i)
		}
		release()
		if i%1000 == 0 {
			now = now.Add(time.Second) // buckets refill: earlier sources are forgettable
		}
	}
	if n := len(l.sources); n > maxLimiterSources {
		t.Errorf("%d sources kept, bound %d", n, maxLimiterSources)
	}
}

// An IPv6 source is counted per /64: rotating the interface identifier does not reset it.
func TestLimiter_IPv6Per64(t *testing.T) {
	t.Parallel()
	l := newLimiter(LimitsConfig{CallsPerSource: 1})
	if _, _, ok := l.admit(netip.MustParseAddr("2001:db8:1:2::1")); !ok {
		t.Fatal("first call refused")
	}
	if _, _, ok := l.admit(netip.MustParseAddr("2001:db8:1:2::ffff")); ok {
		t.Error("a second address in the same /64 was not counted with the first")
	}
	if _, _, ok := l.admit(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
		t.Error("another /64 shares the first one's limit")
	}
}
