package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childConfigEnv); cfg != "" {
		runChild(cfg) // a server in its own process, for the crash tests
		return
	}
	dir, err := os.MkdirTemp("", "hotline-e2e-prompts-")
	if err == nil {
		err = writeShortPrompts(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "short prompts:", err)
		os.Exit(1)
	}
	shortPrompts = dir
	goleak.VerifyTestMain(runThen{m, func() { os.RemoveAll(dir) }})
}

// runThen runs the tests, then after (before goleak looks for leaks).
type runThen struct {
	m     *testing.M
	after func()
}

func (r runThen) Run() int {
	defer r.after()
	return r.m.Run()
}

const e2eConfig = "../../testdata/menus/e2e.yaml"

// startTestServer runs the real server (the same start/run as `hotline serve`) on ephemeral
// loopback ports with the e2e config, and returns it with the prompts a phone can recognise.
func startTestServer(t *testing.T) (*server, map[string]*media.Prompt) {
	t.Helper()
	return startTestServerWith(t, e2eConfig)
}

// e2eConfigWith writes the e2e config plus extra top-level YAML to a temporary file.
func e2eConfigWith(t *testing.T, extra string) string {
	t.Helper()
	prompts, _ := filepath.Abs("../../testdata/prompts")
	return e2eConfigIn(t, prompts, extra)
}

// e2eConfigIn writes the e2e config with its prompts from the directory prompts, plus extra
// top-level YAML, to a temporary file.
func e2eConfigIn(t *testing.T, prompts, extra string) string {
	t.Helper()
	orig, err := os.ReadFile(e2eConfig)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hotline.yaml")
	data := strings.ReplaceAll(string(orig), "../prompts", prompts) + "\n" + extra
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func startTestServerWith(t *testing.T, cfgPath string) (*server, map[string]*media.Prompt) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := start(ctx, cfgPath, log)
	if err != nil {
		cancel()
		t.Fatalf("start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx, nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server run: %v", err)
		}
	})
	l, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	return s, menu.Prompts
}

func dial(t *testing.T, ctx context.Context, s *server, prompts map[string]*media.Prompt, transport string) *phone.Phone {
	t.Helper()
	p, err := phone.Dial(ctx, "sip:hotline@"+s.SIPAddr, phone.Options{
		FromUser: "alice", FromDisplay: "Alice", Prompts: prompts, Transport: transport,
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { hangupQuietly(p) })
	return p
}

// expectPrompts asserts the next prompts heard, in order, and returns them.
func expectPrompts(t *testing.T, ctx context.Context, p *phone.Phone, want ...string) []phone.Heard {
	t.Helper()
	var got []phone.Heard
	for _, w := range want {
		h, err := p.NextPrompt(ctx)
		if err != nil {
			t.Fatalf("waiting for prompt %q (heard so far %v): %v", w, names(p.Heard()), err)
		}
		if h.Prompt != w {
			t.Fatalf("heard prompt %q, want %q (all heard: %v)", h.Prompt, w, names(p.Heard()))
		}
		got = append(got, h)
	}
	return got
}

func names(hs []phone.Heard) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Prompt)
	}
	return out
}

func expectRemoteHangup(t *testing.T, p *phone.Phone) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("server did not hang up")
	}
}

