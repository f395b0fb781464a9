package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

const s = time.Second

type harness struct {
	t *testing.T
	q *Queue
}

func newHarness(t *testing.T, cfg Config, opts ...Option) *harness {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	q, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, q: q}
}

// agent sets an agent's state.
func (h *harness) agent(id string, st AgentState, now time.Time) {
	h.t.Helper()
	if err := h.q.SetAgentState(id, st, now); err != nil {
		h.t.Fatalf("SetAgentState(%s, %v): %v", id, st, err)
	}
}

// join adds a caller on the line and returns its decision as a string.
func (h *harness) join(e Entry, now time.Time) string {
	h.t.Helper()
	d, err := h.q.Join(e, now)
	if err != nil {
		h.t.Fatalf("Join(%s): %v", e.ID, err)
	}
	return show(d)
}

func (h *harness) tick(now time.Time) []string {
	var out []string
	for _, d := range h.q.Tick(now) {
		out = append(out, show(d))
	}
	return out
}

func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// expect ticks at now and compares the decisions.
func (h *harness) expect(now time.Time, want ...string) {
	h.t.Helper()
	if got := h.tick(now); !slices.Equal(got, want) {
		h.t.Errorf("Tick(t0+%v):\n got %q\nwant %q", now.Sub(t0), got, want)
	}
}

func show(d Decision) string {
	switch d.Kind {
	case KindRing:
		if d.Callback {
			return fmt.Sprintf("ring %s %s callback", d.Entry, d.Agent)
		}
		return fmt.Sprintf("ring %s %s", d.Entry, d.Agent)
	case KindStopRing:
		return fmt.Sprintf("stop-ring %s %s %v", d.Entry, d.Agent, d.Reason)
	case KindDial:
		return strings.TrimSpace(fmt.Sprintf("dial %s %s", d.Entry, d.Agent))
	case KindOfferCallback:
		return fmt.Sprintf("offer-callback %s %v pos=%d wait=%v", d.Entry, d.Reason, d.Position, d.Wait)
	case KindQueued:
		r := ""
		if d.Resumed {
			r = " resumed"
		}
		return fmt.Sprintf("queued %s pos=%d wait=%v%s", d.Entry, d.Position, d.Wait, r)
	case KindAnnounce:
		return fmt.Sprintf("announce %s pos=%d wait=%v", d.Entry, d.Position, d.Wait)
	}
	return fmt.Sprintf("%v %+v", d.Kind, d)
}

// serve answers a ring and completes the call after talk.
func (h *harness) serve(entry, agent string, now time.Time, talk time.Duration) {
	h.t.Helper()
	h.must(h.q.Answered(entry, agent, now))
	h.must(h.q.Completed(agent, now.Add(talk)))
}

func TestQueue_Strategies(t *testing.T) {
	t.Parallel()
	// Agents a1..a4 became ready at t0+1s..4s; a1 has answered two calls,
	// a3 one; a4 is paused; round-robin rang a2 last.
	setup := func(h *harness) {
		for i, id := range []string{"a1", "a2", "a3", "a4"} {
			h.agent(id, AgentReady, at(time.Duration(i+1)*s))
		}
		h.q.agents["a1"].calls = 2
		h.q.agents["a3"].calls = 1
		h.q.rr = h.q.agents["a2"].index
		h.agent("a4", AgentPaused, at(5*s))
	}
	tests := []struct {
		name     string
		strategy Strategy
		callers  int
		want     []string
	}{
		{"ring-all rings every ready agent", StrategyRingAll, 2, []string{"ring c1 a1", "ring c1 a2", "ring c1 a3"}},
		{"longest-idle", StrategyLongestIdle, 1, []string{"ring c1 a1"}},
		{"longest-idle two callers", StrategyLongestIdle, 2, []string{"ring c1 a1", "ring c2 a2"}},
		{"fewest-calls", StrategyFewestCalls, 2, []string{"ring c1 a2", "ring c2 a3"}},
		{"round-robin continues after the last rung", StrategyRoundRobin, 3, []string{"ring c1 a3", "ring c2 a1", "ring c3 a2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Config{Strategy: tc.strategy})
			setup(h)
			for i := range tc.callers {
				h.join(Entry{ID: fmt.Sprintf("c%d", i+1)}, at(10*s))
			}
			h.expect(at(10*s), tc.want...)
		})
	}
}

func TestQueue_RoundRobinTurns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Strategy: StrategyRoundRobin})
	for _, id := range []string{"a1", "a2", "a3"} {
		h.agent(id, AgentReady, t0)
	}
	var got []string
	for i := range 7 {
		now := at(time.Duration(i) * 10 * s)
		id := fmt.Sprintf("c%d", i)
		h.join(Entry{ID: id}, now)
		for _, d := range h.q.Tick(now) {
			got = append(got, d.Agent)
			h.serve(id, d.Agent, now, s)
		}
	}
	if want := []string{"a1", "a2", "a3", "a1", "a2", "a3", "a1"}; !slices.Equal(got, want) {
		t.Errorf("round-robin order %v, want %v", got, want)
	}
}

