package sip

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var lockT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func testLockout() *lockout { return newLockout(LockoutConfig{}.withDefaults()) }

// fail is one failed attempt of user at src.
func (l *lockout) fail(user, src string, now time.Time) *lockStart {
	_, ls := l.attempt(user, src, false, now)
	return ls
}

// failN makes n failed attempts of user at src and returns the last
// lock-out started, or nil.
func failN(l *lockout, user, src string, n int, now time.Time) *lockStart {
	var last *lockStart
	for range n {
		if ls := l.fail(user, src, now); ls != nil {
			last = ls
		}
	}
	return last
}

func TestLockout_GrowsAndCaps(t *testing.T) {
	t.Parallel()
	l := testLockout()
	now := lockT0
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
		8 * time.Minute, 15 * time.Minute, 15 * time.Minute}
	for i, d := range want {
		if ls := failN(l, "1001", "192.0.2.1", 4, now); ls != nil {
			t.Fatalf("lock-out %d: started after 4 failures", i)
		}
		ls := l.fail("1001", "192.0.2.1", now)
		if ls == nil || ls.d != d {
			t.Fatalf("lock-out %d: %+v, want %v", i, ls, d)
		}
		if want := []string{"source", "user", "user at source"}; !slices.Equal(ls.scopes, want) {
			t.Errorf("lock-out %d: scopes %q, want %q", i, ls.scopes, want)
		}
		if l.allowed("1001", "192.0.2.1", now.Add(d-time.Nanosecond)) {
			t.Fatalf("lock-out %d: allowed before it ends", i)
		}
		now = now.Add(d)
		if !l.allowed("1001", "192.0.2.1", now) {
			t.Fatalf("lock-out %d: refused after it ends", i)
		}
	}
}

func TestLockout_Decay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, l *lockout)
	}{
		{"failures spread beyond the window never lock", func(t *testing.T, l *lockout) {
			now := lockT0
			for range 10 {
				if ls := failN(l, "1001", "192.0.2.1", 4, now); ls != nil {
					t.Fatalf("lock-out %+v after 4 failures a window", ls)
				}
				now = now.Add(l.cfg.Window)
			}
		}},
		{"a quiet key starts over", func(t *testing.T, l *lockout) {
			ls := failN(l, "1001", "192.0.2.1", 5, lockT0)
			ls = failN(l, "1001", "192.0.2.1", 5, lockT0.Add(ls.d)) // the second: 1m
			if ls == nil || ls.d != time.Minute {
				t.Fatalf("second lock-out %+v, want 1m", ls)
			}
			quiet := lockT0.Add(30*time.Second + time.Minute + l.cfg.MaxDuration)
			if ls := failN(l, "1001", "192.0.2.1", 5, quiet); ls == nil || ls.d != 30*time.Second {
				t.Fatalf("after a quiet %v: %+v, want 30s", l.cfg.MaxDuration, ls)
			}
		}},
		{"not quiet long enough keeps doubling", func(t *testing.T, l *lockout) {
			ls := failN(l, "1001", "192.0.2.1", 5, lockT0)
			next := lockT0.Add(ls.d + l.cfg.MaxDuration - time.Second)
			if ls := failN(l, "1001", "192.0.2.1", 5, next); ls == nil || ls.d != time.Minute {
				t.Fatalf("second lock-out %+v, want 1m", ls)
			}
		}},
		{"attempts during a lock-out are not counted", func(t *testing.T, l *lockout) {
			ls := failN(l, "1001", "192.0.2.1", 5, lockT0)
			for _, ok := range []bool{false, true} {
				if allowed, started := l.attempt("1001", "192.0.2.1", ok, lockT0); allowed || started != nil {
					t.Fatalf("attempt (password right: %v) during the lock-out: allowed %v, started %+v", ok, allowed, started)
				}
			}
			failN(l, "1001", "192.0.2.1", 300, lockT0)
			// The next failure after the lock-out is the first of a new count.
			if ls := failN(l, "1001", "192.0.2.1", 4, lockT0.Add(ls.d)); ls != nil {
				t.Fatalf("lock-out %+v after 4 failures", ls)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, testLockout())
		})
	}
}

// TestLockout_Scopes checks which lock-outs apply after 1001 failed five
// times at 192.0.2.1, with 1001 trusted at 198.51.100.7 and 1002 trusted
// at 192.0.2.1.
func TestLockout_Scopes(t *testing.T) {
	t.Parallel()
	const attacker, office = "192.0.2.1", "198.51.100.7"
	tests := []struct {
		name     string
		user     string
		src      string
		allowed  bool
		unlocked bool // after the lock-out: allowed
	}{
		{"the user at the source, though trusted there", "1001", attacker, false, true},
		{"the user from another source", "1001", "203.0.113.9", false, true},
		{"the user from a trusted source", "1001", office, true, true},
		{"another user from the source", "1003", attacker, false, true},
		{"another user trusted at the source", "1002", attacker, true, true},
		{"an unknown user from the source", "", attacker, false, true},
		{"an unknown user from elsewhere", "", office, true, true},
		{"another user from elsewhere", "1003", "203.0.113.9", true, true},
	}
	l := testLockout()
	l.succeed("1001", office, lockT0)
	l.succeed("1001", attacker, lockT0) // trusted there too: the pair lock still applies
	l.succeed("1002", attacker, lockT0)
	ls := failN(l, "1001", attacker, 5, lockT0)
	if ls == nil {
		t.Fatal("no lock-out after 5 failures")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := l.allowed(tc.user, tc.src, lockT0); got != tc.allowed {
				t.Errorf("during the lock-out: allowed = %v, want %v", got, tc.allowed)
			}
			if got := l.allowed(tc.user, tc.src, lockT0.Add(ls.d)); got != tc.unlocked {
				t.Errorf("after the lock-out: allowed = %v, want %v", got, tc.unlocked)
			}
		})
	}
}

