package sip

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Digest guessing limits (issue #10 finding 4).
//
// Every failed digest check (wrong password, unknown user, another user's
// address of record) is counted three ways: against the source address
// (sourceKey: the IP, or an IPv6 /64), against the user when the username
// is a configured account, and against that user at that source. Failures
// of unknown usernames are counted against the source only, so spraying
// made-up names grows no per-user state. LockoutConfig.Failures failures
// within LockoutConfig.Window lock the key out; attempts are then refused
// unchecked, the right password included, with the same 403 a wrong
// password gets (no oracle), and are not counted themselves (a lock-out
// is logged once, when it starts, not per attempt). Each further lock-out
// of the same key doubles (30 s, 1 min, 2 min, ... up to 15 min by
// default); a key with no failure for MaxDuration after its last lock-out
// ended starts over, which is never faster for a guesser than the capped
// rate.
//
// Which lock-outs apply to an attempt of user U from source S:
//
//   - U at S locked: refused, always.
//   - S locked (any user) or U locked (any source): refused, unless U has
//     authenticated from S within LockoutConfig.Trust.
//
// The exemption is the trade-off: an attacker hammering U from elsewhere,
// or guessing other users from an address an agent shares (an office
// NAT), cannot lock out U's phone from the address it registers from,
// while the pair lock still limits guessing from that address. What it
// leaves: a guesser at the agent's own address (behind the same NAT)
// locks the agent out there too, since the two cannot be told apart; an
// agent whose address changes while U is locked out waits for the
// lock-out to pass. A source is the address the transport saw, and a
// failure is only counted for a nonce issued to that address (digest.go),
// so a UDP sender spoofing the agent's address cannot run up its count.
//
// Memory is bounded: each table holds at most maxLockoutEntries keys and
// forgets the least recently failed when full (an attacker rotating
// through more addresses than that loses its own source counts first,
// and still meets the per-user limit); idle keys are swept. Trusted
// sources are only recorded on success, at most maxTrustedSources per
// account.

const (
	defaultLockoutFailures    = 5
	defaultLockoutWindow      = 10 * time.Minute
	defaultLockoutDuration    = 30 * time.Second
	defaultLockoutMaxDuration = 15 * time.Minute
	defaultLockoutTrust       = 7 * 24 * time.Hour // an agent back after a long weekend still gets in

	maxLockoutEntries = 8192 // keys per table: sources, users, users at sources
	maxTrustedSources = 8    // per user; the one authenticated from least recently is replaced
	lockoutSweepEvery = time.Minute
	maxLockoutStrikes = 32 // beyond this the doubling has long reached the cap
)

// LockoutConfig limits digest password guessing at the registrar. The
// zero value takes the defaults.
type LockoutConfig struct {
	// Failures is how many failed digest checks within Window lock out a
	// source address, a user, or a user at a source. Default 5.
	Failures int `mapstructure:"failures"`
	// Window is the span Failures are counted over. Default 10m.
	Window time.Duration `mapstructure:"window"`
	// Duration is the first lock-out of a key; each further one doubles,
	// up to MaxDuration. Default 30s.
	Duration time.Duration `mapstructure:"duration"`
	// MaxDuration caps a lock-out. A key with no failure for MaxDuration
	// after its last lock-out ended starts again at Duration. Default 15m.
	MaxDuration time.Duration `mapstructure:"max_duration"`
	// Trust is how long an address a user authenticated from stays exempt
	// from that user's and that address's lock-outs (never from the
	// lock-out of that user at that address). Default 168h.
	Trust time.Duration `mapstructure:"trust"`
}

func (c LockoutConfig) withDefaults() LockoutConfig {
	if c.Failures == 0 {
		c.Failures = defaultLockoutFailures
	}
	if c.Window == 0 {
		c.Window = defaultLockoutWindow
	}
	if c.Duration == 0 {
		c.Duration = defaultLockoutDuration
	}
	if c.MaxDuration == 0 {
		c.MaxDuration = max(defaultLockoutMaxDuration, c.Duration)
	}
	if c.Trust == 0 {
		c.Trust = defaultLockoutTrust
	}
	return c
}

func (c LockoutConfig) validate() error {
	var errs []error
	if c.Failures < 1 {
		errs = append(errs, fmt.Errorf("lockout.failures %d: at least 1", c.Failures))
	}
	if c.Window < time.Second {
		errs = append(errs, fmt.Errorf("lockout.window %v: at least 1s", c.Window))
	}
	if c.Duration < time.Second {
		errs = append(errs, fmt.Errorf("lockout.duration %v: at least 1s", c.Duration))
	}
	if c.MaxDuration < c.Duration {
		errs = append(errs, fmt.Errorf("lockout.max_duration %v: at least lockout.duration %v", c.MaxDuration, c.Duration))
	}
	if c.Trust < 0 {
		errs = append(errs, fmt.Errorf("lockout.trust %v: negative", c.Trust))
	}
	return errors.Join(errs...)
}

// AuthStats counts the registrar's digest checks since the server started.
type AuthStats struct {
	Successes uint64 // credentials accepted
	Failures  uint64 // failed checks: wrong password, unknown user, another user's address of record
	LockedOut uint64 // attempts refused unchecked during a lock-out, the right password included
	Lockouts  uint64 // lock-outs started (of a source, a user, or a user at a source)
	Replays   uint64 // right password, nonce-count not above the last one seen (RFC 7616 §3.4)
	NoQOP     uint64 // credentials without qop (RFC 2069), refused
}

// AuthStats returns the registrar's counters, for metrics.
func (s *Server) AuthStats() AuthStats {
	st := &s.reg.stats
	return AuthStats{
		Successes: st.successes.Load(),
		Failures:  st.failures.Load(),
		LockedOut: st.lockedOut.Load(),
		Lockouts:  st.lockouts.Load(),
		Replays:   st.replays.Load(),
		NoQOP:     st.noQOP.Load(),
	}
}

// authStats are AuthStats as they are counted.
type authStats struct {
	successes, failures, lockedOut, lockouts, replays, noQOP atomic.Uint64
}

// lockStart reports lock-outs that one failure started, for the log.
type lockStart struct {
	user   string        // the account, or "" for an unknown username
	source string        // sourceKey
	scopes []string      // "source", "user", "user at source"
	d      time.Duration // the longest of them
}

// tally counts one key's failures.
type tally struct {
	key     string
	fails   int       // failures since first
	first   time.Time // the first failure counted
	until   time.Time // locked out until
	strikes int       // lock-outs so far: the next lasts Duration<<strikes
	elem    *list.Element
}

// decay applies the passing of time: the window and the strikes run out.
func (t *tally) decay(now time.Time, cfg LockoutConfig) {
	if t.fails > 0 && now.Sub(t.first) >= cfg.Window {
		t.fails = 0
	}
	if t.strikes > 0 && !now.Before(t.until.Add(cfg.MaxDuration)) {
		t.strikes = 0
	}
}

// idle reports whether t holds nothing worth keeping.
func (t *tally) idle(now time.Time, cfg LockoutConfig) bool {
	t.decay(now, cfg)
	return t.fails == 0 && t.strikes == 0 && !now.Before(t.until)
}

func (t *tally) locked(now time.Time) bool { return now.Before(t.until) }

// tallies is a bounded table of tallies, least recently failed at the back.
type tallies struct {
	m   map[string]*tally
	lru list.List
}

func (ts *tallies) locked(key string, now time.Time) bool {
	t, ok := ts.m[key]
	return ok && t.locked(now)
}

// fail counts a failure of key and returns the lock-out it started, or 0.
func (ts *tallies) fail(key string, now time.Time, cfg LockoutConfig) time.Duration {
	t, ok := ts.m[key]
	if !ok {
		if len(ts.m) >= maxLockoutEntries {
			ts.remove(ts.lru.Back().Value.(*tally))
		}
		t = &tally{key: key}
		t.elem = ts.lru.PushFront(t)
		ts.m[key] = t
	} else {
		ts.lru.MoveToFront(t.elem)
	}
	t.decay(now, cfg)
	if t.fails == 0 {
		t.first = now
	}
	t.fails++
	if t.fails < cfg.Failures {
		return 0
	}
	d := cfg.MaxDuration
	if t.strikes < maxLockoutStrikes {
		d = min(cfg.Duration<<t.strikes, cfg.MaxDuration)
		if d <= 0 { // overflowed
			d = cfg.MaxDuration
		}
		t.strikes++
	}
	t.fails = 0
	t.until = now.Add(d)
	return d
}

func (ts *tallies) remove(t *tally) {
	ts.lru.Remove(t.elem)
	delete(ts.m, t.key)
}

func (ts *tallies) sweep(now time.Time, cfg LockoutConfig) {
	for _, t := range ts.m {
		if t.idle(now, cfg) {
			ts.remove(t)
		}
	}
}

// lockout applies the limits above. It starts no goroutine: expiry is
// computed from the times it is given, and sweeps run on use.
type lockout struct {
	cfg LockoutConfig

	mu        sync.Mutex
	sources   tallies                         // by sourceKey
	users     tallies                         // by account
	pairs     tallies                         // by account + " " + sourceKey
	trusted   map[string]map[string]time.Time // by account, then sourceKey: exempt until
	lastSweep time.Time
}

func newLockout(cfg LockoutConfig) *lockout {
	l := &lockout{cfg: cfg, trusted: make(map[string]map[string]time.Time)}
	for _, ts := range []*tallies{&l.sources, &l.users, &l.pairs} {
		ts.m = make(map[string]*tally)
	}
	return l
}

func pairKey(user, src string) string { return user + " " + src }

// allowed reports whether user (an account, or "" for an unknown
// username) may be checked from src now.
func (l *lockout) allowed(user, src string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	return l.allowedLocked(user, src, now)
}

// attempt decides a digest check of user (an account, or "") from src
// whose password matched (ok) or not, in one step, so that a burst of
// concurrent guesses gets no more than Failures checks: it is refused
// during a lock-out (and not counted); otherwise a failure is counted and
// the lock-outs it started, if any, are returned.
func (l *lockout) attempt(user, src string, ok bool, now time.Time) (allowed bool, started *lockStart) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	if !l.allowedLocked(user, src, now) {
		return false, nil
	}
	if ok {
		return true, nil
	}
	var ls lockStart
	note := func(scope string, d time.Duration) {
		if d > 0 {
			ls.scopes = append(ls.scopes, scope)
			ls.d = max(ls.d, d)
		}
	}
	note("source", l.sources.fail(src, now, l.cfg))
	if user != "" {
		note("user", l.users.fail(user, now, l.cfg))
		note("user at source", l.pairs.fail(pairKey(user, src), now, l.cfg))
	}
	if len(ls.scopes) == 0 {
		return true, nil
	}
	ls.user, ls.source = user, src
	return true, &ls
}