func TestQueue_RandomUsesInjectedSource(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []string {
		h := newHarness(t, Config{Strategy: StrategyRandom}, WithRand(rand.New(rand.NewPCG(seed, 1))))
		for _, id := range []string{"a1", "a2", "a3", "a4"} {
			h.agent(id, AgentReady, t0)
		}
		h.agent("a4", AgentPaused, t0)
		var got []string
		for i := range 60 {
			now := at(time.Duration(i) * s)
			id := fmt.Sprintf("c%d", i)
			h.join(Entry{ID: id}, now)
			for _, d := range h.q.Tick(now) {
				got = append(got, d.Agent)
				h.serve(id, d.Agent, now, 0)
			}
		}
		return got
	}
	a, b := run(7), run(7)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different picks:\n%v\n%v", a, b)
	}
	seen := map[string]int{}
	for _, id := range a {
		seen[id]++
	}
	if len(a) != 60 || seen["a4"] != 0 || seen["a1"] == 0 || seen["a2"] == 0 || seen["a3"] == 0 {
		t.Errorf("picks %v: want 60 spread over a1-a3, never the paused a4", seen)
	}
}

func TestQueue_PriorityOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []Entry // joined in this order, each 1s after the previous
		want    []string
	}{
		{"arrival order", []Entry{{ID: "x"}, {ID: "y"}, {ID: "z"}}, []string{"x", "y", "z"}},
		{"higher priority first", []Entry{{ID: "x"}, {ID: "y", Priority: 5}, {ID: "z", Priority: 1}}, []string{"y", "z", "x"}},
		{"priority ties by arrival", []Entry{{ID: "x", Priority: 2}, {ID: "y", Priority: 9}, {ID: "z", Priority: 2}}, []string{"y", "x", "z"}},
		{"original arrival beats join order", []Entry{{ID: "x"}, {ID: "y", Arrival: t0.Add(-time.Hour), Callback: true}, {ID: "z"}}, []string{"y", "x", "z"}},
		{"same arrival ties by join order", []Entry{{ID: "x", Arrival: t0}, {ID: "y", Arrival: t0}, {ID: "z", Arrival: t0}}, []string{"x", "y", "z"}},
		{"urgent ahead of older callbacks", []Entry{{ID: "x", Arrival: t0.Add(-time.Hour), Callback: true}, {ID: "freeze", Priority: 100}}, []string{"freeze", "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Config{})
			for i, e := range tc.entries {
				h.join(e, at(time.Duration(i)*s))
			}
			for i, id := range tc.want {
				if p, ok := h.q.Position(id); !ok || p != i+1 {
					t.Errorf("Position(%s) = %d, %v; want %d", id, p, ok, i+1)
				}
			}
			// Agents take them in that order.
			h.agent("a", AgentReady, at(time.Minute))
			var got []string
			for i := range tc.want {
				now := at(time.Minute + time.Duration(i)*s)
				for _, d := range h.q.Tick(now) {
					if d.Kind != KindRing {
						continue
					}
					got = append(got, d.Entry)
					h.must(h.q.Answered(d.Entry, "a", now))
					if d.Callback {
						h.q.Tick(now) // the dial
						if _, err := h.q.DialResult(d.Entry, now, true); err != nil {
							t.Fatal(err)
						}
					}
					h.must(h.q.Completed("a", now))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("served %v, want %v", got, tc.want)
			}
		})
	}
}

func TestQueue_WrapUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		wrapUp time.Duration
		// the agent finishes a call at t0+10s; the next caller is rung at:
		ringAt time.Duration
	}{
		{"no wrap-up", 0, 10 * s},
		{"15s wrap-up", 15 * s, 25 * s},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Config{WrapUp: tc.wrapUp})
			h.agent("a", AgentReady, t0)
			h.join(Entry{ID: "c1"}, t0)
			h.expect(t0, "ring c1 a")
			h.join(Entry{ID: "c2"}, at(s))
			h.serve("c1", "a", at(2*s), 8*s)
			if tc.wrapUp > 0 {
				if st := h.q.Snapshot().Agents[0].State; st != AgentWrapUp {
					t.Errorf("after the call the agent is %v, want wrap-up", st)
				}
				if next, ok := h.q.Next(); !ok || !next.Equal(at(25*s)) {
					t.Errorf("Next() = %v, %v; want end of wrap-up", next.Sub(t0), ok)
				}
				h.expect(at(tc.ringAt - s))
			}
			h.expect(at(tc.ringAt), "ring c2 a")
		})
	}
}