func TestLockout_ConcurrentBurst(t *testing.T) {
	t.Parallel()
	l := testLockout()
	var wg sync.WaitGroup
	var checked atomic.Int32
	for range 300 {
		wg.Go(func() {
			if allowed, _ := l.attempt("1001", "192.0.2.1", false, lockT0); allowed {
				checked.Add(1)
			}
		})
	}
	wg.Wait()
	if n := checked.Load(); n != int32(l.cfg.Failures) {
		t.Errorf("%d of 300 concurrent guesses checked, want %d", n, l.cfg.Failures)
	}
}

func TestLockout_UnknownUsersCountPerSourceOnly(t *testing.T) {
	t.Parallel()
	l := testLockout()
	ls := failN(l, "", "192.0.2.1", 5, lockT0)
	if ls == nil || !slices.Equal(ls.scopes, []string{"source"}) {
		t.Fatalf("lock-out %+v, want the source's", ls)
	}
	if len(l.users.m) != 0 || len(l.pairs.m) != 0 {
		t.Errorf("%d users, %d pairs tallied for unknown usernames", len(l.users.m), len(l.pairs.m))
	}
}

func TestLockout_SuccessForgetsThePairOnly(t *testing.T) {
	t.Parallel()
	l := testLockout()
	failN(l, "1001", "192.0.2.1", 4, lockT0)
	l.succeed("1001", "192.0.2.1", lockT0)
	// One more: the source and the user reach 5, the pair starts over.
	ls := l.fail("1001", "192.0.2.1", lockT0)
	if ls == nil || !slices.Equal(ls.scopes, []string{"source", "user"}) {
		t.Fatalf("lock-out %+v, want the source's and the user's", ls)
	}
	if !l.allowed("1001", "192.0.2.1", lockT0) {
		t.Error("the user refused at the source it just authenticated from")
	}
	if l.allowed("1001", "203.0.113.9", lockT0) || l.allowed("1003", "192.0.2.1", lockT0) {
		t.Error("the user's or the source's lock-out not applied elsewhere")
	}
}

func TestLockout_Bounded(t *testing.T) {
	t.Parallel()
	l := testLockout()
	now := lockT0
	for i := range 3 * maxLockoutEntries {
		src := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		l.fail(fmt.Sprintf("u%d", i), src, now) // one failure each: nothing locks, every table grows
		l.fail("", src, now)
		l.succeed("1002", src, now)
	}
	for name, ts := range map[string]*tallies{"sources": &l.sources, "users": &l.users, "pairs": &l.pairs} {
		if len(ts.m) != maxLockoutEntries || ts.lru.Len() != len(ts.m) {
			t.Errorf("%s: %d keys, %d in the LRU list; cap %d", name, len(ts.m), ts.lru.Len(), maxLockoutEntries)
		}
	}
	if n := len(l.trusted["1002"]); n != maxTrustedSources {
		t.Errorf("%d trusted sources, want %d", n, maxTrustedSources)
	}
	// The most recently failed stay: the last source is still counted.
	last := fmt.Sprintf("10.%d.%d.%d", (3*maxLockoutEntries-1)>>16&255, (3*maxLockoutEntries-1)>>8&255, (3*maxLockoutEntries-1)&255)
	if l.sources.m[last] == nil {
		t.Errorf("source %s evicted", last)
	}

	// Idle keys and lapsed trust are swept.
	l.allowed("1001", "192.0.2.1", now.Add(l.cfg.Trust))
	if n := len(l.sources.m) + len(l.users.m) + len(l.pairs.m) + len(l.trusted); n != 0 {
		t.Errorf("%d entries left after the sweep", n)
	}
}

func TestSourceKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"192.0.2.1:5060", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:5060", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:5060", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:5062", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:5060", "fe80::/64"},
		{"example.com:5060", "example.com"},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := sourceKey(tc.in); got != tc.want {
				t.Errorf("sourceKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLockoutConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  LockoutConfig
		want string // a substring of the error, "" for none
	}{
		{"zero takes the defaults", LockoutConfig{}, ""},
		{"negative failures", LockoutConfig{Failures: -1}, "lockout.failures"},
		{"sub-second window", LockoutConfig{Window: time.Millisecond}, "lockout.window"},
		{"cap below the first", LockoutConfig{Duration: time.Hour, MaxDuration: time.Minute}, "lockout.max_duration"},
		{"first above the default cap", LockoutConfig{Duration: time.Hour}, ""},
		{"negative trust", LockoutConfig{Trust: -time.Hour}, "lockout.trust"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := RegistrarConfig{Lockout: tc.cfg}.withDefaults().validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("validate: %v, want an error about %s", err, tc.want)
			}
		})
	}
	if d := (LockoutConfig{}).withDefaults(); d != (LockoutConfig{Failures: 5, Window: 10 * time.Minute,
		Duration: 30 * time.Second, MaxDuration: 15 * time.Minute, Trust: 7 * 24 * time.Hour}) {
		t.Errorf("defaults = %+v", d)
	}
}
