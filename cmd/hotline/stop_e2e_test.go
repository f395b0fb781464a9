package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/queue/store"
)

// Stopping a real server with callers on hold (SIP, RTP and SQLite on loopback) ends every
// call with a BYE, keeps every caller's place in the store for abandon_window, and returns
// promptly; goleak (TestMain) finds nothing left running.
func TestE2E_StopKeepsThePlacesOfCallersOnHold(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cfg := queueConfig(t, data, "    abandon_window: 10m\n    announce_interval: 30s\n", "", "")
	// Forty callers pressing 3 at once on a loaded machine can be slower than the e2e
	// menu's 400 ms digit timer; a caller it ran out on would hear "timeout" before the music.
	writeFile(t, cfg, strings.Replace(mustRead(t, cfg), "digit_timeout: 400ms", "digit_timeout: 10s", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(context.Background())
	s, err := start(sctx, cfg, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(sctx, nil, nil) }()
	l, _ := loadConfig(cfg)
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	prompts := withSystemPrompts(t, menu.Prompts)

	const n = 40
	phones := make([]*phone.Phone, n)
	for i := range n {
		phones[i] = dialAs(t, ctx, s, prompts, fmt.Sprint("caller", i))
	}
	pressed := make(chan error, n)
	for _, p := range phones { // they all hear the greeting at once, and press 3 together
		go func() {
			if _, err := p.WaitPrompt(ctx, "main"); err != nil {
				pressed <- err
				return
			}
			pressed <- p.Press(ctx, "3")
		}()
	}
	for range n {
		if err := <-pressed; err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range phones {
		expectPrompts(t, ctx, p, "moh")
	}
	waitOnLine(t, s, n)

	t0 := time.Now()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("stopping with %d callers on hold took %v", n, took)
	}
	for i, p := range phones {
		select {
		case <-p.Done():
		case <-ctx.Done():
			t.Fatalf("caller %d was not hung up", i)
		}
	}
	db, err := store.Open(filepath.Join(data, "hotline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kept, err := db.ListAbandoned(ctx, "support", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != n {
		t.Fatalf("%d places kept in the store, want %d", len(kept), n)
	}
	for _, a := range kept {
		if a.Expires.Before(t0.Add(9 * time.Minute)) {
			t.Errorf("place of %s kept until %v, want the 10 min abandon window", a.Caller, a.Expires)
		}
	}
}

// waitOnLine polls the queues API until n callers wait on the line in queue support.
func waitOnLine(t *testing.T, s *server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var qs struct {
			Queues []struct {
				OnLine int `json:"on_line"`
			} `json:"queues"`
		}
		getJSON(t, "http://"+s.AdminAddr+"/api/v1/queues", &qs)
		if len(qs.Queues) == 1 && qs.Queues[0].OnLine == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues %+v, want %d on the line", qs.Queues, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