func TestQueue_RingTimeoutMovesToNextAgent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{RingTimeout: 15 * s})
	h.agent("a1", AgentReady, t0)
	h.agent("a2", AgentReady, at(s))
	h.join(Entry{ID: "c"}, at(10*s))
	h.expect(at(10*s), "ring c a1")
	h.expect(at(24 * s))
	h.expect(at(25*s), "stop-ring c a1 ring-timeout", "ring c a2")
	if err := h.q.Answered("c", "a1", at(26*s)); !errors.Is(err, ErrStale) {
		t.Errorf("late answer from a1: %v, want ErrStale", err)
	}
	// a2 declines: back to a1 (everyone tried: start over).
	h.must(h.q.Declined("c", "a2", at(27*s)))
	h.expect(at(27*s), "ring c a1")
	h.serve("c", "a1", at(28*s), time.Minute)
	if p, ok := h.q.Position("c"); ok {
		t.Errorf("served caller still queued at %d", p)
	}
}

func TestQueue_RingAllAnswerStopsOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Strategy: StrategyRingAll})
	for _, id := range []string{"a1", "a2", "a3"} {
		h.agent(id, AgentReady, t0)
	}
	h.join(Entry{ID: "c1"}, at(s))
	h.join(Entry{ID: "c2"}, at(2*s))
	h.expect(at(2*s), "ring c1 a1", "ring c1 a2", "ring c1 a3")
	h.must(h.q.Answered("c1", "a2", at(3*s)))
	h.expect(at(3*s), "stop-ring c1 a1 answered-elsewhere", "stop-ring c1 a3 answered-elsewhere",
		"ring c2 a1", "ring c2 a3")
}

func TestQueue_AgentUnavailableStopsRing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.agent("a1", AgentReady, t0)
	h.agent("a2", AgentReady, at(s))
	h.join(Entry{ID: "c"}, at(2*s))
	h.expect(at(2*s), "ring c a1")
	h.agent("a1", AgentPaused, at(3*s))
	h.expect(at(3*s), "stop-ring c a1 agent-unavailable", "ring c a2")
	h.must(h.q.Answered("c", "a2", at(4*s)))
	if err := h.q.SetAgentState("a2", AgentLoggedOut, at(5*s)); !errors.Is(err, ErrAgentBusy) {
		t.Errorf("log out mid-call: %v, want ErrAgentBusy", err)
	}
	if err := h.q.SetAgentState("a2", AgentRinging, at(5*s)); err == nil {
		t.Error("setting ringing from outside succeeded")
	}
}

func TestQueue_MaxWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(h *harness)
	}{
		{"offered at max wait, again after a refusal", func(h *harness) {
			h.join(Entry{ID: "c"}, t0)
			h.expect(at(119 * s))
			h.expect(at(120*s), "offer-callback c max-wait pos=1 wait=-1ns")
			h.expect(at(239 * s))
			h.expect(at(240*s), "offer-callback c max-wait pos=1 wait=-1ns")
		}},
		{"accepted: no more offers, place kept", func(h *harness) {
			h.join(Entry{ID: "c"}, t0)
			h.join(Entry{ID: "d"}, at(s))
			h.expect(at(120*s), "offer-callback c max-wait pos=1 wait=-1ns")
			if _, err := h.q.Callback("c", at(125*s)); err != nil {
				h.t.Fatal(err)
			}
			h.expect(at(121*s+120*s), "offer-callback d max-wait pos=2 wait=-1ns")
			h.expect(at(time.Hour), "offer-callback d max-wait pos=2 wait=-1ns")
			if p, _ := h.q.Position("c"); p != 1 {
				h.t.Errorf("callback at %d, want 1", p)
			}
		}},
		{"not while ringing; offered when the ring ends", func(h *harness) {
			h.agent("a", AgentReady, t0)
			h.join(Entry{ID: "c"}, at(110*s))
			h.expect(at(110*s), "ring c a")
			h.expect(at(110*s+120*s-s), "stop-ring c a ring-timeout", "ring c a")
			h.must(h.q.Declined("c", "a", at(110*s+125*s)))
			h.expect(at(110*s+125*s), "offer-callback c max-wait pos=1 wait=0s", "ring c a")
		}},
		{"held during a ring, offered when it times out", func(h *harness) {
			h.join(Entry{ID: "c"}, t0)
			h.agent("a", AgentReady, at(100*s))
			h.expect(at(100*s), "ring c a")
			h.expect(at(120 * s))
			h.expect(at(219*s), "stop-ring c a ring-timeout", "offer-callback c max-wait pos=1 wait=0s", "ring c a")
			h.must(h.q.Answered("c", "a", at(220*s)))
			h.expect(at(time.Hour))
		}},
		{"on joining when the estimate exceeds it", func(h *harness) {
			h.agent("a", AgentBusy, t0) // on another queue's call: staffed, not ready
			// ServiceTime 60s, one agent: 3rd caller waits 3 min > 2 min.
			if got, want := h.join(Entry{ID: "c1"}, t0), "queued c1 pos=1 wait=1m0s"; got != want {
				h.t.Errorf("c1: %s, want %s", got, want)
			}
			h.join(Entry{ID: "c2"}, t0)
			if got, want := h.join(Entry{ID: "c3"}, t0), "offer-callback c3 estimate pos=3 wait=3m0s"; got != want {
				h.t.Errorf("c3: %s, want %s", got, want)
			}
			if p, _ := h.q.Position("c3"); p != 3 {
				h.t.Errorf("offered caller not queued (position %d)", p)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(newHarness(t, Config{MaxWait: 2 * time.Minute, ServiceTime: time.Minute, AnnounceInterval: time.Hour, RingTimeout: 119 * s}))
		})
	}
}

