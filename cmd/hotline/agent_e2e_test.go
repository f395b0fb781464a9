package main

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/media"
)

const agentSIP = "  registrar:\n    accounts: [{user: agent1, password: agentpw}]\n"
const agentYAML = "agents:\n  - {id: agent1, user: agent1, queues: [support]}\n"

// waitReady polls the queues API until n agents are ready in queue support.
func waitReady(t *testing.T, s *server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var qs struct {
			Queues []struct{ Ready int } `json:"queues"`
		}
		getJSON(t, "http://"+s.AdminAddr+"/api/v1/queues", &qs)
		if len(qs.Queues) == 1 && qs.Queues[0].Ready == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("queue never had %d ready agents", n)
}

// An agent softphone registers with digest auth, a caller waits in the queue, the agent is
// rung and answers, and the two hear each other: each side's prompt audio is recognised
// frame by frame by the other.
func TestE2E_QueueAgentAnswersAndBothHear(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    ring_timeout: 5s\n", agentYAML, agentSIP)
	s, prompts := startTestServerWith(t, cfg)
	prompts = withSystemPrompts(t, prompts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "agent1", Password: "agentpw", Prompts: prompts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	waitReady(t, s, 1)

	p := dialAs(t, ctx, s, prompts, "dave")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "3")
	var ac *phone.AgentCall
	select {
	case ac = <-agent.Calls():
	case <-ctx.Done():
		t.Fatal("the agent was never rung")
	}
	assertBothHear(t, ctx, ac, p, prompts)
	if err := p.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ac.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the agent's call did not end when the caller hung up")
	}
	rec := finishedCall(t, s, p.ID())
	if rec.Outcome != ivr.OutcomeAnswered || rec.Queue == nil || rec.Queue.Agent != "agent1" || rec.Queue.AnsweredAt == nil {
		t.Fatalf("record outcome %q queue %+v, want answered by agent1", rec.Outcome, rec.Queue)
	}
	waitReady(t, s, 1) // the agent is free again
}

// An agent behind NAT: its SDP names a private address (127.0.0.4) that never sends, its
// packets come from its public one (127.0.0.3, where its SIP is). The media latch takes the
// answer's signalling address as the agent's (review of issue 10): both still hear each
// other, where a latch that trusted only the SDP's address would drop all the agent's audio.
func TestE2E_AgentBehindNATIsHeard(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    ring_timeout: 5s\n", agentYAML, agentSIP)
	s, prompts := startTestServerWith(t, cfg)
	prompts = withSystemPrompts(t, prompts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "agent1", Password: "agentpw", Prompts: prompts,
		Host: "127.0.0.3", SDPAddress: netip.MustParseAddr("127.0.0.4")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	waitReady(t, s, 1)
	p := dialAs(t, ctx, s, prompts, "dave")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "3")
	var ac *phone.AgentCall
	select {
	case ac = <-agent.Calls():
	case <-ctx.Done():
		t.Fatal("the agent was never rung")
	}
	assertBothHear(t, ctx, ac, p, prompts)
}

// An agent whose phone refuses (486) is not rung again at once: it rests (dispatch.ring_rest),
// so that a busy or broken phone is never flooded with INVITEs while a caller waits; once the
// rest is over it is rung again.
func TestE2E_QueueBusyAgentIsNotFlooded(t *testing.T) {
	t.Parallel()
	const ringRest = time.Second
	cfg := queueConfig(t, t.TempDir(), "    ring_timeout: 5s\n", agentYAML, agentSIP)
	writeFile(t, cfg, mustRead(t, cfg)+fmt.Sprintf("dispatch:\n  ring_rest: %v\n", ringRest))
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "agent1", Password: "agentpw", Reject: 486})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	waitReady(t, s, 1)
	p := dialAs(t, ctx, s, withSystemPrompts(t, prompts), "erin")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "3")
	expectPrompts(t, ctx, p, "moh")
	var rings []phone.Ring
	for len(rings) < 2 {
		select {
		case r := <-agent.Rings():
			rings = append(rings, r)
		case <-ctx.Done():
			t.Fatalf("the busy agent was rung %d times, want a second ring once its rest is over", len(rings))
		}
	}
	if gap := rings[1].At.Sub(rings[0].At); gap < ringRest {
		t.Errorf("a busy agent was rung again %v after refusing, want a rest of %v first", gap, ringRest)
	}
	// Hotline has the second refusal (the agent rests again) before the phones close: no
	// ring is left in flight to a phone that is gone.
	waitAgentState(t, s, "agent1", "paused")
}

// waitAgentState polls the queues API until agent id is in state in queue support.
func waitAgentState(t *testing.T, s *server, id, state string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	type agentStatus struct{ ID, State string }
	var got []agentStatus
	for time.Now().Before(deadline) {
		var qs struct {
			Queues []struct{ Agents []agentStatus } `json:"queues"`
		}
		getJSON(t, "http://"+s.AdminAddr+"/api/v1/queues", &qs)
		if len(qs.Queues) == 1 {
			got = qs.Queues[0].Agents
			for _, a := range got {
				if a.ID == id && a.State == state {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("agents %+v, want %s %s", got, id, state)
}

// speaker is one end of a call that can speak a prompt and recognise what it hears.
type speaker interface {
	Play(prompts ...*media.Prompt)
	WaitPrompt(ctx context.Context, name string) ([]phone.Heard, error)
}

// assertBothHear has the agent speak "info" and the caller speak "sub", and checks that each
// side recognises the other's prompt frame by frame: audio flows both ways through Hotline.
func assertBothHear(t *testing.T, ctx context.Context, agent, caller speaker, prompts map[string]*media.Prompt) {
	t.Helper()
	agent.Play(prompts["info"])
	if _, err := caller.WaitPrompt(ctx, "info"); err != nil {
		t.Fatalf("the caller did not hear the agent: %v", err)
	}
	caller.Play(prompts["sub"])
	if _, err := agent.WaitPrompt(ctx, "sub"); err != nil {
		t.Fatalf("the agent did not hear the caller: %v", err)
	}
}
