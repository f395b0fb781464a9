package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/media"
)

// queueConfig writes the e2e config with a hold queue "support" behind key 3, agents and
// queue settings given as YAML.
func queueConfig(t *testing.T, dataDir, queueYAML, agentsYAML, sipYAML string) string {
	t.Helper()
	return withQueue(t, e2eConfigWith(t, "data_dir: "+dataDir+"\n"), queueYAML, agentsYAML, sipYAML)
}

// withQueue adds queue "support" (key 3 at the root) to the config file at path, with the
// shortened system prompts (see sysPromptFrames).
func withQueue(t *testing.T, path, queueYAML, agentsYAML, sipYAML string) string {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b += "\nsystem_prompts: " + shortPromptDir("system") + "\nqueues:\n  support:\n" + queueYAML + agentsYAML
	cfg := strings.Replace(b, `"2": {action: play, prompt: info}`, `"2": {action: play, prompt: info}`+"\n        \"3\": {action: enqueue, queue: support}", 1)
	if sipYAML != "" {
		cfg = strings.Replace(cfg, "sip:\n", "sip:\n"+sipYAML, 1)
	}
	return writeFile(t, path, cfg)
}

// withSystemPrompts adds the queue prompts the test servers play (music, numbers,
// phrases: the shortened system prompts) to a phone's recognition set.
func withSystemPrompts(t *testing.T, prompts map[string]*media.Prompt) map[string]*media.Prompt {
	t.Helper()
	out := maps.Clone(prompts)
	names := append([]string{"moh", "queue/en/callback_offer", "queue/en/callback_confirmed", "queue/en/connecting",
		"queue/en/callback_enter_number", "queue/en/callback_refused", "queue/en/callback_you_entered",
		"queue/en/callback_confirm_number", "queue/en/overload_offer"}, media.SayPrompts(media.LangEN)...)
	for _, n := range names {
		p, err := loadShortPrompt("system", n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = p
	}
	return out
}

// A caller in a queue with no agent hears music and their position, is offered a callback
// at the queue's max wait, takes it with 1, hears the confirmation, and the callback is in
// the store (committed before the confirmation played) with the caller's place.
func TestE2E_QueueMaxWaitOffersCallbackThatIsStored(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    announce_interval: 300ms\n    max_wait: 900ms\n", "", "")
	s, prompts := startTestServerWith(t, cfg)
	prompts = withSystemPrompts(t, prompts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := dialAs(t, ctx, s, prompts, "carol")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "3")
	expectPrompts(t, ctx, p, "moh")
	before, err := p.WaitPrompt(ctx, "queue/en/callback_offer")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(before); !slices.Contains(got, "queue/en/caller_number") || !slices.Contains(got, "numbers/en/1") {
		t.Errorf("before the offer heard %v, want the position announcement (caller number one)", got)
	}
	p.Press(ctx, "1")
	if _, err := p.WaitPrompt(ctx, "queue/en/callback_confirmed"); err != nil {
		t.Fatal(err)
	}
	expectRemoteHangup(t, p)

	rec := finishedCall(t, s, p.ID())
	if rec.Outcome != ivr.OutcomeCallback || rec.Queue == nil || rec.Queue.Callback == "" || rec.Queue.Offers != 1 {
		t.Fatalf("record outcome %q queue %+v, want callback stored after one offer", rec.Outcome, rec.Queue)
	}
	var cbs struct {
		Callbacks []struct {
			ID           int64
			Queue        string
			CallerNumber string `json:"caller_number"`
			State        string
			Arrival      time.Time
		} `json:"callbacks"`
	}
	getJSON(t, "http://"+s.AdminAddr+"/api/v1/callbacks", &cbs)
	if len(cbs.Callbacks) != 1 || cbs.Callbacks[0].CallerNumber != "carol" || cbs.Callbacks[0].State != "pending" ||
		!cbs.Callbacks[0].Arrival.Equal(rec.Queue.JoinedAt.Truncate(time.Millisecond)) {
		t.Errorf("callbacks %+v, want carol's, pending, keeping her arrival %v", cbs.Callbacks, rec.Queue.JoinedAt)
	}
	var qs struct {
		Queues []struct {
			Name      string
			Callbacks int
		} `json:"queues"`
	}
	getJSON(t, "http://"+s.AdminAddr+"/api/v1/queues", &qs)
	if len(qs.Queues) != 1 || qs.Queues[0].Callbacks != 1 {
		t.Errorf("queues %+v, want support holding carol's place as a callback", qs.Queues)
	}
	m := getText(t, "http://"+s.AdminAddr+"/metrics")
	for _, want := range []string{
		`hotline_queue_wait_seconds_count{outcome="callback",queue="support"} 1`,
		`hotline_callbacks_total{outcome="stored"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// On hold, the freeze key still works.
func TestE2E_QueueFreezeKeyWorksOnHold(t *testing.T) {
	t.Parallel()
	cfg := withQueue(t, freezeConfig(t, t.TempDir(), ""), "    announce_interval: 10s\n", "", "")
	s, menuPrompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := dialAs(t, ctx, s, withSystemPrompts(t, menuPrompts), "alice")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "3")
	expectPrompts(t, ctx, p, "moh")
	p.Press(ctx, "9")
	ref := heardReference(t, ctx, p)
	rec := finishedCall(t, s, p.ID())
	if rec.Outcome != ivr.OutcomeFrozen || rec.Freeze == nil || rec.Freeze.Reference != ref || rec.Queue == nil {
		t.Fatalf("record %+v / freeze %+v, want frozen from the queue with %s", rec.Outcome, rec.Freeze, ref)
	}
	resp, err := http.Get("http://" + s.AdminAddr + "/api/v1/queues")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var qs struct {
		Queues []struct {
			OnLine int `json:"on_line"`
		} `json:"queues"`
	}
	json.NewDecoder(resp.Body).Decode(&qs)
	if len(qs.Queues) != 1 || qs.Queues[0].OnLine != 0 {
		t.Errorf("queues %+v: the caller who went to the freeze lane is still waiting", qs.Queues)
	}
}

// After a freeze the caller is offered a person: pressing 1 joins the recovery queue at top
// priority, ahead of a caller who was already waiting.
func TestE2E_FreezeThenRecoveryQueueAtTopPriority(t *testing.T) {
	t.Parallel()
	cfg := withQueue(t, freezeConfig(t, t.TempDir(), "  recovery_queue: support\n"), "    announce_interval: 30s\n", "", "")
	b := mustRead(t, cfg)
	offer := filepath.Join(shortPromptDir("lane"), "freeze_offer_agent.wav")
	b = strings.Replace(b, "  prompts:\n", "  prompts:\n    freeze_offer_agent: {file: "+offer+"}\n", 1)
	writeFile(t, cfg, b)
	s, menuPrompts := startTestServerWith(t, cfg)
	all := withSystemPrompts(t, menuPrompts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	early := dialAs(t, ctx, s, all, "erin") // an ordinary caller, already waiting
	expectPrompts(t, ctx, early, "main")
	early.Press(ctx, "3")
	expectPrompts(t, ctx, early, "moh")

	p := dialAs(t, ctx, s, all, "alice")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "9")
	heardBeforeOffer, err := p.WaitPrompt(ctx, "freeze_offer_agent")
	if err != nil || len(heardBeforeOffer) < 9 || heardBeforeOffer[0].Prompt != "freeze_done" {
		t.Fatalf("before the offer heard %v (%v), want the confirmation and the reference", names(heardBeforeOffer), err)
	}
	p.Press(ctx, "1")
	expectPrompts(t, ctx, p, "moh")
	var qs struct {
		Queues []struct {
			Entries []struct {
				ID       string
				Priority int
				Position int
			}
		} `json:"queues"`
	}
	getJSON(t, "http://"+s.AdminAddr+"/api/v1/queues", &qs)
	if len(qs.Queues) != 1 || len(qs.Queues[0].Entries) != 2 || qs.Queues[0].Entries[0].ID != p.ID() ||
		qs.Queues[0].Entries[0].Priority != 1000 {
		t.Fatalf("queue %+v, want the frozen caller first at priority 1000", qs.Queues)
	}
}

// A caller who hangs up while waiting keeps their place for abandon_window, even across a
// restart: calling back, they go ahead of a caller who came after their first call.
func TestE2E_QueueAbandonedPlaceSurvivesRestart(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    abandon_window: 10m\n    announce_interval: 30s\n", "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sctx, stop := context.WithCancel(context.Background())
	s1, err := start(sctx, cfg, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s1.run(sctx, nil, nil) }()
	l, _ := loadConfig(cfg)
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	prompts := withSystemPrompts(t, menu.Prompts)
	p := dialAs(t, ctx, s1, prompts, "frank")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "3")
	expectPrompts(t, ctx, p, "moh")
	p.Hangup(ctx)
	// Once the call is finished its place has been handed to the dispatcher, and the stop
	// waits for the dispatcher's store writes: the place is in the store when run returns.
	finishedCall(t, s1, p.ID())
	stop()
	<-done

	s2, _ := startTestServerWith(t, cfg)
	later := dialAs(t, ctx, s2, prompts, "gina") // arrives after frank's first call
	expectPrompts(t, ctx, later, "main")
	later.Press(ctx, "3")
	expectPrompts(t, ctx, later, "moh")
	back := dialAs(t, ctx, s2, prompts, "frank")
	expectPrompts(t, ctx, back, "main")
	back.Press(ctx, "3")
	expectPrompts(t, ctx, back, "moh")

	var qs struct {
		Queues []struct {
			Entries []struct {
				CallerID string `json:"caller_id"`
			} `json:"entries"`
		} `json:"queues"`
	}
	getJSON(t, "http://"+s2.AdminAddr+"/api/v1/queues", &qs)
	if len(qs.Queues) != 1 || len(qs.Queues[0].Entries) != 2 || qs.Queues[0].Entries[0].CallerID != "frank" {
		t.Fatalf("queue %+v, want frank (resumed) ahead of gina", qs.Queues)
	}
	var resp ivr.CallsResponse
	getJSON(t, "http://"+s2.AdminAddr+"/api/v1/calls", &resp)
	for _, r := range resp.Live {
		if r.CallID == back.ID() && (r.Queue == nil || !r.Queue.Resumed) {
			t.Errorf("frank's second call %+v, want resumed", r.Queue)
		}
	}
}