func (l *lockout) allowedLocked(user, src string, now time.Time) bool {
	if user != "" && l.pairs.locked(pairKey(user, src), now) {
		return false
	}
	if user != "" && now.Before(l.trusted[user][src]) {
		return true
	}
	return !l.sources.locked(src, now) && (user == "" || !l.users.locked(user, now))
}

// succeed records that user authenticated from src: the user at that
// source starts over, and src is trusted for user. The source's and the
// user's own counts stay: they may be someone else's guesses.
func (l *lockout) succeed(user, src string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.pairs.m[pairKey(user, src)]; ok {
		l.pairs.remove(t)
	}
	srcs := l.trusted[user]
	if srcs == nil {
		srcs = make(map[string]time.Time)
		l.trusted[user] = srcs
	}
	if _, ok := srcs[src]; !ok && len(srcs) >= maxTrustedSources {
		var oldest string
		var first time.Time
		for s, until := range srcs {
			if first.IsZero() || until.Before(first) {
				oldest, first = s, until
			}
		}
		delete(srcs, oldest)
	}
	srcs[src] = now.Add(l.cfg.Trust)
}

// sweepLocked forgets idle tallies and lapsed trust, once a minute.
func (l *lockout) sweepLocked(now time.Time) {
	if d := now.Sub(l.lastSweep); d >= 0 && d < lockoutSweepEvery {
		return
	}
	l.lastSweep = now
	l.sources.sweep(now, l.cfg)
	l.users.sweep(now, l.cfg)
	l.pairs.sweep(now, l.cfg)
	for user, srcs := range l.trusted {
		for s, until := range srcs {
			if !now.Before(until) {
				delete(srcs, s)
			}
		}
		if len(srcs) == 0 {
			delete(l.trusted, user)
		}
	}
}
