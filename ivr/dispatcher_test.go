package ivr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

// holdCaller dials a caller who presses 4 and is on hold once the prompt has played.
func holdCaller(ctx context.Context, e *Engine, id, caller string) *phone {
	p := dial(ctx, e, id, caller)
	p.m.digits <- mediaDigit('4', "rfc4733", time.Now())
	return p
}

// Stopping the server with 1,000 callers on hold (more than any buffer of the dispatcher)
// returns at once: every caller's place is kept in the store for abandon_window, every
// call ends as shutdown, and every goroutine ends (synctest fails the test otherwise).
func TestDispatcher_StopWith1000CallersOnHoldKeepsEveryPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		st := newTestStore(t)
		e.callbacks, e.taker, e.places = st, st, st
		fd := newFakeDialer()
		d, err := e.newDispatcher(map[string]QueueConfig{"support": testQueue()}, nil, AgentCodesConfig{}, fd)
		must(t, err)
		ctx, stop := context.WithCancelCause(context.Background())
		must(t, d.start(ctx))
		const n = 1000
		calls := make([]*phone, n)
		for i := range n {
			calls[i] = holdCaller(ctx, e, fmt.Sprint("c", i), fmt.Sprint("+1", i))
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		sn, err := d.snapshot()
		must(t, err)
		if sn[0].OnLine != n {
			t.Fatalf("%d on hold, want %d", sn[0].OnLine, n)
		}
		t0 := time.Now()
		stop(errStopping)
		if !e.Close(5 * time.Second) {
			t.Fatal("the engine did not stop within 5 s")
		}
		synctest.Wait()
		if took := time.Since(t0); took > time.Second {
			t.Errorf("stop took %v", took)
		}
		for i, p := range calls {
			must(t, p.ended(t))
			if r := p.rec(t, e); r.Outcome != OutcomeShutdown {
				t.Fatalf("call %d: outcome %q, want shutdown", i, r.Outcome)
			}
			a, ok := st.place("support", fmt.Sprint("+1", i))
			if !ok || !a.Expires.After(t0.Add(9*time.Minute)) {
				t.Fatalf("caller %d: place %+v kept %v, want kept for the abandon window", i, a, ok)
			}
		}
		// Asked after the stop, the dispatcher answers at once.
		if _, err := d.snapshot(); !errors.Is(err, errStopped) {
			t.Errorf("snapshot after stop: %v", err)
		}
		if _, err := d.setAgentState("alice", "ready"); !errors.Is(err, errStopped) {
			t.Errorf("agent state after stop: %v", err)
		}
		d.leave("support", "c1", queue.LeaveAbandoned) // returns
	})
}

// An agent who does not answer within ring_timeout is left alone for the ring rest (not
// rung in a loop), then rung again; one who declines rests too.
func TestDispatcher_RingTimeoutThenRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		e.timings.ringRest = 3 * time.Second
		q := enableTestQueues(t, e, nil, nil, alice())
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(time.Second)
		synctest.Wait()
		first := q.dialer.next(t)
		time.Sleep(5 * time.Second) // ring_timeout
		synctest.Wait()
		if first.ctx.Err() == nil {
			t.Fatal("the ring was not stopped at ring_timeout")
		}
		if st := q.agentState(t, "support", "alice"); st != queue.AgentPaused {
			t.Errorf("alice after a ring timeout: %v, want resting (paused)", st)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		q.dialer.none(t)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		second := q.dialer.next(t)
		second.decline(486)
		synctest.Wait()
		if st := q.agentState(t, "support", "alice"); st != queue.AgentPaused {
			t.Errorf("alice after declining: %v, want resting", st)
		}
		q.dialer.none(t)
		p.leg.farHangup()
		synctest.Wait()
	})
}

// An agent whose phone is no longer registered is logged out, not rested; a ring the
// queue stopped (the caller hung up) that is answered late is hung up, and the agent is
// not left busy.
func TestDispatcher_UnregisteredAndLateAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		bob := AgentConfig{ID: "bob", User: "bob", Queues: []string{"support"}}
		q := enableTestQueues(t, e, nil, nil, bob)
		e.AgentRegistered("bob", true)
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(time.Second)
		synctest.Wait()
		r := q.dialer.next(t)
		if r.target != "bob" {
			t.Errorf("rang %q, want the registrar user", r.target)
		}
		r.reply <- ringReply{err: fmt.Errorf("dial: %w", sip.ErrNotRegistered)}
		synctest.Wait()
		if st := q.agentState(t, "support", "bob"); st != queue.AgentLoggedOut {
			t.Errorf("bob: %v, want logged out", st)
		}
		if _, err := q.d.setAgentState("bob", "ready"); !errors.Is(err, errNotReachable) {
			t.Errorf("ready without a phone: %v", err)
		}
		e.AgentRegistered("bob", true)
		synctest.Wait()
		late := q.dialer.next(t)
		// The caller leaves as bob answers: whichever the dispatcher hears first, bob must
		// not be left on a line nobody is on.
		p.leg.farHangup()
		leg, _ := late.answer("late")
		synctest.Wait()
		if !leg.hungUpByUs() {
			t.Error("a late answer was left on the line")
		}
		if st := q.agentState(t, "support", "bob"); st == queue.AgentBusy {
			t.Error("bob left busy")
		}
		e.AgentRegistered("bob", false)
		synctest.Wait()
		if st := q.agentState(t, "support", "bob"); st != queue.AgentLoggedOut {
			t.Errorf("bob unregistered: %v", st)
		}
	})
}

