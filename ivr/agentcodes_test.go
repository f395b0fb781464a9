package ivr

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/sip"
)

// The feature codes end to end (a softphone registering, dialling *22) are covered by
// cmd/hotline's agent-code test over real SIP; here: which codes exist, and that only the
// agent's registered phone may use them.

func TestAgentCodes_DefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  AgentCodesConfig
		want map[string]queue.AgentState
	}{
		{"defaults", AgentCodesConfig{}, map[string]queue.AgentState{
			"*21": queue.AgentReady, "*22": queue.AgentPaused, "*23": queue.AgentLoggedOut}},
		{"one overridden", AgentCodesConfig{Pause: "*40"}, map[string]queue.AgentState{
			"*21": queue.AgentReady, "*40": queue.AgentPaused, "*23": queue.AgentLoggedOut}},
		{"all overridden", AgentCodesConfig{Ready: "71", Pause: "72", Logout: "73"}, map[string]queue.AgentState{
			"71": queue.AgentReady, "72": queue.AgentPaused, "73": queue.AgentLoggedOut}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEngine(t)
			d, err := e.newDispatcher(map[string]QueueConfig{"support": testQueue()}, nil, tc.cfg, newFakeDialer())
			must(t, err)
			if !maps.Equal(d.codes, tc.want) {
				t.Errorf("codes %v, want %v", d.codes, tc.want)
			}
		})
	}
}

// contacts is a registrar with fixed bindings.
type contacts map[string][]sip.Contact

func (c contacts) Contacts(user string) []sip.Contact { return slices.Clone(c[user]) }

// A feature code counts only from an address the agent's phone registered from: dialling
// with the agent's name from anywhere else changes nothing.
func TestAgentCodes_OnlyFromTheRegisteredPhone(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	d, err := e.newDispatcher(map[string]QueueConfig{"support": testQueue()},
		[]AgentConfig{{ID: "bob", User: "1001", Queues: []string{"support"}}}, AgentCodesConfig{}, newFakeDialer())
	must(t, err)
	if d.byUser["1001"] != "bob" {
		t.Fatalf("registrar user 1001 is agent %q, want bob", d.byUser["1001"])
	}
	if d.registeredFrom("1001", "127.0.0.1:5062") {
		t.Error("without a registrar every caller counts as registered")
	}
	exp := time.Now().Add(time.Hour)
	d.contacts = contacts{"1001": {
		{URI: "sip:1001@10.0.0.7:5062", Source: "10.0.0.7:5062", Transport: "udp", Expires: exp},
		{URI: "sip:1001@10.0.0.8:5060", Source: "10.0.0.8:5060", Transport: "tcp", Expires: exp},
	}}
	for _, tc := range []struct {
		user, source string
		want         bool
	}{
		{"1001", "10.0.0.7:5062", true},
		{"1001", "10.0.0.8:5060", true},
		{"1001", "10.0.0.7:5063", false},
		{"1001", "192.0.2.1:5062", false},
		{"1002", "10.0.0.7:5062", false},
	} {
		if got := d.registeredFrom(tc.user, tc.source); got != tc.want {
			t.Errorf("%s from %s: registered %v, want %v", tc.user, tc.source, got, tc.want)
		}
	}
}
