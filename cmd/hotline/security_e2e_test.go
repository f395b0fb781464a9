package main

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// Issue 10 finding 7: an INVITE that is never ACKed must not make Hotline stream audio to
// whatever address its SDP names (a reflection attack on a third party). The victim's
// socket here is named in the SDP; Hotline answers 200 (retransmitted, since no ACK comes)
// and sends the victim nothing in that time.
func TestE2E_NoMediaBeforeACK(t *testing.T) {
	t.Parallel()
	s, _ := startTestServerWith(t, e2eConfigWith(t, ""))
	noMediaBeforeACK(t, s, "hotline")
}

// noMediaBeforeACK sends an INVITE to user at s whose SDP names a victim's socket, waits for
// two 200s (no ACK), checks the victim got nothing, then ACKs and hangs up.
func noMediaBeforeACK(t *testing.T, s *server, user string) {
	t.Helper()
	// The victim has a loopback address of its own: no other test's stream can reach it
	// through a reused port number.
	victim, err := net.ListenPacket("udp", "127.0.0.77:0")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	attacker, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	vport := victim.LocalAddr().(*net.UDPAddr).Port
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.77\r\ns=-\r\nc=IN IP4 127.0.0.77\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", vport)
	at := attacker.LocalAddr().String()
	inv := "INVITE sip:" + user + "@" + s.SIPAddr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + at + ";branch=z9hG4bK-noack-1;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:mallory@127.0.0.1>;tag=m1\r\n" +
		"To: <sip:" + user + "@127.0.0.1>\r\n" +
		"Call-ID: noack-" + fmt.Sprint(vport) + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:mallory@" + at + ">\r\n" +
		"Content-Type: application/sdp\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(sdp)) + sdp
	dst, err := net.ResolveUDPAddr("udp", s.SIPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attacker.WriteTo([]byte(inv), dst); err != nil {
		t.Fatal(err)
	}
	// Wait for two 200s: the answer and its first retransmission (T1 = 500 ms later), so
	// the call has been answered, unconfirmed, for at least half a second.
	buf := make([]byte, 4096)
	oks, last200 := 0, ""
	for oks < 2 {
		_ = attacker.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := attacker.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d 200 OKs: %v", oks, err)
		}
		if strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			oks++
			last200 = string(buf[:n])
		}
	}
	_ = victim.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // what is queued, and the next few packets
	if n, from, err := victim.ReadFrom(buf); err == nil {
		t.Fatalf("the victim received %d bytes from %v before any ACK", n, from)
	}
	// End the call at once (else the server's stop waits out its unanswered BYE): ACK the
	// answer and hang up, in the dialog the 200's To tag names.
	toTag := ""
	for _, line := range strings.Split(last200, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "to:") {
			if _, tag, found := strings.Cut(line, "tag="); found {
				toTag, _, _ = strings.Cut(tag, ";")
			}
		}
	}
	for i, method := range []string{"ACK", "BYE"} {
		req := method + " sip:" + user + "@" + s.SIPAddr + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + at + fmt.Sprintf(";branch=z9hG4bK-noack-%d;rport\r\n", i+2) +
			"Max-Forwards: 70\r\nFrom: <sip:mallory@127.0.0.1>;tag=m1\r\n" +
			"To: <sip:" + user + "@127.0.0.1>;tag=" + toTag + "\r\n" +
			"Call-ID: noack-" + fmt.Sprint(vport) + "\r\n" +
			fmt.Sprintf("CSeq: %d %s\r\n", 1+i, method) + "Content-Length: 0\r\n\r\n"
		if _, err := attacker.WriteTo([]byte(req), dst); err != nil {
			t.Fatal(err)
		}
	}
	// Until our BYE is answered, answer a BYE of the server's (a feature-code call hangs up
	// by itself) so that neither side waits out a timeout.
	for {
		_ = attacker.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := attacker.ReadFrom(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0 ") && strings.Contains(msg, " BYE\r\n") {
			return // our BYE's answer
		}
		if strings.HasPrefix(msg, "BYE ") {
			var hdrs []string
			for _, line := range strings.Split(msg, "\r\n") {
				for _, h := range []string{"via:", "from:", "to:", "call-id:", "cseq:"} {
					if strings.HasPrefix(strings.ToLower(line), h) {
						hdrs = append(hdrs, line)
					}
				}
			}
			res := "SIP/2.0 200 OK\r\n" + strings.Join(hdrs, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
			if _, err := attacker.WriteTo([]byte(res), dst); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// The same for a feature-code call (review of issue 10): *21 answered but never ACKed
// streams nothing to the address its SDP names.
func TestE2E_NoMediaBeforeACKOnFeatureCodes(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    ring_timeout: 5s\n", agentYAML, agentSIP)
	s, _ := startTestServerWith(t, cfg)
	noMediaBeforeACK(t, s, "*21")
}
