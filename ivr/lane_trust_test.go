package ivr

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/queue/store"
)

// freezeCall dials from caller (record set up by with), presses the freeze key and the
// keys after it, and returns the finished record.
func freezeCall(t *testing.T, e *Engine, id, caller string, with func(*CallRecord), keys string) *CallRecord {
	t.Helper()
	p := dialWith(t.Context(), e, id, caller, with)
	synctest.Wait()
	p.m.press("9" + keys)
	time.Sleep(time.Minute)
	synctest.Wait()
	must(t, p.ended(t))
	return p.rec(t, e)
}

func from(source string) func(*CallRecord) {
	return func(r *CallRecord) { r.Source = source }
}

// Issue 10 finding 6: a spoofed From naming an account's caller ID does not freeze it; the
// caller must give the account's check digits, which a spoofer does not have. The same
// number asserted by a trusted trunk freezes at once.
func TestLane_SpoofedCallerIDNeedsTheCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		db := enableStrictFreeze(t, e, FreezeConfig{Enabled: true, KeyTimeout: 5 * time.Second})

		r := freezeCall(t, e, "spoof", "+200", from("192.0.2.7:5060"), "")
		if r.Outcome != OutcomeFreezeRefused || r.Freeze.Refused != "no-check" ||
			!strings.Contains(prompts(r), PromptFreezeAskCheck) {
			t.Errorf("spoofed From: outcome %q freeze %+v prompts %q; want the check asked and nothing frozen", r.Outcome, r.Freeze, prompts(r))
		}
		r = freezeCall(t, e, "guess", "+200", from("192.0.2.7:5060"), "0000")
		if r.Outcome != OutcomeFreezeRefused || r.Freeze.Refused != "wrong-check" {
			t.Errorf("wrong check: outcome %q freeze %+v", r.Outcome, r.Freeze)
		}
		if fs, _ := db.ListFreezes(context.Background(), 10); len(fs) != 0 {
			t.Fatalf("frozen by a spoofed caller ID: %+v", fs)
		}
		r = freezeCall(t, e, "owner", "+200", from("192.0.2.8:5060"), "1234")
		if r.Outcome != OutcomeFrozen {
			t.Errorf("the owner with the check: outcome %q freeze %+v", r.Outcome, r.Freeze)
		}
		r = freezeCall(t, e, "carrier", "anonymous", trusted("+200"), "")
		if r.Outcome != OutcomeFrozen || strings.Contains(prompts(r), PromptFreezeAskCheck) {
			t.Errorf("trusted identity: outcome %q prompts %q; want frozen without a check", r.Outcome, prompts(r))
		}
	})
}

// Per-source limits: one address spraying caller IDs (the finding's u1..u320) is refused
// after rate_limit.per_source attempts, whatever From says; a trunk's calls are not counted
// by source (the carrier's address carries everyone).
func TestLane_PerSourceLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		db := enableStrictFreeze(t, e, FreezeConfig{Enabled: true, KeyTimeout: 5 * time.Second,
			RateLimit: FreezeRateLimit{PerSource: 3}})
		for i := range 3 {
			r := freezeCall(t, e, fmt.Sprint("u", i), fmt.Sprint("u", i), from(fmt.Sprintf("192.0.2.7:%d", 5060+i)), "")
			if r.Freeze.Refused == "rate-limit-source" {
				t.Fatalf("attempt %d refused by the source limit already", i)
			}
		}
		r := freezeCall(t, e, "u3", "+200", from("192.0.2.7:5999"), "1234")
		if r.Outcome != OutcomeFreezeRefused || r.Freeze.Refused != "rate-limit-source" ||
			strings.Contains(prompts(r), PromptFreezeAskCheck) {
			t.Errorf("fourth attempt from one address: outcome %q freeze %+v prompts %q", r.Outcome, r.Freeze, prompts(r))
		}
		r = freezeCall(t, e, "elsewhere", "+200", from("192.0.2.9:5060"), "1234")
		if r.Outcome != OutcomeFrozen {
			t.Errorf("another address: outcome %q freeze %+v", r.Outcome, r.Freeze)
		}
		for i := range 4 {
			r = freezeCall(t, e, fmt.Sprint("t", i), "anonymous", func(r *CallRecord) {
				trusted("+200")(r)
				r.Source = "203.0.113.5:5060"
			}, "")
			if r.Freeze.Refused == "rate-limit-source" {
				t.Fatalf("trunk call %d refused by the source limit", i)
			}
		}
		ctx := context.Background()
		if n, _ := db.CountAudit(ctx, store.AuditFilter{Kind: auditKindAttempt, Source: "192.0.2.7"}); n != 3 {
			t.Errorf("%d attempts counted for 192.0.2.7, want 3", n)
		}
		if a, _ := db.ListAudit(ctx, store.AuditFilter{Kind: "freeze", Source: "192.0.2.7", Outcome: "refused"}); len(a) != 1 ||
			a[0].Reason != "rate-limit-source" || a[0].Caller != "+200" {
			t.Errorf("refusals audited for 192.0.2.7: %+v, want the one over the limit", a)
		}
	})
}