func TestQueue_EstimatedWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		callbacks int // callbacks ahead of the caller
		busy      int // staffed agents, all busy
		ready     int
		want      time.Duration
	}{
		{"alone, agent busy", 0, 1, 0, time.Minute},
		{"two callbacks ahead", 2, 1, 0, 3 * time.Minute},
		{"two callbacks ahead, two agents", 2, 2, 0, 90 * s},
		{"ready agents cover the callbacks", 2, 1, 3, 0},
		{"no agents", 2, 0, 0, NoEstimate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Config{ServiceTime: time.Minute})
			for i := range tc.busy {
				h.agent(fmt.Sprintf("b%d", i), AgentBusy, t0)
			}
			for i := range tc.callbacks {
				// Due in an hour: they hold their place without being dialled.
				h.join(Entry{ID: fmt.Sprintf("cb%d", i), Callback: true, Due: at(time.Hour)}, t0)
			}
			for i := range tc.ready {
				h.agent(fmt.Sprintf("r%d", i), AgentReady, t0)
			}
			h.join(Entry{ID: "c"}, at(s))
			if got, ok := h.q.EstimatedWait("c"); !ok || got != tc.want {
				t.Errorf("EstimatedWait = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
}

func TestQueue_EstimateLearnsServiceTimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{ServiceTime: time.Hour, WrapUp: 10 * s})
	h.agent("a", AgentReady, t0)
	now := t0
	for i := range 60 { // more than the window: only the last 50 count
		id := fmt.Sprintf("c%d", i)
		h.join(Entry{ID: id}, now)
		h.q.Tick(now)
		talk := 50 * s
		if i < 10 {
			talk = 10 * time.Minute
		}
		h.serve(id, "a", now, talk)
		now = now.Add(talk + 10*s)
		h.q.Tick(now) // wrap-up ends
	}
	h.agent("a", AgentBusy, now)
	h.join(Entry{ID: "x"}, now)
	h.join(Entry{ID: "y"}, now)
	if got, _ := h.q.EstimatedWait("y"); got != 2*time.Minute {
		t.Errorf("estimate for position 2 = %v, want 2 × (50s talk + 10s wrap-up)", got)
	}
}

func TestQueue_CallbackAgentFirst(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Callback: CallbackConfig{InitialDelay: 30 * s, MaxAttempts: 2, RetryDelay: time.Minute}})
	h.join(Entry{ID: "c1", CallerID: "+100"}, t0)
	h.join(Entry{ID: "c2"}, at(s))
	e, err := h.q.Callback("c1", at(2*s))
	if err != nil || !e.Callback || !e.Arrival.Equal(t0) || !e.Due.Equal(at(32*s)) {
		t.Fatalf("Callback = %+v, %v", e, err)
	}
	h.join(Entry{ID: "c3"}, at(3*s))
	for id, want := range map[string]int{"c1": 1, "c2": 2, "c3": 3} {
		if p, _ := h.q.Position(id); p != want {
			t.Errorf("Position(%s) = %d, want %d", id, p, want)
		}
	}
	// Before the initial delay the callback holds its place but lets c2 go.
	h.agent("a1", AgentReady, at(10*s))
	h.expect(at(10*s), "ring c2 a1")
	h.serve("c2", "a1", at(11*s), 30*s)
	h.expect(at(41*s), "ring c1 a1 callback")
	// Agent first: the agent answers, then the caller is dialled.
	h.must(h.q.Answered("c1", "a1", at(42*s)))
	h.expect(at(42*s), "dial c1 a1")
	retry, err := h.q.DialResult("c1", at(60*s), false)
	if err != nil || !retry.Equal(at(120*s)) {
		t.Fatalf("DialResult = %v, %v; want retry at t0+120s", retry.Sub(t0), err)
	}
	// The agent is free again and takes c3; the callback keeps place 1.
	h.expect(at(60*s), "ring c3 a1")
	if p, _ := h.q.Position("c1"); p != 1 {
		t.Errorf("callback position %d after a failed attempt, want 1", p)
	}
	h.serve("c3", "a1", at(61*s), time.Minute)
	h.expect(at(121*s), "ring c1 a1 callback")
	h.must(h.q.Answered("c1", "a1", at(122*s)))
	h.expect(at(122*s), "dial c1 a1")
	final, err := h.q.DialResult("c1", at(140*s), false)
	if err != nil || !final.IsZero() {
		t.Fatalf("second failure: %v, %v; want final (max attempts 2)", final, err)
	}
	if _, ok := h.q.Position("c1"); ok {
		t.Error("failed callback still queued")
	}
}

