package queue_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/queue"
)

// BenchmarkQueueOffer10k measures one dispatcher decision with 10,000
// callers waiting and 500 agents, all busy: an agent finishes a call, Tick
// offers the head caller to them (and hands out the announcements and
// callback offers that fell due), the agent answers, a new caller joins at
// the tail. Simulated time advances 10 ms per decision, so the timer scan
// over all waiting callers runs on most Ticks. Reports p50/p99/max per
// decision (goal: p99 ≤ 1 ms).
func BenchmarkQueueOffer10k(b *testing.B) {
	const callers, agents = 10_000, 500
	t0 := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	q, err := queue.New(queue.Config{Name: "bench", MaxWait: 10 * time.Minute, WrapUp: 0})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = fmt.Sprintf("agent-%03d", i)
		if err := q.SetAgentState(ids[i], queue.AgentReady, t0); err != nil {
			b.Fatal(err)
		}
	}
	seq := 0
	join := func(now time.Time) {
		seq++
		// One caller in 20 has a priority; the rest queue by arrival.
		e := queue.Entry{ID: fmt.Sprintf("call-%07d", seq), CallerID: fmt.Sprintf("+1555%07d", seq), Priority: seq % 20 / 19}
		if _, err := q.Join(e, now); err != nil {
			b.Fatal(err)
		}
	}
	now := t0
	for range callers + agents {
		now = now.Add(30 * time.Millisecond) // arrivals spread over 5 minutes
		join(now)
	}
	for _, d := range q.Tick(now) {
		if d.Kind == queue.KindRing {
			if err := q.Answered(d.Entry, d.Agent, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	if s := q.Snapshot(); s.OnLine != callers || s.Ready != 0 {
		b.Fatalf("setup: %d waiting, %d ready", s.OnLine, s.Ready)
	}

	lat := make([]time.Duration, 0, 1<<16)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(10 * time.Millisecond)
		a := ids[i%agents]
		i++
		start := time.Now()
		if err := q.Completed(a, now); err != nil {
			b.Fatal(err)
		}
		rung := false
		for _, d := range q.Tick(now) {
			if d.Kind == queue.KindRing {
				if err := q.Answered(d.Entry, d.Agent, now); err != nil {
					b.Fatal(err)
				}
				rung = true
			}
		}
		lat = append(lat, time.Since(start))
		if !rung {
			b.Fatal("no ring for a free agent")
		}
		join(now)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns/decision")
	b.ReportMetric(pct(0.99), "p99-ns/decision")
	b.ReportMetric(pct(1), "max-ns/decision")
}
