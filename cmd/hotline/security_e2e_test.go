package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// strangerOffer is an SDP offer that is never answered with media (the call is refused).
const strangerOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// Issue 10, the trust model end to end: with sip.allow naming only 127.0.0.1, an INVITE
// from another address (127.0.0.9: loopback, but not allowed) is refused with 403 before
// anything is allocated, it shows in the metrics, and an allowed softphone still gets in.
func TestE2E_StrangerRefused(t *testing.T) {
	t.Parallel()
	path := e2eConfigWith(t, "")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "sip:\n", "sip:\n  allow: [127.0.0.1]\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := startTestServerWith(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stranger, err := siptest.NewClient(siptest.ClientConfig{Host: "127.0.0.9"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Close() })
	_, err = stranger.Dial(ctx, "sip:hotline@"+s.SIPAddr, []byte(strangerOffer), sip.DialOptions{FromUser: "alice"})
	var re *sip.RejectError
	if !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("stranger's INVITE: %v, want 403", err)
	}
	if m := getText(t, "http://"+s.AdminAddr+"/metrics"); !strings.Contains(m, "hotline_sip_invites_refused_total 1\n") {
		t.Errorf("metrics do not count the refused INVITE:\n%s", grepLines(m, "hotline_sip_"))
	}

	p := dialAs(t, ctx, s, nil, "alice")
	if err := p.Hangup(ctx); err != nil {
		t.Errorf("the allowed softphone's call: %v", err)
	}
}