func TestQueue_CallbackAnsweredIsServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.join(Entry{ID: "cb", Callback: true, Arrival: t0.Add(-time.Hour), Attempts: 1}, t0)
	h.agent("a", AgentReady, at(s))
	h.expect(at(s), "ring cb a callback")
	h.must(h.q.Answered("cb", "a", at(2*s)))
	h.expect(at(2*s), "dial cb a")
	if _, err := h.q.DialResult("cb", at(10*s), true); err != nil {
		t.Fatal(err)
	}
	if st := h.q.Snapshot(); len(st.Entries) != 0 || st.Agents[0].State != AgentBusy {
		t.Errorf("after the callback connects: %+v", st)
	}
	h.must(h.q.Completed("a", at(70*s)))
	if _, err := h.q.DialResult("cb", at(71*s), true); !errors.Is(err, ErrStale) {
		t.Errorf("second result: %v, want ErrStale", err)
	}
}

func TestQueue_CallbackCustomerFirst(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Callback: CallbackConfig{Mode: CallbackCustomerFirst}})
	h.agent("a1", AgentBusy, t0)
	h.agent("a2", AgentBusy, t0)
	h.join(Entry{ID: "x"}, t0)
	h.join(Entry{ID: "y"}, at(s))
	h.join(Entry{ID: "cb", Callback: true, Arrival: at(2 * s)}, at(3*s))
	// Position 3 with 2 staffed agents: not yet.
	h.expect(at(3 * s))
	h.must(h.q.SetAgentState("a1", AgentReady, at(4*s)))
	h.expect(at(4*s), "ring x a1")
	h.must(h.q.Answered("x", "a1", at(5*s)))
	// Now position 2 ≤ 2 staffed: dial the caller before an agent is free.
	h.expect(at(5*s), "dial cb")
	if _, err := h.q.DialResult("cb", at(20*s), true); err != nil {
		t.Fatal(err)
	}
	// Back on the line at the kept place: behind y, ahead of later callers.
	h.join(Entry{ID: "z"}, at(21*s))
	if p, _ := h.q.Position("cb"); p != 2 {
		t.Errorf("position %d, want 2", p)
	}
	h.agent("a2", AgentReady, at(22*s))
	h.expect(at(22*s), "ring y a2")
	h.must(h.q.Completed("a1", at(23*s)))
	h.expect(at(23*s), "ring cb a1")
}

func TestQueue_AbandonedResume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		callerID string // of the returning call
		returnAt time.Duration
		want     string
	}{
		{"within the window", "+100", 30*s + 5*time.Minute - 1, "queued back pos=1 wait=-1ns resumed"},
		{"after the window", "+100", 30*s + 5*time.Minute, "queued back pos=3 wait=-1ns"},
		{"another caller", "+200", time.Minute, "queued back pos=3 wait=-1ns"},
		{"anonymous", "", time.Minute, "queued back pos=3 wait=-1ns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Config{AbandonWindow: 5 * time.Minute, MaxWait: time.Hour})
			h.join(Entry{ID: "first", CallerID: "+100", Priority: 0}, t0)
			h.join(Entry{ID: "b"}, at(s))
			h.join(Entry{ID: "c"}, at(2*s))
			left, err := h.q.Leave("first", at(30*s), LeaveAbandoned)
			if err != nil || !left.Arrival.Equal(t0) {
				t.Fatalf("Leave = %+v, %v", left, err)
			}
			h.tick(at(tc.returnAt)) // expiry runs in Tick
			if got := h.join(Entry{ID: "back", CallerID: tc.callerID}, at(tc.returnAt)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestQueue_AbandonedRestoredAndOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.join(Entry{ID: "b"}, t0)
	h.q.RestoreAbandoned("+300", t0.Add(-time.Minute), 3, at(time.Minute))
	if got, want := h.join(Entry{ID: "r1", CallerID: "+300"}, at(s)), "queued r1 pos=1 wait=-1ns resumed"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	h.must(func() error { _, err := h.q.Leave("r1", at(2*s), LeaveExited); return err }())
	if got, want := h.join(Entry{ID: "r2", CallerID: "+300"}, at(3*s)), "queued r2 pos=2 wait=-1ns"; got != want {
		t.Errorf("a place is given back once, and leaving by choice keeps none: got %s, want %s", got, want)
	}
}

func TestQueue_NoAgentsPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		policy   NoAgentsPolicy
		joinErr  error    // joining with no agent logged in
		onLogout []string // the last agent logs out with c waiting
	}{
		{NoAgentsJoin, nil, nil},
		{NoAgentsRefuse, ErrNoAgents, nil},
		{NoAgentsLeaveWhenEmpty, ErrNoAgents, []string{"offer-callback c no-agents pos=2 wait=-1ns"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Config{NoAgents: tc.policy})
			if _, err := h.q.Join(Entry{ID: "early"}, t0); !errors.Is(err, tc.joinErr) {
				t.Errorf("join with no agents: %v, want %v", err, tc.joinErr)
			}
			if _, err := h.q.Join(Entry{ID: "cb", Callback: true}, t0); err != nil {
				t.Errorf("callbacks are always accepted: %v", err)
			}
			h.agent("a", AgentPaused, at(s)) // paused is logged in
			h.join(Entry{ID: "c"}, at(2*s))
			h.agent("a", AgentLoggedOut, at(3*s))
			h.expect(at(3*s), tc.onLogout...)
		})
	}
}

