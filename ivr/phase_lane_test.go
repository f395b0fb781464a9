package ivr

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/queue/store"
)

// enableTestFreeze turns the freeze lane on over a real SQLite file: account A1 is caller
// +200's, A2 has no caller ID.
//
// The lane believes the From caller ID here (freeze.trust_from), as a carrier's asserted
// identity; enableStrictFreeze keeps the default, where From is a claim.
func enableTestFreeze(t *testing.T, e *Engine, cfg FreezeConfig) *store.DB {
	t.Helper()
	cfg.TrustFrom = true
	return enableStrictFreeze(t, e, cfg)
}

// enableStrictFreeze is enableTestFreeze with the default trust: only a trusted trunk's
// asserted identity is believed.
func enableStrictFreeze(t *testing.T, e *Engine, cfg FreezeConfig) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "hotline.db"))
	must(t, err)
	t.Cleanup(func() { db.Close() })
	accs, err := NewAccounts([]Account{{ID: "A1", CallerIDs: []string{"+200"}, Check: "1234"}, {ID: "77"}})
	must(t, err)
	e.EnableFreeze(t.Context(), FreezeLane{Config: cfg, Store: db, Accounts: accs})
	return db
}

// The freeze key in the menu, from a caller ID that names one account: frozen at once,
// without a question; the reference is read back digit by digit, and we hang up.
func TestLane_CallerIDFreezesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		db := enableTestFreeze(t, e, FreezeConfig{Enabled: true})
		p := dial(t.Context(), e, "c1", "+200")
		synctest.Wait()
		p.m.press("9")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		r := p.rec(t, e)
		if r.Outcome != OutcomeFrozen || r.Freeze == nil || r.Freeze.Account != "A1" || len(r.Freeze.Reference) == 0 {
			t.Fatalf("outcome %q freeze %+v", r.Outcome, r.Freeze)
		}
		want := "main " + PromptFreezeDone
		for _, d := range r.Freeze.Reference {
			want += " digit_" + string(d)
		}
		want += " " + PromptFreezeGoodbye
		if got := prompts(r); got != want {
			t.Errorf("prompts = %q, want %q", got, want)
		}
		if got := phases(r); got != "menu lane ending" {
			t.Errorf("phases = %q", got)
		}
		f, err := db.FreezeByReference(context.Background(), r.Freeze.Reference)
		if err != nil || f.Account != "A1" {
			t.Errorf("stored freeze %+v, %v", f, err)
		}
	})
}

// An unknown caller keys the account number, hears it read back, confirms with 1; an
// account that does not exist is refused, asked again, and after three tries the call ends.
func TestLane_KeyedAccountConfirmedOrRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		enableTestFreeze(t, e, FreezeConfig{Enabled: true, KeyTimeout: 5 * time.Second})
		p := dial(t.Context(), e, "c1", "+999")
		synctest.Wait()
		p.m.press("977#")
		time.Sleep(5 * time.Second)
		if got := prompts(p.rec(t, e)); !strings.HasSuffix(got, "freeze_you_entered digit_7 digit_7 freeze_confirm") {
			t.Errorf("read-back: %q", got)
		}
		p.m.press("1")
		time.Sleep(20 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		if r := p.rec(t, e); r.Outcome != OutcomeFrozen || r.Freeze.Account != "77" {
			t.Errorf("outcome %q freeze %+v", r.Outcome, r.Freeze)
		}

		q := dial(t.Context(), e, "c2", "+999")
		synctest.Wait()
		q.m.press("9")
		for range 3 {
			q.m.press("5#1")
			time.Sleep(5 * time.Second)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		must(t, q.ended(t))
		r := q.rec(t, e)
		if r.Outcome != OutcomeFreezeRefused || r.Freeze.Refused != "unknown-account" {
			t.Errorf("outcome %q freeze %+v", r.Outcome, r.Freeze)
		}
		if n := strings.Count(prompts(r), PromptFreezeUnknown); n != 3 {
			t.Errorf("heard %q %d times, want 3: %s", PromptFreezeUnknown, n, prompts(r))
		}
	})
}

