package ivr

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/queue"
)

// enableTransferQueues runs queues "support" (alice) and "recovery" (bob) with the agents'
// transfer codes.
func enableTransferQueues(t *testing.T, e *Engine, codes AgentCodesConfig) *queues {
	t.Helper()
	st := newTestStore(t)
	e.callbacks, e.taker, e.places = st, st, st
	qs := map[string]QueueConfig{"support": testQueue(), "recovery": testQueue()}
	agents := []AgentConfig{
		{ID: "alice", URI: "sip:alice@127.0.0.1", Queues: []string{"support"}},
		{ID: "bob", URI: "sip:bob@127.0.0.1", Queues: []string{"recovery"}},
	}
	fd := newFakeDialer()
	d, err := e.newDispatcher(qs, agents, codes, fd)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	must(t, d.start(ctx))
	q := &queues{e: e, d: d, dialer: fd, st: st, stop: cancel}
	t.Cleanup(q.close)
	return q
}

// bridgedCaller puts a caller on hold in support and has alice answer.
func bridgedCaller(t *testing.T, e *Engine, q *queues) (*phone, *fakeLeg, *fakeMedia) {
	t.Helper()
	p := holdCaller(t.Context(), e, "c1", "+100")
	time.Sleep(time.Second)
	synctest.Wait()
	r := q.dialer.next(t)
	if r.target != "sip:alice@127.0.0.1" {
		t.Fatalf("rang %s, want alice", r.target)
	}
	al, am := r.answer("agent-1")
	synctest.Wait()
	if bridgedTo(p.m) != am {
		t.Fatal("caller not bridged to alice")
	}
	return p, al, am
}

func takesAgentKeys(f *fakeMedia) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.takeB
}

// Alice presses *7 2: she is hung up and freed (wrap-up), the caller hears "connecting" and
// waits in recovery at the transfer priority, where bob is rung. Her keys never reached the
// caller: the bridge kept them for the call.
func TestAgentTransfer_ToQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTransferQueues(t, e, AgentCodesConfig{Transfer: map[string]string{"2": "recovery"}})
		p, al, am := bridgedCaller(t, e, q)
		if !takesAgentKeys(p.m) {
			t.Fatal("the bridge relays the agent's keys to the caller")
		}
		am.press("*72")
		synctest.Wait()
		if !al.hungUpByUs() || !am.closed {
			t.Fatalf("alice still on the line: hung up %v, media closed %v", al.hungUpByUs(), am.closed)
		}
		if bridgedTo(p.m) != nil {
			t.Fatal("still bridged")
		}
		if st := q.agentState(t, "support", "alice"); st != queue.AgentWrapUp {
			t.Errorf("alice after the transfer: %v, want wrap-up", st)
		}
		if ar := e.records.find("agent-1"); ar == nil || ar.End == nil || ar.Outcome != OutcomeTransferred {
			t.Errorf("alice's leg record %+v", ar)
		}
		if !slices.Contains(p.m.heard(), "queue/en/connecting") {
			t.Errorf("caller heard %v, want connecting", p.m.heard())
		}
		q.dialer.none(t)
		time.Sleep(time.Second) // "connecting" ends
		synctest.Wait()
		if got := p.m.looping(); got != promptMusic {
			t.Errorf("caller hears %q, want music", got)
		}
		r := q.dialer.next(t)
		if r.target != "sip:bob@127.0.0.1" || r.opts.FromUser != "+100" {
			t.Fatalf("rang %s from %s, want bob", r.target, r.opts.FromUser)
		}
		rec := p.rec(t, e)
		if got := phases(rec); got != "menu hold bridged hold" {
			t.Errorf("phases %q", got)
		}
		want := AgentTransfer{Agent: "alice", From: "support", Queue: "recovery"}
		if len(rec.AgentTransfers) != 1 || rec.AgentTransfers[0].At.IsZero() {
			t.Fatalf("agent transfers %+v", rec.AgentTransfers)
		}
		if got := rec.AgentTransfers[0]; got.Agent != want.Agent || got.From != want.From || got.Queue != want.Queue || got.Refused != "" {
			t.Errorf("agent transfer %+v, want %+v", got, want)
		}
		if rec.Queue == nil || rec.Queue.Name != "recovery" || len(rec.Keys) != 1 { // the caller's own 4 only
			t.Errorf("queue %+v keys %+v", rec.Queue, rec.Keys)
		}
		_, bm := r.answer("agent-2")
		synctest.Wait()
		if bridgedTo(p.m) != bm {
			t.Fatal("caller not bridged to bob")
		}
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
		if rec := p.rec(t, e); rec.Outcome != OutcomeAnswered || rec.Queue.Agent != "bob" {
			t.Errorf("final record: outcome %q queue %+v", rec.Outcome, rec.Queue)
		}
		time.Sleep(3 * time.Second)
		if st := q.agentState(t, "support", "alice"); st != queue.AgentReady {
			t.Errorf("alice after wrap-up: %v, want ready", st)
		}
	})
}