func TestQueue_MaxLength(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{MaxLength: 2})
	h.join(Entry{ID: "c1"}, t0)
	h.join(Entry{ID: "c2"}, t0)
	if _, err := h.q.Join(Entry{ID: "c3"}, t0); !errors.Is(err, ErrFull) {
		t.Fatalf("third caller: %v, want ErrFull", err)
	}
	// Callbacks do not occupy a line: restoring one is accepted, and a
	// caller who takes one frees a line.
	if _, err := h.q.Join(Entry{ID: "cb", Callback: true}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := h.q.Callback("c1", at(s)); err != nil {
		t.Fatal(err)
	}
	h.join(Entry{ID: "c3"}, at(2*s))
	if _, err := h.q.Join(Entry{ID: "c4"}, at(2*s)); !errors.Is(err, ErrFull) {
		t.Fatalf("fourth caller: %v, want ErrFull", err)
	}
	if _, err := h.q.Leave("c2", at(3*s), LeaveAbandoned); err != nil {
		t.Fatal(err)
	}
	h.join(Entry{ID: "c4"}, at(3*s))
	if _, err := h.q.Join(Entry{ID: "c4"}, at(3*s)); err == nil {
		t.Error("duplicate ID accepted")
	}
}

func TestQueue_Announcements(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{AnnounceInterval: 30 * s, MaxWait: 100 * s, ServiceTime: time.Minute})
	h.agent("a", AgentBusy, t0)
	h.join(Entry{ID: "c1"}, t0)
	h.join(Entry{ID: "c2"}, at(10*s))
	h.expect(at(30*s), "announce c1 pos=1 wait=1m0s")
	h.expect(at(40*s), "announce c2 pos=2 wait=2m0s")
	if _, err := h.q.Leave("c1", at(45*s), LeaveAbandoned); err != nil {
		t.Fatal(err)
	}
	h.expect(at(70*s), "announce c2 pos=1 wait=1m0s")
	// At max wait the offer replaces the announcement due at the same time.
	h.expect(at(110*s), "offer-callback c2 max-wait pos=1 wait=1m0s")
	if next, _ := h.q.Next(); !next.Equal(at(140 * s)) {
		t.Errorf("Next = t0+%v, want t0+140s", next.Sub(t0))
	}
}

func TestQueue_LeaveReleasesAgents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Strategy: StrategyRingAll})
	h.agent("a1", AgentReady, t0)
	h.agent("a2", AgentReady, t0)
	h.join(Entry{ID: "c"}, t0)
	h.expect(t0, "ring c a1", "ring c a2")
	if _, err := h.q.Leave("c", at(s), LeaveAbandoned); err != nil {
		t.Fatal(err)
	}
	h.expect(at(s), "stop-ring c a1 entry-gone", "stop-ring c a2 entry-gone")
	if st := h.q.Snapshot(); st.Ready != 2 || len(st.Entries) != 0 {
		t.Errorf("snapshot after leave: %+v", st)
	}
	// A reserved agent (agent-first callback) is released when the callback is canceled.
	h.join(Entry{ID: "cb", Callback: true}, at(2*s))
	h.expect(at(2*s), "ring cb a1 callback", "ring cb a2 callback")
	h.must(h.q.Answered("cb", "a2", at(3*s)))
	h.expect(at(3*s), "stop-ring cb a1 answered-elsewhere", "dial cb a2")
	if _, err := h.q.Leave("cb", at(4*s), LeaveCanceled); err != nil {
		t.Fatal(err)
	}
	h.expect(at(4*s), "stop-ring cb a2 entry-gone")
	if st := h.q.Snapshot(); st.Ready != 2 {
		t.Errorf("reserved agent not released: %+v", st.Agents)
	}
	if _, err := h.q.Leave("cb", at(5*s), LeaveCanceled); !errors.Is(err, ErrNotFound) {
		t.Errorf("second leave: %v, want ErrNotFound", err)
	}
}

func TestQueue_NextDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{RingTimeout: 20 * s, MaxWait: time.Hour, AnnounceInterval: time.Hour})
	if _, ok := h.q.Next(); ok {
		t.Error("empty queue has a deadline")
	}
	h.agent("a", AgentReady, t0)
	h.join(Entry{ID: "c"}, t0)
	h.tick(t0)
	if next, ok := h.q.Next(); !ok || !next.Equal(at(20*s)) {
		t.Errorf("Next = t0+%v, %v; want the ring timeout", next.Sub(t0), ok)
	}
	// A due callback with no agent ready needs no timer (no busy loop).
	h.must(h.q.Answered("c", "a", at(s)))
	h.join(Entry{ID: "cb", Callback: true}, at(2*s))
	h.tick(at(2 * s))
	h.tick(at(3 * s))
	if next, ok := h.q.Next(); ok {
		t.Errorf("Next = t0+%v: want nothing scheduled", next.Sub(t0))
	}
	h.join(Entry{ID: "d"}, at(4*s))
	if next, ok := h.q.Next(); !ok || !next.Equal(at(4*s+time.Hour)) {
		t.Errorf("Next = t0+%v, %v; want d's offer", next.Sub(t0), ok)
	}
}

