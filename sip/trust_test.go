package sip_test

import (
	"context"
	"errors"
	"net"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// clientAt is a test phone bound to one loopback IP (127.0.0.0/8 is all loopback on Linux),
// so that a test can place callers, trunks and attackers at different source addresses.
func clientAt(t *testing.T, ip string) *siptest.Client {
	t.Helper()
	c, err := siptest.NewClient(siptest.ClientConfig{Host: ip})
	if err != nil {
		t.Fatalf("NewClient(%s): %v", ip, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// legSeen is what the handler saw of an accepted call.
type legSeen struct {
	trunk    string
	asserted sip.Party
	ok       bool
}

// trustServer answers every call, reports what it saw, and hangs up at once.
func trustServer(t *testing.T, cfg sip.Config) (*server, <-chan legSeen) {
	t.Helper()
	seenc := make(chan legSeen, 4)
	cfg.UserAgent = "Hotline-Test"
	srv := startServerWith(t, cfg, nil, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		pai, ok := l.AssertedIdentity()
		seenc <- legSeen{trunk: l.Trunk(), asserted: pai, ok: ok}
		return &sip.RejectError{Code: 486}
	}))
	return srv, seenc
}

const forgedPAI = `"Premium" <sip:+19005550199@evil.example>`

// dialFrom places a call from c carrying a P-Asserted-Identity and returns the final code.
func dialFrom(t *testing.T, c *siptest.Client, srv *server) int {
	t.Helper()
	_, err := c.Dial(testCtx(t), srv.uri("udp"), []byte(offerSDP),
		sip.DialOptions{FromUser: "anonymous", AssertedIdentity: forgedPAI})
	var re *sip.RejectError
	if !errors.As(err, &re) {
		t.Fatalf("Dial: %v, want a final rejection", err)
	}
	return re.Code
}

// Issue 10 finding 1: a P-Asserted-Identity from a source outside the trust domain must not
// become the caller's identity; the finding's caller came from an untrusted address.
func TestTrust_IdentityBelievedOnlyFromTrustedTrunk(t *testing.T) {
	t.Parallel()
	srv, seenc := trustServer(t, sip.Config{
		Allow: []string{"127.0.0.1"},
		Trunks: []sip.Trunk{
			{Name: "carrier", URI: "sip:127.0.0.3:5060", Trusted: true},
			{Name: "partner", URI: "sip:partner.example", Source: []string{"127.0.0.4/32"}},
		},
	})
	tests := []struct {
		name      string
		ip        string
		trunk     string
		believed  bool
		refused   bool
		wantParty string
	}{
		{name: "trusted trunk", ip: "127.0.0.3", trunk: "carrier", believed: true, wantParty: "+19005550199"},
		{name: "untrusted trunk", ip: "127.0.0.4", trunk: "partner"},
		{name: "allowed softphone", ip: "127.0.0.1"},
		{name: "stranger", ip: "127.0.0.9", refused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := dialFrom(t, clientAt(t, tc.ip), srv)
			if tc.refused {
				if code != 403 {
					t.Fatalf("code %d, want 403", code)
				}
				select {
				case s := <-seenc:
					t.Fatalf("a refused call reached the handler: %+v", s)
				default:
				}
				return
			}
			if code != 486 {
				t.Fatalf("code %d, want the handler's 486", code)
			}
			s := recv(t, seenc, "handler")
			if s.trunk != tc.trunk || s.ok != tc.believed || (tc.believed && s.asserted.User != tc.wantParty) {
				t.Errorf("saw %+v, want trunk %q, identity believed %v", s, tc.trunk, tc.believed)
			}
		})
	}
	if got := srv.RefusedInvites(); got != 1 {
		t.Errorf("RefusedInvites = %d, want 1", got)
	}
}

// A registered phone may call from its address (any port) even when no allow entry covers
// it; its address stops counting once the registration is gone.
func TestTrust_RegisteredPhoneMayCall(t *testing.T) {
	t.Parallel()
	srv, seenc := trustServer(t, sip.Config{
		Allow:     []string{"none"},
		Registrar: sip.RegistrarConfig{Realm: "hotline", Accounts: []sip.Account{{User: "agent1", Password: "s3cret-pass"}}},
	})
	if code := dialFrom(t, clientAt(t, "127.0.0.6"), srv); code != 403 {
		t.Fatalf("before registering: code %d, want 403", code)
	}
	phone := clientAt(t, "127.0.0.6")
	reg := "sip:" + srv.udp
	o := siptest.RegisterOptions{User: "agent1", Password: "s3cret-pass"}
	if _, err := phone.Register(testCtx(t), reg, o); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if code := dialFrom(t, clientAt(t, "127.0.0.6"), srv); code != 486 {
		t.Fatalf("registered address: code %d, want 486 from the handler", code)
	}
	if s := recv(t, seenc, "handler"); s.ok || s.trunk != "" {
		t.Errorf("saw %+v: a phone's identity headers are not believed", s)
	}
	if code := dialFrom(t, clientAt(t, "127.0.0.7"), srv); code != 403 {
		t.Errorf("another address: code %d, want 403", code)
	}
	if err := phone.Unregister(testCtx(t), reg, o); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	if code := dialFrom(t, clientAt(t, "127.0.0.6"), srv); code != 403 {
		t.Errorf("after unregistering: code %d, want 403", code)
	}
}

func TestTrust_ConfigProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  sip.Config
	}{
		{"bad allow", sip.Config{Allow: []string{"10.0.0.0/33"}}},
		{"none with others", sip.Config{Allow: []string{"none", "10.0.0.1"}}},
		{"bad trunk source", sip.Config{Trunks: []sip.Trunk{{Name: "t", URI: "sip:h", Source: []string{"h"}}}}},
		{"trusted trunk without addresses", sip.Config{Trunks: []sip.Trunk{{Name: "t", URI: "sip:carrier.example", Trusted: true}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.cfg.Validate(); err == nil {
				t.Error("Validate accepted it")
			}
		})
	}
	ok := sip.Config{Allow: []string{"192.0.2.0/24", "2001:db8::1", "::ffff:10.0.0.0/104"},
		Trunks: []sip.Trunk{{Name: "t", URI: "sip:carrier.example", Source: []string{"203.0.113.0/24"}, Trusted: true}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v): %v", ok, err)
	}
}

// A stranger learns nothing of our session timers: 403, not 422, whatever its
// Session-Expires says.
func TestTrust_StrangerGets403Before422(t *testing.T) {
	t.Parallel()
	srv, _ := trustServer(t, sip.Config{Allow: []string{"127.0.0.1"}})
	raddr, err := net.ResolveUDPAddr("udp", srv.udp)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	u := &rawUA{t: t, conn: conn, local: conn.LocalAddr().String(), server: srv.udp, parser: sipmsg.NewParser()}
	u.send(rawMsg{method: "INVITE", callID: "stranger-timers", body: offerSDP,
		extra: []string{"Content-Type: application/sdp", "Supported: timer", "Session-Expires: 60"}})
	if res := u.final(1); res.StatusCode != 403 {
		t.Errorf("got %d, want 403 before any 422", res.StatusCode)
	}
}
