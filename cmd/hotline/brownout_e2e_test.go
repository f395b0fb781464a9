package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// Overload brown-out (issue 11): at max_calls, the next caller is not refused but hears one
// offer, the freeze key and a callback that keeps their place; they take the callback and
// are released. Beyond the reserve, 503 as before.
func TestE2E_BrownoutOffersCallbackBeyondMaxCalls(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    ring_timeout: 5s\n", "", "")
	writeFile(t, cfg, mustRead(t, cfg)+"max_calls: 1\noverload: {brownout: true, reserve: 1, queue: support}\n")
	s, prompts := startTestServerWith(t, cfg)
	prompts = withSystemPrompts(t, prompts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	first := dialAs(t, ctx, s, prompts, "alice") // takes the one slot
	expectPrompts(t, ctx, first, "main")

	bob := dialAs(t, ctx, s, prompts, "bob")
	expectPrompts(t, ctx, bob, "queue/en/overload_offer")

	third, err := siptest.NewClient(siptest.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	_, err = third.Dial(ctx, "sip:hotline@"+s.SIPAddr, []byte(strangerOffer), sip.DialOptions{FromUser: "carol"})
	var re *sip.RejectError
	if !errors.As(err, &re) || re.Code != 503 {
		t.Fatalf("a caller beyond the reserve: %v, want 503", err)
	}

	bob.Press(ctx, "1")
	if _, err := bob.WaitPrompt(ctx, "queue/en/callback_confirmed"); err != nil {
		t.Fatal(err)
	}
	expectRemoteHangup(t, bob)
	if cb := waitCallback(t, s, "pending"); cb.CallerNumber != "bob" {
		t.Errorf("callback %+v, want bob's", cb)
	}
	rec := finishedCall(t, s, bob.ID())
	var phases []string
	for _, p := range rec.Phases {
		phases = append(phases, p.Phase)
	}
	if !slices.Contains(phases, "overload") || rec.Outcome != ivr.OutcomeCallback {
		t.Errorf("bob's record: phases %v outcome %q, want the overload offer then a callback", phases, rec.Outcome)
	}
}
