package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/ivr/phone"
)

// A customer-first callback is a call like any other: alice, called back and waiting at
// her kept place, presses the freeze key on hold and her account is frozen at once; the
// callback leg shows in /api/v1/calls as an outbound callback with the freeze, and in
// hotline_calls_total.
func TestE2E_CallbackCustomerFirstFreezeKeyOnHold(t *testing.T) {
	t.Parallel()
	sipYAML := "  registrar:\n    accounts: [{user: agent1, password: agentpw}, {user: alice, password: alicepw}]\n"
	cfg := withQueue(t, freezeConfig(t, t.TempDir(), ""),
		"    max_wait: 300ms\n    ring_timeout: 5s\n    callback: {mode: customer-first, initial_delay: 100ms}\n", agentYAML, sipYAML)
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all := withSystemPrompts(t, prompts)

	// alice waits with no agent on duty and takes the callback at max wait.
	p := dialAs(t, ctx, s, all, "alice")
	expectPrompts(t, ctx, p, "main")
	if err := p.Press(ctx, "3"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitPrompt(ctx, "queue/en/callback_offer"); err != nil {
		t.Fatal(err)
	}
	if err := p.Press(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitPrompt(ctx, "queue/en/callback_confirmed"); err != nil {
		t.Fatal(err)
	}
	expectRemoteHangup(t, p)

	// An agent logs in (and never answers), so alice is dialled and waits at her place. Her
	// phone registers first: dialled before it is there, the attempt would fail and the
	// retry be minutes away.
	home, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "alice", Password: "alicepw", Prompts: all})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { home.Close() })
	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "agent1", Password: "agentpw", Reject: 480})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	var cc *phone.AgentCall
	select {
	case cc = <-home.Calls():
	case <-ctx.Done():
		t.Fatal("alice was not called back")
	}
	if _, err := cc.WaitPrompt(ctx, "moh"); err != nil {
		t.Fatalf("no hold music at the kept place: %v", err)
	}
	if err := cc.Press(ctx, "9"); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.WaitPrompt(ctx, "freeze_done"); err != nil {
		t.Fatalf("the freeze key on a callback's hold did not reach the freeze lane: %v", err)
	}
	select {
	case <-cc.Done():
	case <-ctx.Done():
		t.Fatal("the callback leg did not end after the freeze")
	}

	fr := freezesOf(t, s)
	if len(fr.Freezes) != 1 || fr.Freezes[0].Account != "10020030" {
		t.Fatalf("freezes %+v, want alice's account 10020030", fr.Freezes)
	}
	rec := finishedCall(t, s, cc.ID())
	if rec.Direction != ivr.DirectionOutbound || rec.Kind != ivr.KindCallback || rec.Outcome != ivr.OutcomeFrozen ||
		rec.Freeze == nil || rec.Freeze.Reference != fr.Freezes[0].Reference {
		t.Errorf("callback leg record: direction %q kind %q outcome %q freeze %+v", rec.Direction, rec.Kind, rec.Outcome, rec.Freeze)
	}
	if got := getText(t, "http://"+s.AdminAddr+"/metrics"); !strings.Contains(got, `hotline_calls_total{direction="outbound",kind="callback",outcome="frozen"} 1`) {
		t.Errorf("the callback leg is not counted in hotline_calls_total")
	}
}
