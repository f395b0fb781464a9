package ivr

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/queue/store"
)

// queues is a running dispatcher with fakes: the test answers rings, reads the store.
type queues struct {
	e      *Engine
	d      *dispatcher
	dialer *fakeDialer
	st     *testStore
	stop   context.CancelFunc
}

// enableTestQueues runs queues "support" and "recovery" with agents, over a fake store
// (which may hold callbacks to restore) and a fake dialer.
func enableTestQueues(t *testing.T, e *Engine, st *testStore, cfg func(map[string]QueueConfig), agents ...AgentConfig) *queues {
	t.Helper()
	if st == nil {
		st = newTestStore(t)
	}
	e.callbacks, e.taker, e.places = st, st, st
	qs := map[string]QueueConfig{"support": testQueue(), "recovery": testQueue()}
	if cfg != nil {
		cfg(qs)
	}
	fd := newFakeDialer()
	d, err := e.newDispatcher(qs, agents, AgentCodesConfig{}, fd)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	must(t, d.start(ctx))
	q := &queues{e: e, d: d, dialer: fd, st: st, stop: cancel}
	t.Cleanup(q.close)
	return q
}

// close stops the dispatcher and waits for everything it started.
func (q *queues) close() {
	q.stop()
	q.e.Close(time.Minute)
}

func alice() AgentConfig {
	return AgentConfig{ID: "alice", URI: "sip:alice@127.0.0.1", Queues: []string{"support", "recovery"}}
}

func (q *queues) agentState(t *testing.T, qname, agent string) queue.AgentState {
	t.Helper()
	sn, err := q.d.snapshot()
	must(t, err)
	for _, s := range sn {
		if s.Name != qname {
			continue
		}
		for _, a := range s.Agents {
			if a.ID == agent {
				return a.State
			}
		}
	}
	t.Fatalf("no agent %s in %s", agent, qname)
	return 0
}

// A caller presses 4, hears "connecting you", waits; the agent is rung with the caller's
// number, answers, and the two are bridged. The agent hangs up: we hang up the caller; the
// agent goes to wrap-up, then ready.
func TestHold_AgentAnswersAndIsBridged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, nil, alice())
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(time.Second)
		synctest.Wait()
		if got := p.m.looping(); got != promptMusic {
			t.Fatalf("on hold the caller hears %q, want music", got)
		}
		r := q.dialer.next(t)
		if r.target != "sip:alice@127.0.0.1" || r.opts.FromUser != "+100" {
			t.Errorf("rang %s from %s", r.target, r.opts.FromUser)
		}
		agentLeg, agentMedia := r.answer("agent-call")
		synctest.Wait()
		if p.m.bridged != agentMedia {
			t.Fatal("caller not bridged to the agent")
		}
		if st := q.agentState(t, "recovery", "alice"); st != queue.AgentBusy {
			t.Errorf("alice in her other queue: %v, want busy", st)
		}
		time.Sleep(time.Minute)
		agentLeg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
		rec := p.rec(t, e)
		if rec.Outcome != OutcomeAnswered || rec.Queue.Agent != "alice" || !p.leg.hungUpByUs() {
			t.Errorf("outcome %q queue %+v hung up by us %v", rec.Outcome, rec.Queue, p.leg.hungUpByUs())
		}
		if got := phases(rec); got != "menu hold bridged" {
			t.Errorf("phases %q", got)
		}
		if !agentMedia.closed {
			t.Error("agent media not released")
		}
		ar := e.records.find("agent-call")
		if ar == nil || ar.Kind != KindAgent || ar.Direction != DirectionOutbound || ar.Peer != "c1" || rec.Peer != "agent-call" || ar.End == nil {
			t.Errorf("agent leg record %+v", ar)
		}
		if st := q.agentState(t, "support", "alice"); st != queue.AgentWrapUp {
			t.Errorf("alice after the call: %v, want wrap-up", st)
		}
		time.Sleep(3 * time.Second)
		if st := q.agentState(t, "support", "alice"); st != queue.AgentReady {
			t.Errorf("alice after wrap-up: %v, want ready", st)
		}
	})
}

// The caller hangs up on the agent: the agent is hung up.
func TestHold_CallerHangsUpOnTheAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, nil, alice())
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(time.Second)
		synctest.Wait()
		agentLeg, _ := q.dialer.next(t).answer("agent-call")
		synctest.Wait()
		p.leg.farHangup()
		synctest.Wait()
		p.ended(t)
		if !agentLeg.hungUpByUs() {
			t.Error("the agent is still on a line nobody is on")
		}
	})
}

// A caller who hangs up on hold keeps their place for abandon_window, in the store; calling
// again resumes it (and the stored place is used up).
func TestHold_HangupKeepsThePlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, nil)
		early := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		early.m.press("4")
		time.Sleep(5 * time.Second)
		late := dial(t.Context(), e, "c2", "+300")
		synctest.Wait()
		late.m.press("4")
		time.Sleep(5 * time.Second)
		early.leg.farHangup()
		synctest.Wait()
		early.ended(t)
		if r := early.rec(t, e); r.Outcome != OutcomeAbandoned {
			t.Errorf("outcome %q, want abandoned", r.Outcome)
		}
		if _, ok := q.st.place("support", "+100"); !ok {
			t.Fatal("the abandoned place was not stored")
		}
		again := dial(t.Context(), e, "c3", "+100")
		synctest.Wait()
		again.m.press("4")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		r := again.rec(t, e)
		if !r.Queue.Resumed || r.Queue.Position != 1 {
			t.Errorf("queue record %+v: want resumed at position 1, ahead of +300", r.Queue)
		}
		if _, ok := q.st.place("support", "+100"); ok {
			t.Error("the resumed place is still in the store")
		}
		again.leg.farHangup()
		late.leg.farHangup()
		synctest.Wait()
	})
}

