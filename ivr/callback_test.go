package ivr

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/queue/store"
)

// storedCallback is a store holding one pending callback for +200 in support, due now.
func storedCallback(t *testing.T) *testStore {
	st := newTestStore(t)
	_, err := st.AddCallback(t.Context(), store.NewCallback{Queue: "support", CallerNumber: "+200", CallID: "orig",
		Arrival: time.Now().Add(-10 * time.Minute)}, time.Now())
	must(t, err)
	return st
}

// calledBack runs the stored customer-first callback for +200 until the customer answers
// (as call "cb-call"): alice is on duty, the customer waits at the kept place.
func calledBack(t *testing.T) (*Engine, *queues, *fakeLeg, *fakeMedia) {
	t.Helper()
	e := newTestEngine(t)
	q := enableTestQueues(t, e, storedCallback(t), customerFirst, alice())
	time.Sleep(2 * time.Second)
	synctest.Wait()
	leg, m := q.dialer.next(t).answer("cb-call")
	synctest.Wait()
	return e, q, leg, m
}

func customerFirst(qs map[string]QueueConfig) {
	c := qs["support"]
	c.Callback.Mode = queue.CallbackCustomerFirst
	qs["support"] = c
}

// A customer-first callback is a call like an inbound one: the customer is dialled, waits
// at the kept place hearing music, and the freeze key on that hold reaches the freeze lane.
// The leg has its own record (outbound, callback) and counts in hotline_calls_total.
func TestCallback_CustomerFirstFreezeKeyOnHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		enableTestFreeze(t, e, FreezeConfig{Enabled: true})
		q := enableTestQueues(t, e, storedCallback(t), customerFirst, alice())
		synctest.Wait()
		time.Sleep(2 * time.Second)
		r := q.dialer.next(t)
		if r.target != "+200" || r.id != "callback" {
			t.Fatalf("dialled %s (%s), want the customer +200", r.target, r.id)
		}
		custLeg, custMedia := r.answer("cb-call")
		synctest.Wait()
		if custMedia.looping() != promptMusic {
			t.Errorf("the customer hears %q, want music at the kept place", custMedia.looping())
		}
		agentRing := q.dialer.next(t) // alice rings for the customer
		custMedia.press("9")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		agentRing.reply <- ringReply{err: agentRing.ctx.Err()}
		synctest.Wait()
		rec := e.records.find("cb-call")
		if rec == nil || rec.End == nil {
			t.Fatalf("callback leg record %+v: want a finished record", rec)
		}
		if rec.Direction != DirectionOutbound || rec.Kind != KindCallback || rec.Queue.Callback != "1" {
			t.Errorf("record direction %q kind %q queue %+v", rec.Direction, rec.Kind, rec.Queue)
		}
		if got := phases(rec); got != "hold lane ending" {
			t.Errorf("phases %q", got)
		}
		if rec.Outcome != OutcomeFrozen || rec.Freeze.Account != "A1" {
			t.Errorf("outcome %q freeze %+v", rec.Outcome, rec.Freeze)
		}
		if !custLeg.hungUpByUs() {
			t.Error("the customer was not hung up after the freeze")
		}
		if got := q.st.callback(1); got.State != store.CallbackDone || got.Outcome != store.OutcomeAnswered {
			t.Errorf("stored callback %+v", got)
		}
		if m := metricText(t, e); !strings.Contains(m, `hotline_calls_total{direction="outbound",kind="callback",outcome="frozen"} 1`) {
			t.Errorf("metrics:\n%s", grepLines(m, "hotline_calls_total"))
		}
	})
}

