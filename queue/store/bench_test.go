package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkCreateFreeze measures key press → durable record on the store
// side: one committed (fsync'd) transaction writing the freeze and its
// outbox row. Reports p50/p99.
func BenchmarkCreateFreeze(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	body := func(f Freeze) ([]byte, error) { return fmt.Appendf(nil, `{"reference":%q}`, f.Reference), nil }
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		if _, _, err := db.CreateFreeze(ctx, NewFreeze{Account: fmt.Sprint("acct-", i), Window: time.Minute, Webhook: body}, at(time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	report(b, lat)
}

// BenchmarkClaimAndComplete measures one callback's durable life: add,
// claim, start the attempt, complete it (four commits).
func BenchmarkClaimAndComplete(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		now := at(time.Duration(i) * time.Millisecond)
		start := time.Now()
		c, err := db.AddCallback(ctx, NewCallback{Queue: "q", CallerNumber: "+1"}, now)
		if err == nil {
			_, err = db.ClaimCallback(ctx, c.ID, "n", now, time.Minute)
		}
		if err == nil {
			_, err = db.StartAttempt(ctx, c.ID, "n", now, time.Minute)
		}
		if err == nil {
			_, err = db.CompleteAttempt(ctx, c.ID, "n", now, OutcomeAnswered, time.Time{})
		}
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	report(b, lat)
}

func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
}