// A refused code changes nothing but the record: an unknown queue key, a number the dial
// plan denies, keys that are no code. The caller stays bridged to alice.
func TestAgentTransfer_RefusedKeepsTheBridge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTransferQueues(t, e, AgentCodesConfig{Transfer: map[string]string{"2": "recovery"},
			TransferAllow: []string{"030"}})
		p, al, am := bridgedCaller(t, e, q)
		am.press("5*79")             // no code, then an unknown queue key
		am.press("*80049301234567#") // international: the default deny list
		am.press("*80401234567#")    // allowed by nothing
		synctest.Wait()
		if al.hungUpByUs() || bridgedTo(p.m) != am {
			t.Fatal("a refused code ended the bridge")
		}
		q.dialer.none(t)
		rec := p.rec(t, e)
		var got []string
		for _, tr := range rec.AgentTransfers {
			got = append(got, tr.Refused)
		}
		if want := []string{"unknown-key", refusedDenied, refusedNotAllowed}; !slices.Equal(got, want) {
			t.Errorf("refusals %v, want %v", got, want)
		}
		if rec.Outcome != OutcomeAnswered || phases(rec) != "menu hold bridged" {
			t.Errorf("outcome %q phases %q", rec.Outcome, phases(rec))
		}
		al.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
	})
}

// Alice presses *8 0301234567 #: the number passes transfer_allow and rings through
// transfer_trunk while the caller hears "connecting"; the partner answers and is bridged.
func TestAgentTransfer_ToNumber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTransferQueues(t, e, AgentCodesConfig{TransferAllow: []string{"030"}, TransferTrunk: "carrier"})
		p, al, am := bridgedCaller(t, e, q)
		am.press("*80301234567#")
		synctest.Wait()
		if !al.hungUpByUs() {
			t.Fatal("alice still on the line")
		}
		r := q.dialer.next(t)
		if r.target != "0301234567" || r.opts.Trunk != "carrier" || r.id != KindTransfer {
			t.Fatalf("dialled %q as %q with %+v", r.target, r.id, r.opts)
		}
		_, pm := r.answer("partner-1")
		time.Sleep(time.Second)
		synctest.Wait()
		if bridgedTo(p.m) != pm {
			t.Fatal("caller not bridged to the number")
		}
		rec := p.rec(t, e)
		if rec.Outcome != OutcomeTransferred || rec.Transfer == nil || rec.Transfer.Target != "carrier:0301234567" ||
			len(rec.AgentTransfers) != 1 || rec.AgentTransfers[0].Number != "0301234567" {
			t.Fatalf("record: outcome %q transfer %+v agent transfers %+v", rec.Outcome, rec.Transfer, rec.AgentTransfers)
		}
		if got := phases(rec); got != "menu hold bridged transfer" {
			t.Errorf("phases %q", got)
		}
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
	})
}

// The number is busy: the caller is back in the queue the agent took them from.
func TestAgentTransfer_NumberBusyBackInTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTransferQueues(t, e, AgentCodesConfig{TransferAllow: []string{"030"}})
		p, _, am := bridgedCaller(t, e, q)
		am.press("*80301234567#")
		synctest.Wait()
		r := q.dialer.next(t)
		if r.opts.Trunk != "" {
			t.Errorf("trunk %q, want none (no transfer_trunk, no callback_trunk)", r.opts.Trunk)
		}
		r.decline(486)
		synctest.Wait()
		rec := p.rec(t, e)
		if got := phases(rec); got != "menu hold bridged transfer menu hold" {
			t.Fatalf("phases %q", got)
		}
		if rec.Queue == nil || rec.Queue.Name != "support" || rec.Transfer.Outcome != TransferBusy {
			t.Errorf("queue %+v transfer %+v", rec.Queue, rec.Transfer)
		}
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
		if rec := p.rec(t, e); rec.Outcome != OutcomeAbandoned {
			t.Errorf("outcome %q, want abandoned", rec.Outcome)
		}
	})
}

// Without transfer codes the agent's keys are relayed as before.
func TestAgentTransfer_OffRelaysKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		q := enableTransferQueues(t, e, AgentCodesConfig{})
		p, al, _ := bridgedCaller(t, e, q)
		if takesAgentKeys(p.m) {
			t.Error("agent keys kept from the caller with no transfer code configured")
		}
		al.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
	})
}

func TestAgentCodes_TransfersValidated(t *testing.T) {
	t.Parallel()
	qs := map[string]QueueConfig{"support": testQueue()}
	for _, tc := range []struct {
		name string
		cfg  AgentCodesConfig
	}{
		{"unknown queue", AgentCodesConfig{Transfer: map[string]string{"1": "sales"}}},
		{"two keys", AgentCodesConfig{Transfer: map[string]string{"12": "support"}}},
		{"codes overlap", AgentCodesConfig{TransferCode: "*8", TransferNumberCode: "*81"}},
		{"bad pattern", AgentCodesConfig{TransferAllow: []string{"abc"}}},
		{"bad code", AgentCodesConfig{TransferCode: "x7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.cfg.transfers(qs); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := (AgentCodesConfig{Transfer: map[string]string{"1": "support"}, TransferAllow: []string{"030"}}).transfers(qs); err != nil {
		t.Error(err)
	}
}