// Customer-first: the customer waits, the agent answers, the two are bridged.
func TestCallback_CustomerFirstBridged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, q, custLeg, custMedia := calledBack(t)
		agentLeg, agentMedia := q.dialer.next(t).answer("agent-call")
		synctest.Wait()
		if custMedia.bridged != agentMedia {
			t.Fatal("customer not bridged to the agent")
		}
		custLeg.farHangup()
		synctest.Wait()
		if !agentLeg.hungUpByUs() {
			t.Error("agent left on the line")
		}
		if rec := e.records.find("cb-call"); rec.Outcome != OutcomeAnswered || rec.Queue.Agent != "alice" {
			t.Errorf("record %+v", rec)
		}
	})
}

// Agent-first: the agent is rung and answers first, then the customer is dialled; the
// customer's call starts bridged.
func TestCallback_AgentFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, storedCallback(t), nil, alice())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		ar := q.dialer.next(t)
		if ar.id != "alice" || ar.opts.FromUser != "+200" {
			t.Fatalf("first ring %s from %s, want alice shown +200", ar.id, ar.opts.FromUser)
		}
		agentLeg, agentMedia := ar.answer("agent-call")
		synctest.Wait()
		cr := q.dialer.next(t)
		if cr.target != "+200" {
			t.Fatalf("then dialled %s, want +200", cr.target)
		}
		_, custMedia := cr.answer("cb-call")
		synctest.Wait()
		if custMedia.bridged != agentMedia {
			t.Fatal("customer not bridged to the waiting agent")
		}
		agentLeg.farHangup()
		synctest.Wait()
		rec := e.records.find("cb-call")
		if rec.End == nil || rec.Outcome != OutcomeAnswered || phases(rec) != "bridged" {
			t.Errorf("record outcome %q phases %q end %v", rec.Outcome, phases(rec), rec.End)
		}
	})
}

// A customer who does not answer: the attempt is recorded, the agent waiting for them is
// freed, and the callback is tried again after retry_delay; after max_attempts it fails.
func TestCallback_NoAnswerRetriesThenFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		e.timings.customerRing = 20 * time.Second
		q := enableTestQueues(t, e, storedCallback(t), customerFirst, alice())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		q.dialer.next(t).decline(486)
		synctest.Wait()
		if got := q.st.callback(1); got.State != store.CallbackPending || got.Outcome != store.OutcomeBusy {
			t.Fatalf("after a busy customer: %+v", got)
		}
		q.dialer.none(t)
		time.Sleep(11 * time.Second)
		synctest.Wait()
		r := q.dialer.next(t)
		time.Sleep(21 * time.Second) // rung out
		synctest.Wait()
		_ = r
		if got := q.st.callback(1); got.State != store.CallbackFailed || got.Outcome != store.OutcomeNoAnswer {
			t.Errorf("after the last attempt: %+v", got)
		}
	})
}

// Callback legs are admitted like inbound calls: over max_calls the dial is postponed,
// not placed and not counted as an attempt; once a slot is free the customer is dialled.
func TestCallback_Admission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		e.cfg.MaxCalls = 1
		release, ok := e.admit(DirectionInbound, KindCaller) // one call already in progress
		if !ok {
			t.Fatal("first call refused")
		}
		q := enableTestQueues(t, e, storedCallback(t), customerFirst, alice())
		time.Sleep(30 * time.Second) // several postponements
		synctest.Wait()
		q.dialer.none(t)
		if got := q.st.callback(1); got.State != store.CallbackPending || got.Attempts != 0 {
			t.Errorf("stored %+v, want pending with no attempt used", got)
		}
		if m := metricText(t, e); !strings.Contains(m, `hotline_calls_total{direction="outbound",kind="callback",outcome="shed"}`) {
			t.Errorf("metrics:\n%s", grepLines(m, "hotline_calls_total"))
		}
		release()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if r := q.dialer.next(t); r.target != "+200" {
			t.Errorf("dialled %s once a slot was free, want +200", r.target)
		}
	})
}

// A server stop while a called-back customer waits on hold hangs the customer up.
func TestCallback_StopHangsUpTheCustomer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, q, custLeg, _ := calledBack(t)
		q.close()
		synctest.Wait()
		if !custLeg.hungUpByUs() {
			t.Error("the customer was left on the line at stop")
		}
		if rec := e.records.find("cb-call"); rec.End == nil || rec.Outcome != OutcomeShutdown {
			t.Errorf("record %+v", rec)
		}
	})
}

