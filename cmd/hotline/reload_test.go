package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/ivr/phone"
)

// editors write a file the ways real editors do.
var editors = []struct {
	name  string
	write func(t *testing.T, path string, data []byte)
}{
	{"in place", func(t *testing.T, path string, data []byte) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		// Two writes, as editors that flush in pieces do: the first can be seen half-done.
		f.Write(data[:len(data)/2])
		f.Sync()
		f.Write(data[len(data)/2:])
		f.Close()
	}},
	{"rename", func(t *testing.T, path string, data []byte) {
		tmp := path + ".swp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}},
	{"delete and recreate", func(t *testing.T, path string, data []byte) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}},
}

func menuStatus(t *testing.T, s *server) ivr.MenuStatus {
	var st ivr.MenuStatus
	getJSON(t, "http://"+s.AdminAddr+"/api/v1/menu", &st)
	return st
}

func waitVersionChange(t *testing.T, s *server, from string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if v := menuStatus(t, s).Version; v != from {
			return v
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("menu version stayed %s after the edit; last reload: %+v", from, menuStatus(t, s).Last)
	return ""
}

// pressTwo presses 2 at the root and returns the prompt that follows: "info" on the
// original tree, "timeout" on the edited one.
func pressTwo(t *testing.T, ctx context.Context, p *phone.Phone) string {
	t.Helper()
	if err := p.Press(ctx, "2"); err != nil {
		t.Fatal(err)
	}
	h, err := p.NextPrompt(ctx)
	if err != nil {
		t.Fatalf("after key 2: %v", err)
	}
	return h.Prompt
}

// The config file is rewritten in each editor style while calls are in progress: every call
// keeps the tree it started with, new calls get the new one, nothing is dropped, and a
// broken edit is refused with its reasons while the running tree stays.
func TestE2E_HotReloadKeepsCallsOnTheirTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prompts, _ := filepath.Abs("../../testdata/prompts")
	orig, err := os.ReadFile(e2eConfig)
	if err != nil {
		t.Fatal(err)
	}
	// A long digit timeout keeps the first call waiting quietly at the root through every edit.
	v1 := []byte(strings.NewReplacer("../prompts", prompts, "digit_timeout: 400ms", "digit_timeout: 60s").Replace(string(orig)))
	v2 := []byte(strings.Replace(string(v1), `"2": {action: play, prompt: info}`, `"2": {action: play, prompt: timeout}`, 1))
	path := filepath.Join(dir, "hotline.yaml")
	if err := os.WriteFile(path, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(context.Background()) // outlives ctx: phones hang up first
	s, err := start(sctx, path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(sctx, nil, nil) }()
	t.Cleanup(func() { stop(); <-done }) // after the phones' cleanups hang them up
	l, _ := loadConfig(path)
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	dialer := func() *phone.Phone {
		p, err := phone.Dial(ctx, "sip:hotline@"+s.SIPAddr, phone.Options{Prompts: menu.Prompts, FromUser: "reload", DigitDuration: shortPress, KeyGap: shortGap})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hangupQuietly(p) })
		expectPrompts(t, ctx, p, "main")
		return p
	}

	first := dialer() // stays up through every edit, on the original tree
	version := menuStatus(t, s).Version
	calls := map[*phone.Phone]string{first: "info"}
	content := [][]byte{v2, v1, v2}
	want := []string{"timeout", "info", "timeout"}
	for i, ed := range editors {
		ed.write(t, path, content[i])
		version = waitVersionChange(t, s, version)
		p := dialer()
		calls[p] = want[i]
		if got := pressTwo(t, ctx, p); got != want[i] {
			t.Errorf("after the %s edit a new call heard %q for key 2, want %q", ed.name, got, want[i])
		}
	}

	// A broken edit: refused, reasons in the API, running tree unchanged.
	broken := strings.Replace(string(v2), "target: sub}", "target: nowhere}", 1)
	editors[1].write(t, path, []byte(broken))
	deadline := time.Now().Add(5 * time.Second)
	var st ivr.MenuStatus
	for st = menuStatus(t, s); (st.Last == nil || st.Last.OK) && time.Now().Before(deadline); st = menuStatus(t, s) {
		time.Sleep(20 * time.Millisecond)
	}
	if st.Last == nil || st.Last.OK || st.Version != version {
		t.Fatalf("broken edit: status %+v, want refused with version %s kept", st, version)
	}
	if len(st.Last.Problems) == 0 || !strings.Contains(st.Last.Problems[0], `unknown node "nowhere"`) ||
		!strings.HasPrefix(st.Last.Problems[0], path+":") {
		t.Errorf("refusal problems %q, want the file, line and the unknown node", st.Last.Problems)
	}
	if got := pressTwo(t, ctx, dialer()); got != "timeout" {
		t.Errorf("after the refused edit a new call heard %q, want the running tree's %q", got, "timeout")
	}

	// POST /api/v1/reload reports the same refusal.
	resp, err := http.Post("http://"+s.AdminAddr+"/api/v1/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("POST /api/v1/reload with a broken file: %s, want 422", resp.Status)
	}

	// The first call, still up through all of it, is on the original tree.
	if got := pressTwo(t, ctx, first); got != "info" {
		t.Errorf("the call begun before the edits heard %q for key 2, want %q (its own tree)", got, "info")
	}
	for p := range calls {
		select {
		case <-p.Done():
			t.Errorf("call %s was dropped by a reload", p.ID())
		default:
		}
	}
}