// Explicit agent states: unknown agents and states the queue sets itself are refused;
// paused agents are not rung.
func TestDispatcher_AgentStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, nil, alice())
		if _, err := q.d.setAgentState("nobody", "ready"); !errors.Is(err, errUnknownAgent) {
			t.Errorf("unknown agent: %v", err)
		}
		for _, s := range []string{"busy", "sleepy"} {
			if _, err := q.d.setAgentState("alice", s); !errors.Is(err, errInvalidChange) {
				t.Errorf("state %q: %v", s, err)
			}
		}
		setState(t, q, "alice", "paused")
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		q.dialer.none(t)
		setState(t, q, "alice", "ready")
		synctest.Wait()
		q.dialer.next(t).decline(603)
		p.leg.farHangup()
		synctest.Wait()
	})
}

// A callback canceled through the admin API while its customer's phone rings: the dial is
// stopped, the agent who waited for it is hung up, is not rung for anyone else while still
// on the line, and is ready again afterwards.
func TestDispatcher_CanceledWhileDialling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, storedCallback(t), nil, alice())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		agentLeg, _ := q.dialer.next(t).answer("agent-call") // agent-first: alice waits for the customer
		synctest.Wait()
		customer := q.dialer.next(t)
		other := holdCaller(t.Context(), e, "c2", "+300") // someone else joins meanwhile
		must(t, q.st.CancelCallback(t.Context(), 1, time.Now()))
		q.d.canceled(1)
		synctest.Wait()
		if customer.ctx.Err() == nil {
			t.Error("the customer's phone still rings for a canceled callback")
		}
		if !agentLeg.hungUpByUs() {
			t.Error("alice still waits for a canceled callback")
		}
		sn, _ := q.d.snapshot()
		if sn[1].Callbacks != 0 {
			t.Errorf("support still holds %d callbacks", sn[1].Callbacks)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if r := q.dialer.next(t); r.id != "alice" || r.opts.FromUser != "+300" {
			t.Errorf("next ring %s from %s, want alice for +300 once free", r.id, r.opts.FromUser)
		}
		if got := q.st.callback(1); got.State != store.CallbackCanceled {
			t.Errorf("stored %+v", got)
		}
		other.leg.farHangup()
		synctest.Wait()
	})
}

// A customer-first callback whose customer is on the line cannot be canceled: the person
// is there.
func TestDispatcher_CancelRefusedOnceTheCustomerIsOnTheLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		e.SetStore(nil)
		q := enableTestQueues(t, e, storedCallback(t), customerFirst, alice())
		e.store = q.st.DB
		time.Sleep(2 * time.Second)
		synctest.Wait()
		custLeg, _ := q.dialer.next(t).answer("cb-call")
		synctest.Wait()
		rr := httptest.NewRecorder()
		NewAdmin(e).ServeHTTP(rr, httptest.NewRequest("DELETE", "/api/v1/callbacks/1", nil))
		if rr.Code != http.StatusConflict {
			t.Errorf("cancel with the customer on the line: %d %s", rr.Code, rr.Body)
		}
		custLeg.farHangup()
		synctest.Wait()
	})
}

func setState(t *testing.T, q *queues, agent, state string) {
	t.Helper()
	if _, err := q.d.setAgentState(agent, state); err != nil {
		t.Fatal(err)
	}
}

// An agent on a call who asks to pause (or to be ready) keeps the call: nothing changes in
// any queue until it ends, so it is never rung in another queue meanwhile; then it takes
// the state asked for instead of ready.
func TestDispatcher_StateAskedDuringACallIsTakenAfterIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, nil, nil, alice())
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(time.Second)
		synctest.Wait()
		agentLeg, _ := q.dialer.next(t).answer("agent-call")
		synctest.Wait()
		for _, st := range []string{"ready", "paused"} {
			after, err := q.d.setAgentState("alice", st)
			if err != nil || !after {
				t.Fatalf("%s during a call: after %v, %v; want taken after the call", st, after, err)
			}
		}
		other := holdCaller(t.Context(), e, "c2", "+200")
		p.m.digits <- mediaDigit('4', "rfc4733", time.Now()) // nothing for the bridged call
		other.m.digits <- mediaDigit('0', "rfc4733", time.Now())
		time.Sleep(time.Second)
		synctest.Wait()
		q.dialer.none(t) // alice, on a call, is not rung for c2
		if st := q.agentState(t, "recovery", "alice"); st != queue.AgentBusy {
			t.Errorf("alice in her other queue during the call: %v, want busy", st)
		}
		agentLeg.farHangup()
		synctest.Wait()
		for _, qn := range []string{"support", "recovery"} {
			if st := q.agentState(t, qn, "alice"); st != queue.AgentPaused {
				t.Errorf("alice in %s after the call: %v, want paused as asked", qn, st)
			}
		}
		other.leg.farHangup()
		synctest.Wait()
	})
}

// An admin cancel that starts as the customer answers: the answer is not taken (the
// customer is hung up, not left on hold for a canceled callback), and the cancel stands.
func TestDispatcher_CancelAsTheCustomerAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTestQueues(t, e, storedCallback(t), customerFirst, alice())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		r := q.dialer.next(t)
		must(t, q.d.beginCancel(1))
		custLeg, _ := r.answer("cb-call")
		synctest.Wait()
		if !custLeg.hungUpByUs() {
			t.Error("the customer of a canceled callback was kept on the line")
		}
		must(t, q.st.CancelCallback(t.Context(), 1, time.Now()))
		q.d.endCancel(1, true)
		synctest.Wait()
		if sn, _ := q.d.snapshot(); sn[1].Callbacks != 0 || sn[1].OnLine != 0 {
			t.Errorf("support %+v, want the callback gone", sn[1])
		}
		if got := q.st.callback(1); got.State != store.CallbackCanceled {
			t.Errorf("stored %+v", got)
		}
	})
}