// A stop while a called-back customer waits on hold does not lose the callback: it is due
// again at the next start (not done), and it is not kept as an abandoned inbound place.
func TestCallback_StopWhileWaitingKeepsTheCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, q, _, _ := calledBack(t)
		time.Sleep(5 * time.Minute) // longer than the lease: it is renewed while she waits
		synctest.Wait()
		if got := q.st.callback(1); got.State != store.CallbackDialing {
			t.Fatalf("while the customer waits: %+v", got)
		}
		q.close()
		synctest.Wait()
		if got := q.st.callback(1); got.State != store.CallbackPending || got.Outcome != store.OutcomeInterrupted {
			t.Errorf("after the stop: %+v, want pending (interrupted) for the next start", got)
		}
		if _, ok := q.st.place("support", "+200"); ok {
			t.Error("the callback's customer was kept as an abandoned caller too")
		}
	})
}

// The caller presses 1 for a callback just as the agent answers: either the agent gets the
// caller (and no callback is left behind), or the callback is kept in the queue and the
// agent is released: never a confirmed callback that nobody will dial.
func TestCallback_TakenAsTheAgentAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, nil, alice())
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(time.Second)
		synctest.Wait()
		ring := q.dialer.next(t)
		p.m.press("#") // the offer
		agentLeg, agentMedia := ring.answer("agent-call")
		p.m.digits <- mediaDigit('1', "rfc4733", time.Now())
		time.Sleep(10 * time.Second)
		synctest.Wait()
		r := p.rec(t, e)
		sn, _ := q.d.snapshot()
		cbs, _ := q.st.ListCallbacks(t.Context(), store.CallbackFilter{States: []store.CallbackState{store.CallbackPending}})
		switch r.Outcome {
		case OutcomeCallback:
			if sn[1].Callbacks != 1 || len(cbs) != 1 || !agentLeg.hungUpByUs() {
				t.Errorf("callback confirmed: queue %d callbacks, store %d pending, agent released %v", sn[1].Callbacks, len(cbs), agentLeg.hungUpByUs())
			}
		case OutcomeAnswered:
			if p.m.bridged != agentMedia || len(cbs) != 0 {
				t.Errorf("agent took the call: bridged %v, %d pending callbacks left", p.m.bridged == agentMedia, len(cbs))
			}
			p.leg.farHangup()
		default:
			t.Errorf("outcome %q", r.Outcome)
		}
		synctest.Wait()
	})
}

// A stop while the dispatcher is busy and a called-back customer waits: whichever the
// dispatcher hears first, the customer's leave or the stop, the callback alone keeps the
// place; no abandoned place is kept for them as well.
func TestCallback_StopRaceKeepsOnlyTheCallback(t *testing.T) {
	for range 10 {
		synctest.Test(t, func(t *testing.T) {
			_, q, _, _ := calledBack(t)
			q.d.leave("support", "orig", queue.LeaveAbandoned) // as the customer's hold phase does at a stop
			q.close()
			synctest.Wait()
			if _, ok := q.st.place("support", "+200"); ok {
				t.Error("the callback's customer was kept as an abandoned caller too")
			}
		})
	}
}

// Draining (SIGTERM): no callback is dialled any more; it stays pending in the store for
// the next start.
func TestCallback_DrainPostponesDials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		e.Drain()
		q := enableTestQueues(t, e, storedCallback(t), customerFirst, alice())
		time.Sleep(30 * time.Second)
		synctest.Wait()
		q.dialer.none(t)
		if cb := q.st.callback(1); cb.State != store.CallbackPending || cb.Attempts != 0 {
			t.Errorf("callback %+v, want pending with no attempt used", cb)
		}
	})
}
