package main

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// An agent changes its state by dialling feature codes from its registered softphone; the
// same codes dialled from elsewhere with the agent's name change nothing.
func TestE2E_AgentFeatureCodes(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    strategy: longest-idle\n", agentYAML, agentSIP)
	s, _ := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	offer := sdp.Offer(sdp.OfferOptions{Addr: netip.MustParseAddrPort(rtp.LocalAddr().String()), Codecs: []media.CodecName{media.PCMU}})

	dialCode := func(c *siptest.Client, code string) (callID string) {
		t.Helper()
		call, err := c.Dial(ctx, "sip:"+code+"@"+s.SIPAddr, offer, sip.DialOptions{FromUser: "agent1"})
		if err != nil {
			t.Fatalf("dial %s: %v", code, err)
		}
		select {
		case <-call.Done(): // Hotline says what it did and hangs up
		case <-ctx.Done():
			t.Fatalf("dial %s: Hotline did not hang up", code)
		}
		return call.ID()
	}
	phone, err := siptest.NewClient(siptest.ClientConfig{UserAgent: "agent-phone", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	if _, err := phone.Register(ctx, "sip:"+s.SIPAddr, siptest.RegisterOptions{User: "agent1", Password: "agentpw"}); err != nil {
		t.Fatal(err)
	}
	defer phone.Unregister(context.Background(), "sip:"+s.SIPAddr, siptest.RegisterOptions{User: "agent1", Password: "agentpw"})
	waitReady(t, s, 1)

	dialCode(phone, "*22") // pause
	waitReady(t, s, 0)
	dialCode(phone, "*21") // ready again
	waitReady(t, s, 1)

	impostor, err := siptest.NewClient(siptest.ClientConfig{UserAgent: "impostor", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	// Logout, but not from agent1's registered phone. Hotline decides before it answers,
	// so once it has hung up the state is what it will stay.
	id := dialCode(impostor, "*23")
	waitReady(t, s, 1)
	rec := finishedCall(t, s, id)
	if rec.Kind != ivr.KindAgentCode || len(rec.Prompts) != 1 || rec.Prompts[0].Prompt != "queue/en/agent_unknown" {
		t.Errorf("the impostor's call: kind %q prompts %+v, want agent_unknown said", rec.Kind, rec.Prompts)
	}
}
