package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
)

// Behind a NAT: sip.external_address and media.public_address name the NAT's public side
// (here 127.0.0.9:5999 and 127.0.0.5, which nothing binds) while the sockets bind loopback
// 127.0.0.1. The phone sees the public addresses in the 200's Contact and in the SDP
// answer's c= and o=. RTP the phone sends to 127.0.0.5 would reach nobody, as it would
// without the NAT's port forward: the test plays the NAT and sends to the bound address
// with the answer's port; Hotline hears the key, and streams to the phone's own address.
func TestE2E_NATAdvertisesPublicAddresses(t *testing.T) {
	t.Parallel()
	b, err := readFile(e2eConfigWith(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(b, "sip:\n", "sip:\n  external_address: 127.0.0.9:5999\n", 1)
	cfg = strings.Replace(cfg, "media:\n", "media:\n  public_address: 127.0.0.5\n", 1)
	s, _ := startTestServerWith(t, writeFile(t, t.TempDir()+"/nat.yaml", cfg))

	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	offer := fmt.Sprintf("v=0\r\no=raw 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", port)

	p := newRawPhone(t, s.SIPAddr)
	p.send("INVITE", 1, offer)
	ok := p.final(1)
	if ok.code != 200 {
		t.Fatalf("INVITE: %d", ok.code)
	}
	if ok.target != "sip:127.0.0.9:5999" {
		t.Errorf("200 Contact <%s>, want sip.external_address 127.0.0.9:5999", ok.target)
	}
	if !strings.Contains(ok.body, "\r\nc=IN IP4 127.0.0.5\r\n") || !strings.Contains(ok.body, " IN IP4 127.0.0.5\r\ns=") {
		t.Errorf("answer does not name media.public_address in c= and o=:\n%s", ok.body)
	}
	neg, err := sdp.ParseAnswerTo([]byte(offer), []byte(ok.body))
	if err != nil {
		t.Fatalf("the answer: %v", err)
	}
	if neg.Remote.Addr() != netip.MustParseAddr("127.0.0.5") {
		t.Fatalf("answer's address %v, want 127.0.0.5", neg.Remote)
	}
	p.send("ACK", 1, "")

	if n := countRTP(t, conn, 300*time.Millisecond); n < 5 {
		t.Errorf("%d RTP packets at the phone's address, want the menu", n)
	}
	// The NAT's port forward: public 127.0.0.5:port reaches the bound 127.0.0.1:port.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peer := media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT,
		Remote: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), neg.Remote.Port())})
	peer.Start(ctx)
	defer peer.Close()
	peer.SendDigit('2', 0)
	deadline := time.Now().Add(2 * time.Second)
	for heard := false; !heard; time.Sleep(20 * time.Millisecond) {
		var resp ivr.CallsResponse
		getJSON(t, "http://"+s.AdminAddr+"/api/v1/calls", &resp)
		for _, r := range resp.Live {
			heard = heard || (r.CallID == p.callID && len(r.Keys) == 1 && r.Keys[0].Key == "2")
		}
		if !heard && time.Now().After(deadline) {
			t.Fatal("the key sent to the bound RTP address was not heard")
		}
	}
	p.send("BYE", 2, "")
	if bye := p.final(2); bye.code != 200 {
		t.Fatalf("BYE: %d", bye.code)
	}
}

func TestConfig_PublicAddressValidated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{{"203.0.113.5", true}, {"2001:db8::5", true}, {"0.0.0.0", false}, {"pbx.example.com", false}, {"224.0.0.1", false}} {
		err := media.Config{PublicAddress: tc.addr}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("media.public_address %q: Validate() = %v", tc.addr, err)
		}
	}
}
