package sip_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/hotline-ivr/hotline/sip"
)

// natExt is the public address of a NAT in front of the server (RFC 5737 documentation
// range: nothing on loopback answers there).
const (
	natHost = "203.0.113.7"
	natPort = 5999
	natExt  = "203.0.113.7:5999"
)

// wantAddr fails unless uri names host:port.
func wantAddr(t *testing.T, what string, host string, port int, wantHost string, wantPort int) {
	t.Helper()
	if host != wantHost || port != wantPort {
		t.Errorf("%s names %s:%d, want %s:%d", what, host, port, wantHost, wantPort)
	}
}

// wantVia fails unless the top Via of req names host:port and asks for rport (RFC 3581 §3).
func wantVia(t *testing.T, what string, req *sipmsg.Request, host string, port int) {
	t.Helper()
	via := req.Via()
	if via == nil {
		t.Fatalf("%s: no Via", what)
	}
	wantAddr(t, what+" Via", via.Host, via.Port, host, port)
	if v, ok := via.Params.Get("rport"); !ok || v != "" {
		t.Errorf("%s Via %q: want an empty rport parameter", what, via.Value())
	}
}

func nextRequest(t *testing.T, u *rawUA, method sipmsg.RequestMethod) *sipmsg.Request {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if req, ok := u.read(time.Until(deadline)).(*sipmsg.Request); ok && req.Method == method {
			return req
		}
	}
	t.Fatalf("no %s from the server", method)
	return nil
}

func udpPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// With sip.external_address the Contact of our 200 and the Contact and Via of the BYE we
// send name it, while the server still serves on its loopback socket.
func TestNAT_AnswerAndByeAdvertiseExternalAddress(t *testing.T) {
	t.Parallel()
	srv := startServerWith(t, sip.Config{UserAgent: "Hotline-Test", ExternalAddress: natExt}, nil,
		sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
			return l.Answer(ctx, []byte(answerSDP)) // returning hangs up: our BYE
		}))
	u := newRawUA(t, srv.udp)
	callID, fromTag := fmt.Sprintf("nat-%x", rand.Uint64()), "nattag"
	u.send(rawMsg{method: "INVITE", callID: callID, fromTag: fromTag,
		extra: []string{"Content-Type: application/sdp"}, body: offerSDP})
	res := u.final(1)
	if res.StatusCode != 200 || res.Contact() == nil {
		t.Fatalf("INVITE: got %d, Contact %v", res.StatusCode, res.Contact())
	}
	ct := res.Contact().Address
	wantAddr(t, "200 Contact", ct.Host, ct.Port, natHost, natPort)
	u.ack(callID, fromTag, res)

	bye := nextRequest(t, u, sipmsg.BYE)
	wantVia(t, "BYE", bye, natHost, natPort)
	if c := bye.Contact(); c == nil || c.Address.Host != natHost || c.Address.Port != natPort {
		t.Errorf("BYE Contact %v, want %s", c, natExt)
	}
	ok := sipmsg.NewResponseFromRequest(bye, 200, "OK", nil)
	if _, err := u.conn.Write([]byte(ok.String())); err != nil {
		t.Fatal(err)
	}
}

// The INVITE of a call the server places names sip.external_address in Contact and Via (a
// host name as given, with the socket's port when the address has none); without it, the
// socket's address. Either way its Via asks for rport.
func TestNAT_DialAdvertisesExternalAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ext string
		host      string // "" = the server's loopback IP
		port      int    // 0 = the server's UDP port
	}{
		{name: "off"},
		{name: "ip and port", ext: natExt, host: natHost, port: natPort},
		{name: "host name without port", ext: "sip.example.com", host: "sip.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServerWith(t, sip.Config{UserAgent: "Hotline-Test", ExternalAddress: tc.ext}, nil,
				sip.HandlerFunc(func(context.Context, *sip.Leg) error { return errors.New("no calls here") }))
			host, port := tc.host, tc.port
			if host == "" {
				host = "127.0.0.1"
			}
			if port == 0 {
				port = udpPort(t, srv.udp)
			}
			u := newRawUA(t, srv.udp)
			out := make(chan error, 1)
			go func() {
				_, err := srv.Dial(testCtx(t), "sip:raw@"+u.local, []byte(offerSDP), sip.DialOptions{})
				out <- err
			}()
			inv := nextRequest(t, u, sipmsg.INVITE)
			wantVia(t, "INVITE", inv, host, port)
			if c := inv.Contact(); c == nil {
				t.Error("INVITE without Contact")
			} else {
				wantAddr(t, "INVITE Contact", c.Address.Host, c.Address.Port, host, port)
			}
			busy := sipmsg.NewResponseFromRequest(inv, 486, "Busy Here", nil)
			busy.To().Params.Add("tag", "rawuas")
			if _, err := u.conn.Write([]byte(busy.String())); err != nil {
				t.Fatal(err)
			}
			var re *sip.RejectError
			if err := recv(t, out, "Dial"); !errors.As(err, &re) || re.Code != 486 {
				t.Errorf("Dial: %v, want a 486 RejectError", err)
			}
		})
	}
}