func TestNames_RoundTrip(t *testing.T) {
	t.Parallel()
	if KindOfferCallback.String() != "offer-callback" || ReasonAnsweredElsewhere.String() != "answered-elsewhere" || Kind(99).String() != "kind(99)" {
		t.Errorf("kind and reason names: %v %v %v", KindOfferCallback, ReasonAnsweredElsewhere, Kind(99))
	}
	for s := AgentLoggedOut; s <= AgentPaused; s++ {
		got, err := ParseAgentState(s.String())
		if err != nil || got != s {
			t.Errorf("ParseAgentState(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseAgentState("lunch"); err == nil {
		t.Error("unknown state parsed")
	}
}

// check verifies the queue's internal invariants.
func (q *Queue) check() error {
	var loggedIn, staffed, ready, ringing int
	rings := map[*entry]int{}
	for _, a := range q.agentList {
		switch a.state {
		case AgentReady:
			ready++
		case AgentRinging:
			ringing++
			if a.entry == nil || a.entry.gone || a.entry.state != entryRinging {
				return fmt.Errorf("agent %s rings for a bad entry %+v", a.id, a.entry)
			}
			rings[a.entry]++
		case AgentBusy:
			if a.entry != nil && (a.entry.reserved != a || a.entry.state != entryDialing) {
				return fmt.Errorf("agent %s reserved for %s in state %d", a.id, a.entry.ID, a.entry.state)
			}
		}
		if a.state != AgentRinging && a.state != AgentBusy && a.entry != nil {
			return fmt.Errorf("agent %s (%v) holds entry %s", a.id, a.state, a.entry.ID)
		}
		if !a.serviceStart.IsZero() && (a.state != AgentBusy || a.entry != nil) {
			return fmt.Errorf("agent %s serving in state %v", a.id, a.state)
		}
		if a.state != AgentLoggedOut {
			loggedIn++
			if a.state != AgentPaused {
				staffed++
			}
		}
	}
	if loggedIn != q.loggedIn || staffed != q.staffed || ready != q.ready || ringing != q.ringing {
		return fmt.Errorf("counters %d/%d/%d/%d, recount %d/%d/%d/%d",
			q.loggedIn, q.staffed, q.ready, q.ringing, loggedIn, staffed, ready, ringing)
	}
	if len(q.order) != len(q.entries) {
		return fmt.Errorf("%d ordered, %d entries", len(q.order), len(q.entries))
	}
	live := 0
	for i, e := range q.order {
		if i > 0 && before(q.order[i-1], e) >= 0 {
			return fmt.Errorf("order broken at %d", i)
		}
		if q.entries[e.ID] != e || e.gone {
			return fmt.Errorf("entry %s not indexed", e.ID)
		}
		if e.line {
			live++
		}
		if e.rings != rings[e] || (e.state == entryRinging) != (e.rings > 0) {
			return fmt.Errorf("entry %s: %d rings counted, %d agents ringing, state %d", e.ID, e.rings, rings[e], e.state)
		}
		if e.state == entryDialing && e.reserved == nil && q.cfg.Callback.Mode == CallbackAgentFirst {
			return fmt.Errorf("agent-first entry %s dialling without an agent", e.ID)
		}
	}
	if live != q.live {
		return fmt.Errorf("live %d, counted %d", q.live, live)
	}
	return nil
}

// Random events in every strategy and callback mode keep the invariants,
// and every ring, stop and dial the queue decides is consistent with what
// it decided before.
func TestQueue_RandomEventsKeepInvariants(t *testing.T) {
	t.Parallel()
	for _, st := range strategies {
		for _, mode := range []CallbackMode{CallbackAgentFirst, CallbackCustomerFirst} {
			t.Run(string(st)+"/"+string(mode), func(t *testing.T) {
				t.Parallel()
				r := rand.New(rand.NewPCG(uint64(len(st)), uint64(len(mode))))
				h := newHarness(t, Config{
					Strategy: st, WrapUp: 5 * s, MaxLength: 40, MaxWait: time.Minute, RingTimeout: 10 * s,
					AnnounceInterval: 20 * s, NoAgents: NoAgentsJoin,
					Callback: CallbackConfig{Mode: mode, MaxAttempts: 2, RetryDelay: 30 * s},
				}, WithRand(r))
				q := h.q
				ringingPairs := map[[2]string]bool{} // entry, agent
				dialing := map[string]bool{}
				serving := map[string]bool{}
				now := t0
				pick := func(m map[string]bool) string {
					keys := make([]string, 0, len(m))
					for k := range m {
						keys = append(keys, k)
					}
					slices.Sort(keys)
					if len(keys) == 0 {
						return ""
					}
					return keys[r.IntN(len(keys))]
				}
				for step := range 3000 {
					now = now.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
					switch op := r.IntN(10); op {
					case 0, 1:
						_, _ = q.Join(Entry{ID: fmt.Sprint("c", step), CallerID: fmt.Sprint("+", r.IntN(30)), Priority: r.IntN(3),
							Callback: r.IntN(5) == 0}, now)
					case 2:
						if len(q.order) > 0 {
							e := q.order[r.IntN(len(q.order))]
							_, _ = q.Leave(e.ID, now, LeaveReason(1+r.IntN(3)))
						}
					case 3:
						if len(q.order) > 0 {
							_, _ = q.Callback(q.order[r.IntN(len(q.order))].ID, now)
						}
					case 4:
						_ = q.SetAgentState(fmt.Sprint("a", r.IntN(6)), []AgentState{AgentLoggedOut, AgentReady, AgentReady, AgentPaused, AgentBusy}[r.IntN(5)], now)
					case 5, 6:
						var keys [][2]string
						for k := range ringingPairs {
							keys = append(keys, k)
						}
						slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+a[1], b[0]+b[1]) })
						if len(keys) > 0 {
							k := keys[r.IntN(len(keys))]
							delete(ringingPairs, k)
							if op == 5 {
								if q.Answered(k[0], k[1], now) == nil && !strings.HasPrefix(q.entryKind(k[0]), "dial") {
									serving[k[1]] = true
								}
							} else {
								_ = q.Declined(k[0], k[1], now)
							}
						}
					case 7:
						if id := pick(dialing); id != "" {
							delete(dialing, id)
							agent := ""
							if e, ok := q.entries[id]; ok && e.reserved != nil {
								agent = e.reserved.id
							}
							if _, err := q.DialResult(id, now, r.IntN(2) == 0); err == nil && agent != "" {
								if a := q.agents[agent]; !a.serviceStart.IsZero() {
									serving[agent] = true
								}
							}
						}
					case 8:
						if id := pick(serving); id != "" {
							delete(serving, id)
							_ = q.Completed(id, now)
						}
					}
					for _, d := range q.Tick(now) {
						switch d.Kind {
						case KindRing:
							ringingPairs[[2]string{d.Entry, d.Agent}] = true
						case KindStopRing:
							delete(ringingPairs, [2]string{d.Entry, d.Agent})
						case KindDial:
							dialing[d.Entry] = true
						}
					}
					if err := q.check(); err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
					if next, ok := q.Next(); ok && next.Before(now) {
						t.Fatalf("step %d: after Tick, Next is %v in the past (the dispatcher would spin)", step, now.Sub(next))
					}
				}
				sn := q.Snapshot()
				t.Logf("end: %d on line, %d callbacks, %d agents", sn.OnLine, sn.Callbacks, len(sn.Agents))
			})
		}
	}
}

