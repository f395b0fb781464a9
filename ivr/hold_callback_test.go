package ivr

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/queue/store"
)

// viaTrunk makes support's callbacks go out through a carrier trunk, dialling Chinese
// mobile numbers only (keyed in national form, or asserted in E.164 form).
func viaTrunk(qs map[string]QueueConfig) {
	c := qs["support"]
	c.CallbackTrunk = "carrier"
	c.Callback.Allow = []string{`/1[3-9][0-9]{9}/`, "+861"}
	qs["support"] = c
}

// trusted marks the call's identity as vouched for by a trusted trunk.
func trusted(number string) func(*CallRecord) {
	return func(r *CallRecord) {
		r.Asserted, r.Trusted, r.Trunk = &Party{User: number}, true, "carrier"
	}
}

// askCallback puts the caller on hold in support and accepts the callback offer (# asks
// for it in the test queue, 1 accepts).
func askCallback(t *testing.T, p *phone) {
	t.Helper()
	synctest.Wait()
	p.m.press("4")
	time.Sleep(2 * time.Second)
	p.m.press("#1")
	synctest.Wait()
}

func audits(t *testing.T, st *testStore, kind string) []store.AuditRecord {
	t.Helper()
	rs, err := st.ListAudit(context.Background(), store.AuditFilter{Kind: kind})
	must(t, err)
	return rs
}

// Issue 10 finding 1, at the engine: a caller whose identity no trusted trunk vouched for
// (the finding's forged P-Asserted-Identity never reaches the engine: sip drops it) is not
// called back at the number they claim; they key in the number, which must pass the plan.
func TestHoldCallback_UntrustedCallerKeysTheNumber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, viaTrunk)
		p := dial(t.Context(), e, "c1", "+19005550199")
		askCallback(t, p)
		if !strings.HasSuffix(prompts(p.rec(t, e)), "queue/en/callback_enter_number") {
			t.Fatalf("prompts %q: want the caller asked for a number", prompts(p.rec(t, e)))
		}
		p.m.press("13800138001#")
		synctest.Wait()
		if got := prompts(p.rec(t, e)); !strings.HasSuffix(got, "queue/en/callback_you_entered numbers/en/1 numbers/en/3 numbers/en/8 "+
			"numbers/en/0 numbers/en/0 numbers/en/1 numbers/en/3 numbers/en/8 numbers/en/0 numbers/en/0 numbers/en/1 queue/en/callback_confirm_number") {
			t.Fatalf("prompts %q: want the number read back and the confirmation asked", got)
		}
		p.m.press("2") // a typo: again
		synctest.Wait()
		p.m.press("13800138000#")
		synctest.Wait()
		p.m.press("1")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		r := p.rec(t, e)
		if r.Outcome != OutcomeCallback || r.Queue.Callback != "1" {
			t.Fatalf("outcome %q queue %+v, want the callback kept", r.Outcome, r.Queue)
		}
		if cb := q.st.callback(1); cb.CallerNumber != "13800138000" {
			t.Errorf("stored number %q, want the keyed 13800138000, never the claimed one", cb.CallerNumber)
		}
	})
}

// A keyed premium number is refused: said to the caller, audited, and the caller keeps
// waiting in their place (music again, still in the queue, nothing stored).
func TestHoldCallback_KeyedPremiumNumberRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, viaTrunk)
		p := dial(t.Context(), e, "c1", "anonymous")
		askCallback(t, p)
		p.m.press("09001234567#")
		synctest.Wait()
		p.m.press("1")
		synctest.Wait()
		r := p.rec(t, e)
		if !strings.HasSuffix(prompts(r), "queue/en/callback_refused") || r.Queue.CallbackRefused != refusedDenied {
			t.Fatalf("prompts %q, refused %q: want the refusal said, reason denied", prompts(r), r.Queue.CallbackRefused)
		}
		time.Sleep(6 * time.Second) // the refusal plays out
		synctest.Wait()
		if p.m.looping() != promptMusic {
			t.Errorf("after the refusal the caller hears %q, want the music", p.m.looping())
		}
		if sn, _ := q.d.snapshot(); sn[1].Name != "support" || sn[1].OnLine != 1 || sn[1].Callbacks != 0 {
			t.Errorf("queue %+v: want the caller still waiting, no callback", sn[1])
		}
		if a := audits(t, q.st, "callback"); len(a) != 1 || a[0].Caller != "09001234567" || a[0].Outcome != "refused" ||
			!strings.HasPrefix(a[0].Reason, refusedDenied) {
			t.Errorf("audit %+v, want one refused callback for 09001234567", a)
		}
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
	})
}

