package ivr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
	"github.com/hotline-ivr/hotline/queue"
)

// Configuration as an operator meets it: every problem is reported at once, naming the key
// to fix, and a call's DTMF mode, metrics label and language follow the endpoint it came from.

// wantProblems checks that err mentions each of keys, or is nil when keys is empty.
func wantProblems(t *testing.T, err error, keys ...string) {
	t.Helper()
	if len(keys) == 0 {
		if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one naming %q", keys)
	}
	for _, k := range keys {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name %q:\n%v", k, err)
		}
	}
}

func TestDTMFConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  DTMFConfig
		keys []string
	}{
		{"zero value", DTMFConfig{}, nil},
		{"every mode", DTMFConfig{Mode: DTMFBoth, DedupeWindow: time.Second, Endpoints: []DTMFEndpoint{
			{Source: "203.0.113.7", Mode: DTMFAuto}, {Source: "2001:db8::/32", Mode: DTMFRFC4733},
			{User: "alice", Mode: DTMFInband}, {User: "bob", Source: "10.0.0.0/8", Mode: DTMFInfo}}}, nil},
		{"bad default mode", DTMFConfig{Mode: "loud"}, []string{`dtmf.mode: "loud"`}},
		{"negative window", DTMFConfig{DedupeWindow: -time.Millisecond}, []string{"dtmf.dedupe_window"}},
		{"endpoint mode", DTMFConfig{Endpoints: []DTMFEndpoint{{User: "a"}, {User: "b", Mode: "tones"}}}, []string{`dtmf.endpoints.1.mode: "tones"`}},
		{"endpoint matching nothing", DTMFConfig{Endpoints: []DTMFEndpoint{{Name: "x"}}}, []string{"dtmf.endpoints.0: give a source, a user or both"}},
		{"endpoint source", DTMFConfig{Endpoints: []DTMFEndpoint{{Source: "gateway.example"}}}, []string{`dtmf.endpoints.0.source: "gateway.example"`}},
		{"all at once", DTMFConfig{Mode: "x", DedupeWindow: -1, Endpoints: []DTMFEndpoint{{Source: "300.1.1.1/8", Mode: "y"}}},
			[]string{"dtmf.mode", "dtmf.dedupe_window", "dtmf.endpoints.0.mode", "dtmf.endpoints.0.source"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantProblems(t, tc.cfg.Validate(), tc.keys...)
		})
	}
}

// Endpoints match in order, by source address (an IP or a CIDR prefix) and From user; the
// first match gives the mode (its own, else the default), the metrics label and the language.
func TestDTMFConfig_ResolveModeTrunkLanguage(t *testing.T) {
	t.Parallel()
	c := DTMFConfig{Endpoints: []DTMFEndpoint{
		{Name: "carrier-cn", Source: "198.51.100.0/24", Language: media.LangZH},
		{Name: "carrier-v6", Source: "2001:db8::/32", Mode: DTMFInband},
		{Name: "desk", User: "alice", Source: "192.0.2.10", Mode: DTMFInfo, Language: "en"},
		{User: "alice", Mode: DTMFBoth},
	}}
	tests := []struct {
		name, source, user    string
		mode, trunk, language string
	}{
		{"in the prefix, default mode", "198.51.100.77:5060", "+861234", DTMFAuto, "carrier-cn", media.LangZH},
		{"ipv6 prefix", "[2001:db8::5]:5060", "x", DTMFInband, "carrier-v6", ""},
		{"user and source", "192.0.2.10:5070", "alice", DTMFInfo, "desk", "en"},
		{"user from elsewhere: the next match, unnamed", "192.0.2.11:5060", "alice", DTMFBoth, "endpoint3", ""},
		{"source without the user", "192.0.2.10:5060", "bob", DTMFAuto, "default", ""},
		{"no address (not host:port)", "somewhere", "bob", DTMFAuto, "default", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mode, trunk, lang := c.resolve(tc.source, tc.user)
			if mode != tc.mode || trunk != tc.trunk || lang != tc.language {
				t.Errorf("resolve(%s, %s) = %s, %s, %q; want %s, %s, %q", tc.source, tc.user, mode, trunk, lang, tc.mode, tc.trunk, tc.language)
			}
		})
	}
	withDefault := DTMFConfig{Mode: DTMFRFC4733, Endpoints: c.Endpoints}
	if mode, _, _ := withDefault.resolve("198.51.100.1:5060", ""); mode != DTMFRFC4733 {
		t.Errorf("an endpoint without a mode got %s, want the configured default rfc4733", mode)
	}
	if mode, trunk, _ := withDefault.resolve("203.0.113.1:5060", ""); mode != DTMFRFC4733 || trunk != "default" {
		t.Errorf("no match: %s %s, want rfc4733 default", mode, trunk)
	}
}