// entryKind names what an entry waits for, for the random test.
func (q *Queue) entryKind(id string) string {
	e, ok := q.entries[id]
	switch {
	case !ok:
		return "gone"
	case e.state == entryDialing:
		return "dialing"
	}
	return "waiting"
}

// A dial the engine could not place (its call limit) is postponed: not an attempt, the
// reserved agent is free, and the callback keeps its place until it is due again.
func TestQueue_DialPostponed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Callback: CallbackConfig{MaxAttempts: 1, RetryDelay: time.Minute}})
	h.join(Entry{ID: "cb", Callback: true, Arrival: t0.Add(-time.Hour)}, t0)
	h.agent("a", AgentReady, at(s))
	h.expect(at(s), "ring cb a callback")
	h.must(h.q.Answered("cb", "a", at(2*s)))
	h.expect(at(2*s), "dial cb a")
	h.must(h.q.Postpone("cb", at(3*s), at(10*s)))
	h.join(Entry{ID: "late"}, at(4*s))
	h.expect(at(4*s), "ring late a")
	if p, _ := h.q.Position("cb"); p != 1 {
		t.Errorf("postponed callback at position %d, want 1", p)
	}
	if err := h.q.Postpone("cb", at(5*s), at(10*s)); !errors.Is(err, ErrStale) {
		t.Errorf("second postpone: %v, want ErrStale", err)
	}
	h.serve("late", "a", at(5*s), 10*s)
	h.expect(at(15*s), "ring cb a callback")
	h.must(h.q.Answered("cb", "a", at(16*s)))
	h.expect(at(16*s), "dial cb a")
	// MaxAttempts 1: the postponed dial did not use it up.
	if retry, err := h.q.DialResult("cb", at(17*s), false); err != nil || !retry.IsZero() {
		t.Errorf("DialResult = %v, %v; want final after the one real attempt", retry, err)
	}
}