// A trusted identity is called back without asking, if the plan allows it; the finding's
// premium number is refused even when a trusted trunk asserted it.
func TestHoldCallback_TrustedIdentity(t *testing.T) {
	tests := []struct {
		name, number string
		kept         bool
	}{
		{"mobile", "+8613800138000", true},
		{"premium", "+19005550199", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newTestEngine(t)
				q := enableTestQueues(t, e, nil, viaTrunk)
				p := dialWith(t.Context(), e, "c1", "anonymous", trusted(tc.number))
				askCallback(t, p)
				r := p.rec(t, e)
				if strings.Contains(prompts(r), promptCallbackEnterNumber) {
					t.Errorf("prompts %q: a trusted caller is not asked for a number", prompts(r))
				}
				if !tc.kept {
					if r.Queue.CallbackRefused != refusedDenied {
						t.Errorf("refused %q, want denied", r.Queue.CallbackRefused)
					}
					p.leg.farHangup()
					synctest.Wait()
					must(t, p.ended(t))
					return
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				must(t, p.ended(t))
				if cb := q.st.callback(1); cb.CallerNumber != tc.number {
					t.Errorf("stored %q, want %q", cb.CallerNumber, tc.number)
				}
			})
		})
	}
}

// The per-number cap: a second callback for one number within the day is refused.
func TestHoldCallback_PerNumberCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, func(qs map[string]QueueConfig) {
			c := qs["support"]
			c.Callback.MaxPerNumber = 1
			c.Callback.InitialDelay = time.Hour // nobody is dialled during the test
			qs["support"] = c
		})
		first := dial(t.Context(), e, "c1", "+100")
		askCallback(t, first)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		must(t, first.ended(t))
		again := dial(t.Context(), e, "c2", "+100")
		askCallback(t, again)
		r := again.rec(t, e)
		if r.Queue.CallbackRefused != refusedLimit || !strings.HasSuffix(prompts(r), "queue/en/callback_refused") {
			t.Errorf("second callback: refused %q, prompts %q; want the limit said", r.Queue.CallbackRefused, prompts(r))
		}
		if cbs, _ := q.st.ListCallbacks(context.Background(), store.CallbackFilter{}); len(cbs) != 1 {
			t.Errorf("%d callbacks stored, want 1", len(cbs))
		}
		again.leg.farHangup()
		synctest.Wait()
		must(t, again.ended(t))
	})
}

// Silence at the read-back promises nothing: the caller is back on hold, nothing stored.
func TestHoldCallback_UnconfirmedNumberIsNotKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, viaTrunk)
		p := dial(t.Context(), e, "c1", "anonymous")
		askCallback(t, p)
		p.m.press("13800138000#")
		time.Sleep(time.Minute) // the read-back plays, then the key timer runs out
		synctest.Wait()
		if p.m.looping() != promptMusic {
			t.Errorf("after an unconfirmed number the caller hears %q, want the music", p.m.looping())
		}
		if cbs, _ := q.st.ListCallbacks(context.Background(), store.CallbackFilter{}); len(cbs) != 0 {
			t.Errorf("callbacks %+v stored without a confirmation", cbs)
		}
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
	})
}

// A stored callback whose number the plan no longer allows (stored before an upgrade, or
// from a forged identity) is canceled when the queues start and audited: neither the
// customer nor, in agent-first mode, an agent is ever rung for it.
func TestHoldCallback_StoredCallbackOutsideThePlan(t *testing.T) {
	for _, mode := range []struct {
		name string
		cfg  func(map[string]QueueConfig)
	}{{"agent-first", viaTrunk}, {"customer-first", func(qs map[string]QueueConfig) { viaTrunk(qs); customerFirst(qs) }}} {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newTestEngine(t)
				q := enableTestQueues(t, e, storedCallback(t), mode.cfg, alice())
				time.Sleep(30 * time.Second)
				synctest.Wait()
				q.dialer.none(t)
				if cb := q.st.callback(1); cb.State != store.CallbackCanceled {
					t.Errorf("callback %+v, want canceled: +200 is not in the plan", cb)
				}
				if a := audits(t, q.st, "callback"); len(a) != 1 || a[0].Caller != "+200" || a[0].Reason != refusedDenied {
					t.Errorf("audit %+v, want the refusal of +200", a)
				}
			})
		})
	}
}