// NewEngine refuses a bad DTMF configuration, naming every key.
func TestNewEngine_RefusesBadConfig(t *testing.T) {
	t.Parallel()
	_, err := NewEngine(Config{Media: media.Config{RTPAddress: "127.0.0.1"}, DTMF: DTMFConfig{Mode: "loud", DedupeWindow: -1}},
		testMenu(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	wantProblems(t, err, "dtmf.mode", "dtmf.dedupe_window")
}

func TestFreezeConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  FreezeConfig
		keys []string
	}{
		{"defaults", FreezeConfig{Enabled: true}, nil},
		{"full", FreezeConfig{Enabled: true, Window: time.Minute, CheckDigits: 12, KeyTimeout: time.Second,
			RateLimit: FreezeRateLimit{PerCaller: 1, PerAccount: 1, Period: time.Hour}, RecoveryQueue: "recovery",
			Webhook: WebhookConfig{URL: "https://accounts.example/freeze", Secret: "s"}}, nil},
		{"negative window", FreezeConfig{Window: -time.Second}, []string{"window"}},
		{"negative key timeout", FreezeConfig{KeyTimeout: -time.Second}, []string{"key_timeout"}},
		{"negative period", FreezeConfig{RateLimit: FreezeRateLimit{Period: -time.Second}}, []string{"rate_limit.period"}},
		{"too many check digits", FreezeConfig{CheckDigits: 13}, []string{"freeze.check_digits: 13"}},
		{"negative check digits", FreezeConfig{CheckDigits: -1}, []string{"freeze.check_digits: -1"}},
		{"unsigned webhook", FreezeConfig{Webhook: WebhookConfig{URL: "https://accounts.example/freeze"}}, []string{"freeze.webhook.secret"}},
		{"all at once", FreezeConfig{Window: -1, CheckDigits: 20, Webhook: WebhookConfig{URL: "http://x"}},
			[]string{"window", "freeze.check_digits", "freeze.webhook.secret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantProblems(t, tc.cfg.Validate(), tc.keys...)
		})
	}
}

// The lane's prompts: the fixed ones and a digit for each of 0-9, plus the offer of an agent
// when a recovery queue is set.
func TestFreezeConfig_LanePrompts(t *testing.T) {
	t.Parallel()
	plain := strings.Join(FreezeConfig{}.LanePrompts(), " ")
	for _, want := range []string{PromptFreezeDone, PromptFreezeGoodbye, "digit_0", "digit_9"} {
		if !strings.Contains(plain, want) {
			t.Errorf("lane prompts %q lack %s", plain, want)
		}
	}
	if strings.Contains(plain, PromptFreezeOfferAgent) {
		t.Errorf("the agent offer is required without a recovery queue")
	}
	if got := strings.Join(FreezeConfig{RecoveryQueue: "recovery"}.LanePrompts(), " "); !strings.Contains(got, PromptFreezeOfferAgent) {
		t.Errorf("with a recovery queue the lane prompts %q lack %s", got, PromptFreezeOfferAgent)
	}
}

func TestNewAccounts(t *testing.T) {
	t.Parallel()
	if _, err := NewAccounts([]Account{{ID: "A1"}, {ID: "A1"}}); err == nil || !strings.Contains(err.Error(), `accounts[1]: id "A1" appears twice`) {
		t.Errorf("duplicate account: %v", err)
	}
	if _, err := NewAccounts([]Account{{Name: "no id"}}); err == nil || !strings.Contains(err.Error(), "accounts[0]: id is required") {
		t.Errorf("account without id: %v", err)
	}
	a, err := NewAccounts([]Account{{ID: "A1", CallerIDs: []string{"+1", "+shared"}}, {ID: "A2", CallerIDs: []string{"+shared"}}})
	must(t, err)
	if a.byCallerID("+1") != "A1" || a.byCallerID("+shared") != "" || a.byCallerID("+9") != "" {
		t.Error("a caller ID names its account only when it names exactly one")
	}
}