// With check digits, a wrong check is refused and nothing is frozen; silence at the
// check ends the call too.
func TestLane_CheckDigits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		db := enableTestFreeze(t, e, FreezeConfig{Enabled: true, CheckDigits: 4, KeyTimeout: 5 * time.Second})
		p := dial(t.Context(), e, "c1", "+200")
		synctest.Wait()
		p.m.press("90000")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		if r := p.rec(t, e); r.Outcome != OutcomeFreezeRefused || r.Freeze.Refused != "wrong-check" {
			t.Errorf("wrong check: outcome %q freeze %+v", r.Outcome, r.Freeze)
		}
		if fs, _ := db.ListFreezes(context.Background(), 10); len(fs) != 0 {
			t.Errorf("frozen despite a wrong check: %+v", fs)
		}

		q := dial(t.Context(), e, "c2", "+200")
		synctest.Wait()
		q.m.press("91234")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		must(t, q.ended(t))
		if r := q.rec(t, e); r.Outcome != OutcomeFrozen {
			t.Errorf("right check: outcome %q freeze %+v", r.Outcome, r.Freeze)
		}

		s := dial(t.Context(), e, "c3", "+200")
		synctest.Wait()
		s.m.press("9")
		time.Sleep(time.Minute)
		synctest.Wait()
		must(t, s.ended(t))
		if r := s.rec(t, e); r.Outcome != OutcomeFreezeRefused || r.Freeze.Refused != "no-check" {
			t.Errorf("silence: outcome %q freeze %+v", r.Outcome, r.Freeze)
		}
	})
}

// The caller hangs up the moment the freeze is asked for: it is still recorded.
func TestLane_HangupDuringFreezeStillFreezes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		db := enableTestFreeze(t, e, FreezeConfig{Enabled: true})
		p := dial(t.Context(), e, "c1", "+200")
		synctest.Wait()
		p.m.digits <- mediaDigit('9', "rfc4733", time.Now())
		p.leg.farHangup()
		synctest.Wait()
		p.ended(t)
		if fs, _ := db.ListFreezes(context.Background(), 10); len(fs) != 1 || fs[0].Account != "A1" {
			t.Errorf("freezes %+v, want A1 frozen", fs)
		}
	})
}

// The pure dialogue, case by case.
func TestLane_Dialogue(t *testing.T) {
	t.Parallel()
	l := newLane(0, 0)
	if l.timeout != 8*time.Second {
		t.Errorf("default timeout %v", l.timeout)
	}
	a := l.start("")
	if a.Play[0] != PromptFreezeAskAccount || a.Timer == 0 {
		t.Errorf("start without caller ID: %+v", a)
	}
	if a := l.digit('#'); a.Play[0] != PromptFreezeAskAccount {
		t.Errorf("# with nothing entered asks again: %+v", a)
	}
	l.digit('*') // ignored
	l.digit('4')
	if a := l.timedOut(); a.Play[0] != PromptFreezeYouEntered {
		t.Errorf("a pause after digits ends the entry: %+v", a)
	}
	if a := l.digit('2'); a.Play[0] != PromptFreezeAskAccount || l.tries != 1 {
		t.Errorf("2 at confirm asks again: %+v tries %d", a, l.tries)
	}
	if a := l.timedOut(); l.tries != 2 || !a.Stop {
		t.Errorf("silence at the account: %+v", a)
	}
	if a := l.timedOut(); a.Hangup != OutcomeFreezeRefused {
		t.Errorf("third silence ends: %+v", a)
	}

	l = newLane(0, time.Second)
	l.offerAgent = true
	l.start("A1")
	a = l.frozen("42", "", false)
	if l.state != laneOffer || a.Play[len(a.Play)-1] != PromptFreezeOfferAgent {
		t.Errorf("offer after freeze: %+v", a)
	}
	if a := l.digit('5'); a.Enqueue {
		t.Error("5 is not 1")
	}
	if a := l.digit('1'); !a.Enqueue {
		t.Errorf("1 takes the offer: %+v", a)
	}
	l = newLane(0, time.Second)
	l.offerAgent = true
	l.start("A1")
	l.frozen("42", "", false)
	if a := l.timedOut(); a.Hangup != OutcomeFrozen {
		t.Errorf("no answer to the offer: %+v", a)
	}
	if a := newLane(0, 0).frozen("", "rate-limit-caller", false); a.Hangup != OutcomeFreezeRefused || a.Audit != "rate-limit-caller" {
		t.Errorf("refused: %+v", a)
	}
	if a := newLane(0, 0).frozen("", "", true); a.Hangup != OutcomeFreezeFailed {
		t.Errorf("failed: %+v", a)
	}
	l = newLane(0, 0)
	l.start("")
	for range 21 {
		l.digit('3')
	}
	if l.state != laneConfirm {
		t.Errorf("21 digits end the entry: state %v", l.state)
	}
}