// The exit key asks for the callback offer; 2 declines it and the music comes back; asked
// again, 1 takes it: the callback is stored before the confirmation, and we hang up.
func TestHold_CallbackTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, nil)
		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		p.m.press("4")
		time.Sleep(2 * time.Second)
		p.m.press("#2")
		synctest.Wait()
		if p.m.looping() != promptMusic {
			t.Error("declining the offer: no music")
		}
		p.m.press("#1")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		r := p.rec(t, e)
		if r.Outcome != OutcomeCallback || r.Queue.Callback != "1" || r.Queue.Offers != 2 {
			t.Errorf("outcome %q queue %+v", r.Outcome, r.Queue)
		}
		if !strings.HasSuffix(prompts(r), "queue/en/callback_confirmed") {
			t.Errorf("prompts %q", prompts(r))
		}
		if cb := q.st.callback(1); cb.CallerNumber != "+100" || cb.Queue != "support" {
			t.Errorf("stored %+v", cb)
		}
		sn, _ := q.d.snapshot()
		if sn[1].Name != "support" || sn[1].Callbacks != 1 || sn[1].OnLine != 0 {
			t.Errorf("queue %+v: want the place held by a callback", sn[1])
		}
	})
}

// When the store cannot keep the callback, the caller is not told it is kept: they wait on.
func TestHold_CallbackNotStoredKeepsWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		st := newTestStore(t)
		st.mu.Lock()
		st.failAdd = true
		st.mu.Unlock()
		enableTestQueues(t, e, st, nil)
		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		p.m.press("4")
		time.Sleep(2 * time.Second)
		p.m.press("#1")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		r := p.rec(t, e)
		if strings.Contains(prompts(r), "callback_confirmed") || r.End != nil {
			t.Errorf("prompts %q end %v: want still waiting", prompts(r), r.End)
		}
		p.leg.farHangup()
		synctest.Wait()
	})
}

// The freeze key works on hold: the caller leaves the queue (not as abandoned), the lane
// freezes, offers a person, and 1 puts the caller in the recovery queue at top priority.
func TestHold_FreezeKeyOnHoldThenRecoveryQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		enableTestFreeze(t, e, FreezeConfig{Enabled: true, RecoveryQueue: "recovery"})
		q := enableTestQueues(t, e, nil, nil)
		p := dial(t.Context(), e, "c1", "+200")
		synctest.Wait()
		p.m.press("4")
		time.Sleep(2 * time.Second)
		p.m.press("9")
		time.Sleep(10 * time.Second) // "frozen, your reference is 1 2 3 4 5 6; for a person press 1"
		p.m.press("1")
		synctest.Wait()
		r := p.rec(t, e)
		if got := phases(r); got != "menu hold lane hold" {
			t.Fatalf("phases %q", got)
		}
		if r.Freeze == nil || r.Freeze.Reference == "" || r.Queue.Name != "recovery" {
			t.Errorf("freeze %+v queue %+v", r.Freeze, r.Queue)
		}
		if _, ok := q.st.place("support", "+200"); ok {
			t.Error("leaving for the freeze lane was stored as abandoned")
		}
		sn, _ := q.d.snapshot()
		if sn[0].Name != "recovery" || len(sn[0].Entries) != 1 || sn[0].Entries[0].Priority != 1000 {
			t.Errorf("recovery queue %+v", sn[0])
		}
		p.leg.farHangup()
		synctest.Wait()
	})
}

// A queue that refuses (full) says goodbye and ends the call as queue_refused.
func TestHold_QueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		enableTestQueues(t, e, nil, func(qs map[string]QueueConfig) {
			c := qs["support"]
			c.NoAgents = queue.NoAgentsRefuse
			qs["support"] = c
		})
		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		p.m.press("4")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		if r := p.rec(t, e); r.Outcome != OutcomeQueueFull || !strings.HasSuffix(prompts(r), "goodbye") {
			t.Errorf("outcome %q prompts %q", r.Outcome, prompts(r))
		}
	})
}

// Position announcements come at the announce interval, in the call's language.
func TestHold_Announcements(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		enableTestQueues(t, e, nil, nil)
		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		p.m.press("4")
		time.Sleep(32 * time.Second)
		synctest.Wait()
		if got := prompts(p.rec(t, e)); !strings.Contains(got, "caller_number") {
			t.Errorf("no position announcement: %q", got)
		}
		p.leg.farHangup()
		synctest.Wait()
	})
}

var _ = store.CallbackPending

// A phase that panics (a bug) ends the call as an error, and the caller's place is still
// given back: no ghost entry is rung for, no agent is left busy.
func TestHold_PanicGivesThePlaceBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, nil)
		p := dial(t.Context(), e, "c1", "+100")
		p.m.mu.Lock()
		p.m.panicOn = "queue/en/callback_offer"
		p.m.mu.Unlock()
		synctest.Wait()
		p.m.press("4")
		time.Sleep(2 * time.Second)
		p.m.press("#") // asks for the offer: Play panics
		synctest.Wait()
		if err := p.ended(t); err == nil || !strings.Contains(err.Error(), "panic") {
			t.Errorf("call ended with %v, want the panic as an error", err)
		}
		if r := p.rec(t, e); r.Outcome != OutcomeError {
			t.Errorf("outcome %q", r.Outcome)
		}
		sn, _ := q.d.snapshot()
		if sn[1].OnLine != 0 {
			t.Errorf("%d callers on the line after the call ended", sn[1].OnLine)
		}
	})
}