func TestValidateQueues(t *testing.T) {
	t.Parallel()
	qs := map[string]QueueConfig{"support": testQueue(), "billing": testQueue()}
	tests := []struct {
		name   string
		queues map[string]QueueConfig
		agents []AgentConfig
		keys   []string
	}{
		{"valid", qs, []AgentConfig{
			{ID: "alice", URI: "sip:alice@192.0.2.1", Queues: []string{"support", "billing"}},
			{ID: "bob", User: "bob", Queues: []string{"billing"}}}, nil},
		{"duplicate agent id", qs, []AgentConfig{{ID: "a", URI: "sip:a@x"}, {ID: "a", URI: "sip:b@x"}}, []string{`agents.1.id: "a" appears twice`}},
		{"no id", qs, []AgentConfig{{URI: "sip:a@x"}}, []string{"agents.0.id: required"}},
		{"unknown queue", qs, []AgentConfig{{ID: "a", URI: "sip:a@x", Queues: []string{"support", "sales"}}}, []string{`agents.0.queues.1: unknown queue "sales"`}},
		{"user and uri", qs, []AgentConfig{{ID: "a", User: "a", URI: "sip:a@x"}}, []string{"agents.0: give a registrar user or a static uri, not both"}},
		{"neither user nor uri", qs, []AgentConfig{{ID: "a"}}, []string{"agents.0: give a registrar user or a static uri"}},
		{"bad queue config, named", map[string]QueueConfig{"support": {Config: queue.Config{RingTimeout: -time.Second}}}, nil, []string{"support", "ring_timeout"}},
		{"every problem at once", qs, []AgentConfig{{ID: "a", User: "a", URI: "sip:a", Queues: []string{"x"}}, {ID: "a", URI: "sip:b"}},
			[]string{"agents.0: give", `agents.0.queues.0: unknown queue "x"`, "agents.1.id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantProblems(t, ValidateQueues(tc.queues, tc.agents), tc.keys...)
		})
	}
}

// EnableQueues refuses what ValidateQueues refuses, and starts nothing.
func TestEnableQueues_RefusesBadAgents(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	err := e.EnableQueues(t.Context(), map[string]QueueConfig{"support": testQueue()},
		[]AgentConfig{{ID: "a", URI: "sip:a@x", Queues: []string{"sales"}}}, AgentCodesConfig{}, nil)
	wantProblems(t, err, `unknown queue "sales"`)
	if e.dispatch != nil {
		t.Error("a refused queue config left a dispatcher running")
	}
}

// wav is a WAV file of d of silence.
func wav(t testing.TB, d time.Duration) []byte {
	t.Helper()
	var b bytes.Buffer
	must(t, media.WriteWAV(&b, make([]int16, int(d/time.Millisecond)*8)))
	return b.Bytes()
}

// promptFS holds a WAV for every prompt the test menu names, each lasting d.
func promptFS(t *testing.T, tree *menus.Tree, d time.Duration) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, r := range tree.PromptRefs() {
		fsys[r.File] = &fstest.MapFile{Data: wav(t, d)}
	}
	return fsys
}

func testTree(t *testing.T) *menus.Tree {
	t.Helper()
	tree, err := menus.CompileWith(testMenuConfig(), menus.CompileOptions{Enabled: map[string]bool{
		menus.ActionFreeze: true, menus.ActionEnqueue: true}})
	must(t, err)
	return tree
}

// LoadMenu decodes every prompt the tree names; a missing or unreadable file is reported
// under its config key, all of them at once.
func TestLoadMenu(t *testing.T) {
	t.Parallel()
	tree := testTree(t)
	fsys := promptFS(t, tree, 200*time.Millisecond)
	m, err := LoadMenu(tree, fsys)
	must(t, err)
	if m.Tree != tree || len(m.Prompts) != len(tree.PromptRefs()) {
		t.Fatalf("menu with %d prompts, want %d", len(m.Prompts), len(tree.PromptRefs()))
	}
	for _, r := range tree.PromptRefs() {
		p := m.Prompts[r.ID]
		if p == nil {
			t.Errorf("prompt %s not loaded", r.ID)
		} else if p.Name() != r.ID || p.Duration() != 200*time.Millisecond {
			t.Errorf("prompt %s: named %s, lasts %v; want 200ms", r.ID, p.Name(), p.Duration())
		}
	}

	var info, goodbye menus.PromptRef
	for _, r := range tree.PromptRefs() {
		switch r.ID {
		case "info":
			info = r
		case "goodbye":
			goodbye = r
		}
	}
	delete(fsys, info.File)
	fsys[goodbye.File] = &fstest.MapFile{Data: []byte("not a wav")}
	_, err = LoadMenu(tree, fsys)
	wantProblems(t, err, info.Path+".file", goodbye.Path+".file: "+goodbye.File)
	if !errors.Is(err, media.ErrWAV) {
		t.Errorf("a file that is not a WAV: %v, want media.ErrWAV", err)
	}
	if info.Path != "menus.prompts.info" {
		t.Errorf("prompt info's config key %q", info.Path)
	}

	ps, err := LoadPrompts(tree.PromptRefs(), fsys)
	if err == nil || ps["main"] == nil || ps["info"] != nil || ps["goodbye"] != nil {
		t.Errorf("LoadPrompts keeps what loaded and reports the rest: main %v info %v goodbye %v, %v",
			ps["main"] != nil, ps["info"] != nil, ps["goodbye"] != nil, err)
	}
}

