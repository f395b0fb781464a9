package main

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr/phone"
)

const callbackSIP = "  registrar:\n    accounts: [{user: agent1, password: agentpw}, {user: carol, password: carolpw}]\n"

type storedCallback struct {
	ID           int64
	CallerNumber string `json:"caller_number"`
	State        string
	Attempts     int
	Outcome      string
}

func callbacksOf(t *testing.T, s *server) []storedCallback {
	t.Helper()
	var cbs struct {
		Callbacks []storedCallback `json:"callbacks"`
	}
	getJSON(t, "http://"+s.AdminAddr+"/api/v1/callbacks", &cbs)
	return cbs.Callbacks
}

// waitCallback polls until the one stored callback reaches state.
func waitCallback(t *testing.T, s *server, state string) storedCallback {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var cbs []storedCallback
	for time.Now().Before(deadline) {
		if cbs = callbacksOf(t, s); len(cbs) == 1 && cbs[0].State == state {
			return cbs[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("callbacks %+v, want one in state %s", cbs, state)
	return storedCallback{}
}

// takeCallback has carol wait with no agent on duty, take the callback at max wait, and
// hang up.
func takeCallback(t *testing.T, ctx context.Context, s *server, cfg string) {
	t.Helper()
	takeCallbackKeyed(t, ctx, s, cfg, "")
}

// takeCallbackKeyed is takeCallback where the queue dials through a trunk and carol, whose
// caller ID nobody vouches for, is asked for the number to call and keys it in.
func takeCallbackKeyed(t *testing.T, ctx context.Context, s *server, cfg, number string) {
	t.Helper()
	l, _ := loadConfig(cfg)
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	o := phone.Options{FromUser: "carol", Prompts: withSystemPrompts(t, menu.Prompts), DigitDuration: shortPress, KeyGap: shortGap}
	if number != "" {
		// Issue 10 finding 1: the caller also forges a P-Asserted-Identity naming a premium
		// number; no trusted trunk vouches for it, so it is never dialled.
		o.AssertedIdentity = "<sip:+19005550199@evil.example>"
	}
	p, err := phone.Dial(ctx, "sip:hotline@"+s.SIPAddr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hangupQuietly(p) })
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "3")
	if _, err := p.WaitPrompt(ctx, "queue/en/callback_offer"); err != nil {
		t.Fatal(err)
	}
	p.Press(ctx, "1")
	if number != "" {
		if _, err := p.WaitPrompt(ctx, "queue/en/callback_enter_number"); err != nil {
			t.Fatal(err)
		}
		p.Press(ctx, number+"#")
		if _, err := p.WaitPrompt(ctx, "queue/en/callback_confirm_number"); err != nil {
			t.Fatal(err)
		}
		p.Press(ctx, "1")
	}
	if _, err := p.WaitPrompt(ctx, "queue/en/callback_confirmed"); err != nil {
		t.Fatal(err)
	}
	expectRemoteHangup(t, p)
	waitCallback(t, s, "pending")
}

// Agent-first callback: once an agent is on duty it is rung, then the caller's number is
// dialled, and the agent and the caller hear each other; the callback is recorded answered.
func TestE2E_CallbackDialledAgentFirstBothHear(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    max_wait: 300ms\n    ring_timeout: 5s\n", agentYAML, callbackSIP)
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	takeCallback(t, ctx, s, cfg)

	home, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "carol", Password: "carolpw", Prompts: prompts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { home.Close() })
	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "agent1", Password: "agentpw", Prompts: prompts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })

	var ac, cc *phone.AgentCall
	for ac == nil || cc == nil {
		select {
		case ac = <-agent.Calls():
			if cc != nil {
				t.Fatal("the caller was dialled before the agent answered (want agent-first)")
			}
		case cc = <-home.Calls():
		case <-ctx.Done():
			t.Fatalf("agent call %v, caller call %v: the callback was not placed", ac != nil, cc != nil)
		}
	}
	assertBothHear(t, ctx, ac, cc, prompts)
	cc.Hangup(ctx)
	select {
	case <-ac.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the agent's leg did not end with the caller's")
	}
	cb := waitCallback(t, s, "done")
	if cb.Attempts != 1 || cb.Outcome != "answered" {
		t.Errorf("callback %+v, want done after one answered attempt", cb)
	}
}

// A callback nobody answers is retried by policy, then recorded as failed; the agent is
// released after each attempt.
func TestE2E_CallbackUnansweredRetriedThenFailed(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(),
		"    max_wait: 300ms\n    ring_timeout: 5s\n    callback: {max_attempts: 2, retry_delay: 100ms}\n", agentYAML, callbackSIP)
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	takeCallback(t, ctx, s, cfg)

	home, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "carol", Password: "carolpw", Reject: 480})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { home.Close() })
	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "agent1", Password: "agentpw", Prompts: prompts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	cb := waitCallback(t, s, "failed")
	if cb.Attempts != 2 {
		t.Errorf("callback %+v, want failed after 2 attempts", cb)
	}
	rings := 0
	for done := false; !done; {
		select {
		case <-home.Rings():
			rings++
		default:
			done = true
		}
	}
	if rings != 2 {
		t.Errorf("the caller's phone rang %d times, want 2", rings)
	}
	waitReady(t, s, 1) // the agent is free again
}

// Customer-first callback: the caller's number is dialled first; once they answer they hear
// music at their kept place until an agent answers, then the two hear each other.
func TestE2E_CallbackCustomerFirst(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    max_wait: 300ms\n    ring_timeout: 5s\n    callback: {mode: customer-first}\n", agentYAML, callbackSIP)
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	takeCallback(t, ctx, s, cfg)
	all := withSystemPrompts(t, prompts)

	home, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "carol", Password: "carolpw", Prompts: all})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { home.Close() })
	// The agent's phone answers only once carol hears the music, so that she waits on hold
	// first.
	onHold := make(chan struct{})
	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "agent1", Password: "agentpw",
		Prompts: prompts, AnswerGate: onHold})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })

	var cc, ac *phone.AgentCall
	select {
	case cc = <-home.Calls():
	case <-agent.Rings():
		// Carol's phone delivers her call before it answers, so before Hotline can ring an
		// agent for her: if she was reached first, her call is waiting.
		select {
		case cc = <-home.Calls():
		default:
			t.Fatal("the agent was rung before the caller was reached (want customer-first)")
		}
	case <-ctx.Done():
		t.Fatal("the callback was not dialled")
	}
	if _, err := cc.WaitPrompt(ctx, "moh"); err != nil {
		t.Fatalf("the called-back caller did not hear hold music while an agent was found: %v", err)
	}
	close(onHold)
	select {
	case ac = <-agent.Calls():
	case <-ctx.Done():
		t.Fatal("no agent was connected to the called-back caller")
	}
	assertBothHear(t, ctx, ac, cc, prompts)
	ac.Hangup(ctx)
	select {
	case <-cc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the caller's leg did not end with the agent's")
	}
	if cb := waitCallback(t, s, "done"); cb.Attempts != 1 {
		t.Errorf("callback %+v, want done after one attempt", cb)
	}
}