// The review's bypass of finding 6: through a trunk (no per-source limit) with a new From
// on every call, a guesser gets per_account attempts at an account's check digits; after
// that the lane refuses before asking for the check, so the right digits are never
// compared (no oracle), while the owner calling through a trusted trunk still freezes.
func TestLane_CheckDigitGuessingStopsAtTheAccountLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		db := enableStrictFreeze(t, e, FreezeConfig{Enabled: true, KeyTimeout: 5 * time.Second,
			RateLimit: FreezeRateLimit{PerAccount: 3}})
		viaUntrustedTrunk := func(r *CallRecord) { r.Trunk, r.Source = "carrier", "203.0.113.5:5060" }
		for i := range 3 {
			r := freezeCall(t, e, fmt.Sprint("g", i), "+200", viaUntrustedTrunk, fmt.Sprintf("%04d", i))
			if r.Freeze.Refused != "wrong-check" {
				t.Fatalf("guess %d: freeze %+v, want wrong-check", i, r.Freeze)
			}
		}
		r := freezeCall(t, e, "right", "+200", viaUntrustedTrunk, "1234")
		if r.Outcome != OutcomeFreezeRefused || r.Freeze.Refused != "rate-limit-account" ||
			strings.Contains(prompts(r), PromptFreezeAskCheck) {
			t.Errorf("the right digits after the limit: outcome %q freeze %+v prompts %q; want refused before the check",
				r.Outcome, r.Freeze, prompts(r))
		}
		if fs, _ := db.ListFreezes(context.Background(), 10); len(fs) != 0 {
			t.Fatalf("frozen by a guesser: %+v", fs)
		}
		r = freezeCall(t, e, "owner", "anonymous", trusted("+200"), "")
		if r.Outcome != OutcomeFrozen {
			t.Errorf("the owner through a trusted trunk: outcome %q freeze %+v", r.Outcome, r.Freeze)
		}
	})
}

// The check is the last digits of the account's stored check: an ID stored whole works
// with "the last four digits", and a shorter check never matches.
func TestFreezer_CheckMatchesTheLastDigits(t *testing.T) {
	t.Parallel()
	accs, err := NewAccounts([]Account{{ID: "whole", Check: "110105199001011234"}, {ID: "short", Check: "12"}, {ID: "none"}})
	must(t, err)
	f := &freezer{lane: FreezeLane{Accounts: accs}}
	for _, tc := range []struct {
		account, digits string
		want            bool
	}{
		{"whole", "1234", true}, {"whole", "0000", false}, {"whole", "110105199001011234", true},
		{"short", "0012", false}, {"short", "12", true}, {"none", "1234", false}, {"whole", "", false},
	} {
		if got := f.checkMatches(tc.account, tc.digits); got != tc.want {
			t.Errorf("checkMatches(%s, %q) = %v, want %v", tc.account, tc.digits, got, tc.want)
		}
	}
	if n := accs.ShortChecks(4); n != 2 {
		t.Errorf("ShortChecks(4) = %d, want 2", n)
	}
}