// finishedCall polls the admin API until the call shows as finished.
func finishedCall(t *testing.T, s *server, callID string) *ivr.CallRecord {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var resp ivr.CallsResponse
		getJSON(t, "http://"+s.AdminAddr+"/api/v1/calls", &resp)
		for _, r := range resp.Finished {
			if r.CallID == callID {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("call %s never showed as finished in /api/v1/calls", callID)
	return nil
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A caller hears the root prompt, goes to the sub-menu with RFC 4733 key 1, presses an invalid
// key, lets the digit timer run out twice, and is said goodbye to and hung up on politely.
// The walk hears seven prompts to their ends: they are the shortened ones (menuPromptFrames).
func TestE2E_MenuWalkTimeoutAndRetryLimit(t *testing.T) {
	t.Parallel()
	s, prompts := startTestServerWith(t, e2eConfigIn(t, shortPromptDir("menu"), ""))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	p := dial(t, ctx, s, prompts, "udp")

	if h := expectPrompts(t, ctx, p, "main"); h[0].Offset != 0 {
		t.Errorf("root prompt heard from frame %d, want its start", h[0].Offset)
	}
	if err := p.Press(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	expectPrompts(t, ctx, p, "sub")
	if err := p.Press(ctx, "9"); err != nil {
		t.Fatal(err)
	}
	expectPrompts(t, ctx, p, "invalid", "sub")
	// No key: the digit timer (400 ms) replays the prompt, then the retry limit (2) ends the call.
	expectPrompts(t, ctx, p, "timeout", "sub", "goodbye")
	expectRemoteHangup(t, p)

	rec := finishedCall(t, s, p.ID())
	if rec.Outcome != ivr.OutcomeMaxRetries {
		t.Errorf("outcome %q, want %q", rec.Outcome, ivr.OutcomeMaxRetries)
	}
	if rec.Caller.User != "alice" || rec.Caller.Display != "Alice" {
		t.Errorf("caller %+v, want alice/Alice", rec.Caller)
	}
	var nodes, keys, played []string
	for _, n := range rec.Nodes {
		nodes = append(nodes, n.Node)
	}
	for _, k := range rec.Keys {
		keys = append(keys, k.Key+"/"+k.Mode+"@"+k.Node)
	}
	for _, pp := range rec.Prompts {
		played = append(played, pp.Prompt)
	}
	if want := []string{"main", "sub"}; !slices.Equal(nodes, want) {
		t.Errorf("nodes %v, want %v", nodes, want)
	}
	if want := []string{"1/rfc4733@main", "9/rfc4733@sub"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if want := []string{"main", "sub", "invalid", "sub", "timeout", "sub", "goodbye"}; !slices.Equal(played, want) {
		t.Errorf("prompts %v, want %v", played, want)
	}
	metrics := getText(t, "http://"+s.AdminAddr+"/metrics")
	for _, want := range []string{
		`hotline_dtmf_digits_total{mode="rfc4733",trunk="default"} 2`,
		`hotline_calls_total{direction="inbound",kind="caller",outcome="max_retries"} 1`,
		`hotline_calls_active 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// Barge-in and play-and-return over SIP/TCP: key 2 cuts the root prompt short for the
// information prompt, the root prompt follows, and key 0 ends the call with goodbye (BYE over TCP).
func TestE2E_BargeInPlayAndReturnGoodbyeTCP(t *testing.T) {
	t.Parallel()
	s, prompts := startTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	p := dial(t, ctx, s, prompts, "tcp")

	first := expectPrompts(t, ctx, p, "main")
	if err := p.Press(ctx, "2"); err != nil {
		t.Fatal(err)
	}
	info := expectPrompts(t, ctx, p, "info")
	if gap, full := info[0].At.Sub(first[0].At), prompts["main"].Duration(); gap >= full {
		t.Errorf("info began %v after main, not before main's end (%v): no barge-in", gap, full)
	}
	expectPrompts(t, ctx, p, "main")
	if err := p.Press(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	expectPrompts(t, ctx, p, "goodbye")
	expectRemoteHangup(t, p)
	rec := finishedCall(t, s, p.ID())
	if rec.Outcome != ivr.OutcomeGoodbye {
		t.Errorf("outcome %q, want %q", rec.Outcome, ivr.OutcomeGoodbye)
	}
}

// A caller who hangs up mid-menu is recorded as such, and the live list empties.
func TestE2E_CallerHangsUp(t *testing.T) {
	t.Parallel()
	s, prompts := startTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := dial(t, ctx, s, prompts, "udp")
	expectPrompts(t, ctx, p, "main")

	var resp ivr.CallsResponse
	getJSON(t, "http://"+s.AdminAddr+"/api/v1/calls", &resp)
	if len(resp.Live) != 1 || resp.Live[0].CallID != p.ID() {
		t.Fatalf("live calls %+v, want just %s", resp.Live, p.ID())
	}
	if err := p.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	rec := finishedCall(t, s, p.ID())
	if rec.Outcome != ivr.OutcomeCallerHangup {
		t.Errorf("outcome %q, want %q", rec.Outcome, ivr.OutcomeCallerHangup)
	}
}

// An offer with no codec Hotline speaks is refused with 488 and nothing is answered.
func TestE2E_NoCommonCodecIs488(t *testing.T) {
	t.Parallel()
	s, _ := startTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := siptest.NewClient(siptest.ClientConfig{UserAgent: "test", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
	_, err = c.Dial(ctx, "sip:hotline@"+s.SIPAddr, []byte(offer), sip.DialOptions{FromUser: "bob"})
	var rej *sip.RejectError
	if !errors.As(err, &rej) || rej.Code != 488 {
		t.Fatalf("dial with G.729 only: %v, want a 488 rejection", err)
	}
}

// hangupQuietly ends a phone's call at cleanup without waiting on a server already gone.
func hangupQuietly(p *phone.Phone) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.Hangup(ctx)
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