// Trunk REGISTER and qualify OPTIONS name sip.external_address in Contact and Via.
func TestNAT_TrunkRequestsAdvertiseExternalAddress(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	reqs := make(chan *sipmsg.Request, 16)
	go func() { // a carrier that says 200 to everything
		parser := sipmsg.NewParser()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req, ok := mustParse(parser, buf[:n]).(*sipmsg.Request)
			if !ok {
				continue
			}
			res := sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
			res.To().Params.Add("tag", "carrier")
			if req.Method == sipmsg.REGISTER && req.Contact() != nil {
				c := req.Contact().Clone()
				c.Params = sipmsg.NewParams()
				c.Params.Add("expires", "3600")
				res.AppendHeader(c)
			}
			_, _ = pc.WriteTo([]byte(res.String()), from)
			select {
			case reqs <- req:
			default:
			}
		}
	}()
	trunk := sip.Trunk{Name: "carrier", URI: "sip:" + pc.LocalAddr().String(), Username: "acct",
		Password: "secret", Register: true, Qualify: time.Second}
	startServerWith(t, sip.Config{UserAgent: "Hotline-Test", ExternalAddress: natExt, Trunks: []sip.Trunk{trunk}}, nil,
		sip.HandlerFunc(func(context.Context, *sip.Leg) error { return nil }))

	seen := map[sipmsg.RequestMethod]bool{}
	deadline := time.After(wait)
	for !seen[sipmsg.REGISTER] || !seen[sipmsg.OPTIONS] {
		select {
		case req := <-reqs:
			if seen[req.Method] {
				continue
			}
			seen[req.Method] = true
			wantVia(t, req.Method.String(), req, natHost, natPort)
			if c := req.Contact(); c == nil {
				t.Errorf("%s without Contact", req.Method)
			} else {
				wantAddr(t, req.Method.String()+" Contact", c.Address.Host, c.Address.Port, natHost, natPort)
			}
		case <-deadline:
			t.Fatalf("saw %v, want a REGISTER and an OPTIONS", seen)
		}
	}
}

func mustParse(p *sipmsg.Parser, b []byte) sipmsg.Message {
	m, err := p.ParseSIP(b)
	if err != nil {
		return nil
	}
	return m
}

// RFC 3581 §4: a response to a request whose Via asks for rport goes to the port the
// request came from, not the one its Via names, and says so (rport=, received=).
func TestNAT_ResponseHonoursRport(t *testing.T) {
	t.Parallel()
	srv := startServer(t, sip.HandlerFunc(func(context.Context, *sip.Leg) error { return nil }))
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// The Via names another socket's port: the response must come to the source port only.
	decoy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = decoy.Close() })
	viaPort := udpPort(t, decoy.LocalAddr().String())
	srcPort := udpPort(t, conn.LocalAddr().String())
	msg := strings.Join([]string{
		"OPTIONS sip:ivr@" + srv.udp + " SIP/2.0",
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%x;rport", viaPort, rand.Uint64()),
		"Max-Forwards: 70",
		"From: <sip:nat@127.0.0.1>;tag=nat",
		"To: <sip:ivr@" + srv.udp + ">",
		fmt.Sprintf("Call-ID: rport-%x", rand.Uint64()),
		"CSeq: 1 OPTIONS",
		"Content-Length: 0", "", ""}, "\r\n")
	raddr, err := net.ResolveUDPAddr("udp", srv.udp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteTo([]byte(msg), raddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no response at the source port: %v", err)
	}
	res, ok := mustParse(sipmsg.NewParser(), buf[:n]).(*sipmsg.Response)
	if !ok || res.StatusCode != 200 {
		t.Fatalf("got %q, want 200", buf[:n])
	}
	via := res.Via()
	if got, _ := via.Params.Get("rport"); got != strconv.Itoa(srcPort) {
		t.Errorf("Via rport=%q, want %d", got, srcPort)
	}
	if got, _ := via.Params.Get("received"); got != "127.0.0.1" {
		t.Errorf("Via received=%q, want 127.0.0.1", got)
	}
	_ = decoy.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := decoy.ReadFrom(make([]byte, 2048)); err == nil {
		t.Errorf("a response went to the Via's port too (%d bytes)", n)
	}
}

func TestNAT_ConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  sip.Config
		bad  string // substring of the error; "" = valid
	}{
		{name: "ip", cfg: sip.Config{ExternalAddress: "203.0.113.7"}},
		{name: "ip and port", cfg: sip.Config{ExternalAddress: "203.0.113.7:5070"}},
		{name: "host name", cfg: sip.Config{ExternalAddress: "sip.example.com"}},
		{name: "host name and port", cfg: sip.Config{ExternalAddress: "sip.example.com:5080"}},
		{name: "ipv6", cfg: sip.Config{ExternalAddress: "2001:db8::7"}},
		{name: "ipv6 and port", cfg: sip.Config{ExternalAddress: "[2001:db8::7]:5060"}},
		{name: "unspecified", cfg: sip.Config{ExternalAddress: "0.0.0.0"}, bad: "external_address"},
		{name: "port zero", cfg: sip.Config{ExternalAddress: "203.0.113.7:0"}, bad: "bad port"},
		{name: "port too big", cfg: sip.Config{ExternalAddress: "203.0.113.7:70000"}, bad: "bad port"},
		{name: "junk", cfg: sip.Config{ExternalAddress: "sip:me@host"}, bad: "external_address"},
		{name: "with host", cfg: sip.Config{ExternalAddress: "203.0.113.7", Host: "10.0.0.2"}, bad: "set one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Errorf("Validate: %v, want an error containing %q", err, tc.bad)
			}
		})
	}
}