// systemPromptNames lists every file LoadSystemPrompts reads: music on hold, the feature-code
// replies, and in each language the spoken numbers and the callback prompts.
func systemPromptNames() []string {
	names := []string{"moh", "queue/en/agent_ready", "queue/en/agent_paused", "queue/en/agent_logged_out", "queue/en/agent_unknown"}
	for _, lang := range []string{media.LangEN, media.LangZH} {
		names = append(names, media.SayPrompts(lang)...)
		for _, p := range queuePhrases {
			names = append(names, "queue/"+lang+"/"+p)
		}
	}
	return names
}

func TestLoadSystemPrompts(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{}
	for _, n := range systemPromptNames() {
		fsys[n+".wav"] = &fstest.MapFile{Data: wav(t, 100*time.Millisecond)}
	}
	fsys["moh.wav"] = &fstest.MapFile{Data: wav(t, 3*time.Second)}
	e := newTestEngine(t)
	must(t, e.LoadSystemPrompts(fsys))
	for _, n := range systemPromptNames() {
		if e.sys[n] == nil {
			t.Errorf("system prompt %s not loaded", n)
		}
	}
	if d := e.sys["moh"].Duration(); d != 3*time.Second {
		t.Errorf("music on hold lasts %v, want 3s", d)
	}
	if d := e.sys["digits/en/5"].Duration(); d != 100*time.Millisecond {
		t.Errorf("digits/en/5 lasts %v", d)
	}

	before := e.sys
	zhConnecting := "queue/" + media.LangZH + "/connecting"
	delete(fsys, "moh.wav")
	delete(fsys, zhConnecting+".wav")
	fsys["digits/en/5.wav"] = &fstest.MapFile{Data: []byte("RIFF....WAVE")}
	err := e.LoadSystemPrompts(fsys)
	wantProblems(t, err, "system prompt moh:", "system prompt "+zhConnecting+":", "system prompt digits/en/5:")
	if !errors.Is(err, media.ErrWAV) {
		t.Errorf("a broken WAV: %v, want media.ErrWAV", err)
	}
	if e.sys["moh"] != before["moh"] || e.sys["moh"].Duration() != 3*time.Second {
		t.Error("a failed load replaced the prompts in use")
	}
}

// Which paths a key press may arrive by and still count, per DTMF mode: INFO always (a peer
// that sends it means it); auto listens to RFC 4733 when telephone-event was negotiated and
// to the tones otherwise.
func TestDTMFMode_PathsThatCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode           string
		telephoneEvent bool
		want           string // of rfc4733, inband, info
	}{
		{DTMFAuto, true, "rfc4733 info"},
		{DTMFAuto, false, "inband info"},
		{"", true, "rfc4733 info"},
		{DTMFRFC4733, false, "rfc4733 info"},
		{DTMFInband, true, "inband info"},
		{DTMFInfo, true, "info"},
		{DTMFBoth, true, "rfc4733 inband info"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/telephone-event=%v", tc.mode, tc.telephoneEvent), func(t *testing.T) {
			t.Parallel()
			p := newCallDTMF(tc.mode, tc.telephoneEvent)
			var got []string
			for _, m := range []media.DTMFMode{media.ModeRFC4733, media.ModeInband, media.ModeInfo, media.DTMFMode("carrier-pigeon")} {
				if p.accepts(m) {
					got = append(got, string(m))
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("counts %q, want %q", got, tc.want)
			}
		})
	}
}
