package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/ivr/phone"
)

// withTransfers adds to the queue config at path key 5 at the root, transferring to uri
// (ringing at most 3 s), and key 6, to busyURI with the failed prompt "sub".
func withTransfers(t *testing.T, path, uri, busyURI string) string {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opt := `"2": {action: play, prompt: info}`
	cfg := strings.Replace(b, opt, opt+"\n        \"5\": {action: transfer, uri: \""+uri+"\", timeout: 3s}"+
		"\n        \"6\": {action: transfer, uri: \""+busyURI+"\", failed_prompt: sub}", 1)
	return writeFile(t, path, cfg)
}

// A caller presses 5: Hotline dials the partner line (a phone listening at an address,
// registered nowhere) itself and bridges the caller to it; each hears the other. The
// record shows the transfer, and the partner's leg its own record.
func TestE2E_TransferToPartnerLineBothHear(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// No queue: transfers dial through the dispatcher all the same.
	cfg := e2eConfigWith(t, "system_prompts: "+shortPromptDir("system")+"\n")
	l, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	prompts := withSystemPrompts(t, menu.Prompts)
	partner, err := phone.NewAgent(ctx, phone.AgentOptions{User: "partner", Prompts: prompts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { partner.Close() })
	busy, err := phone.NewAgent(ctx, phone.AgentOptions{User: "busy", Reject: 486})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	s, _ := startTestServerWith(t, withTransfers(t, cfg, "sip:partner@"+partner.Addr(), "sip:busy@"+busy.Addr()))

	// A busy partner: the caller hears the failed prompt and the menu again.
	p := dialAs(t, ctx, s, prompts, "erin")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "6")
	// Music may play while the partner's phone answers busy.
	if _, err := p.WaitPrompt(ctx, "sub"); err != nil {
		t.Fatal(err)
	}
	expectPrompts(t, ctx, p, "main")

	p.Press(ctx, "5")
	var pc *phone.AgentCall
	select {
	case pc = <-partner.Calls():
	case <-ctx.Done():
		t.Fatal("the partner line was never dialled")
	}
	assertBothHear(t, ctx, pc, p, prompts)
	if err := pc.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the caller was not hung up when the partner left")
	}
	rec := finishedCall(t, s, p.ID())
	if rec.Outcome != ivr.OutcomeTransferred || rec.Transfer == nil || rec.Transfer.Outcome != ivr.TransferAnswered ||
		rec.Transfer.AnsweredAt == nil || rec.Peer == "" {
		t.Fatalf("record outcome %q transfer %+v", rec.Outcome, rec.Transfer)
	}
	pr := finishedCall(t, s, rec.Peer)
	if pr.Kind != ivr.KindTransfer || pr.Peer != p.ID() {
		t.Errorf("partner record kind %q peer %q", pr.Kind, pr.Peer)
	}
}
