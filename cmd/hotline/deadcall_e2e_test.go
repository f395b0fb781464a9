package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/ivr/phone"
)

// callRecord polls the admin API until the call is listed, live or finished, with an
// outcome, and returns its record.
func callRecord(t *testing.T, s *server, callID string) *ivr.CallRecord {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var resp ivr.CallsResponse
		getJSON(t, "http://"+s.AdminAddr+"/api/v1/calls", &resp)
		for _, r := range append(resp.Live, resp.Finished...) {
			if r.CallID == callID && r.Outcome != "" {
				return r
			}
		}
	}
	t.Fatalf("call %s never listed with an outcome", callID)
	return nil
}

// A caller joins a queue with no agent, then vanishes without a BYE (its phone stops
// sending RTP and closes its SIP socket). With media.rtp_timeout: 1s it leaves the queue
// (the queues API shows nobody on the line) after about a second, its call ends as
// rtp_timeout, and an agent who registers afterwards is never rung for it.
func TestE2E_GhostOnHoldLeavesTheQueue(t *testing.T) {
	t.Parallel()
	const rtpTimeout = time.Second
	cfg := queueConfig(t, t.TempDir(), "    ring_timeout: 5s\n", agentYAML, agentSIP)
	writeFile(t, cfg, strings.Replace(mustRead(t, cfg), "media:\n", "media:\n  rtp_timeout: 1s\n", 1))
	s, prompts := startTestServerWith(t, cfg)
	prompts = withSystemPrompts(t, prompts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	p := dialAs(t, ctx, s, prompts, "ghost")
	expectPrompts(t, ctx, p, "main")
	if err := p.Press(ctx, "3"); err != nil {
		t.Fatal(err)
	}
	expectPrompts(t, ctx, p, "moh")
	waitOnLine(t, s, 1)
	id := p.ID()
	vanished := time.Now()
	p.Close() // no BYE, no more RTP
	waitOnLine(t, s, 0)
	took := time.Since(vanished)
	t.Logf("left the queue %v after vanishing", took)
	// Not at once: it took media.rtp_timeout of silence (less what the phone's last packets
	// lagged behind its Close on a loaded machine). No upper bound but waitOnLine's.
	if took < rtpTimeout/2 {
		t.Errorf("left the queue %v after vanishing, want about media.rtp_timeout (%v)", took, rtpTimeout)
	}
	if rec := callRecord(t, s, id); rec.Outcome != ivr.OutcomeRTPTimeout {
		t.Errorf("outcome %q, want %s", rec.Outcome, ivr.OutcomeRTPTimeout)
	}

	agent, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: s.SIPAddr, User: "agent1", Password: "agentpw", Prompts: prompts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	waitReady(t, s, 1)
	select {
	case r := <-agent.Rings():
		t.Fatalf("the agent was rung (%+v) for a caller who is gone", r)
	case <-time.After(1500 * time.Millisecond):
	}
}
