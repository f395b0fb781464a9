package sip_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/hotline-ivr/hotline/sip"
)

// testCert is a self-signed ECDSA certificate for 127.0.0.1 written as PEM files.
type testCert struct {
	cert, key string // file paths
	x509      *x509.Certificate
	certPEM   []byte
	keyPEM    []byte
}

func newTestCert(t *testing.T, dir, name string) testCert {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	tc := testCert{
		cert: filepath.Join(dir, name+".crt"), key: filepath.Join(dir, name+".key"), x509: c,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
	writeFile(t, tc.cert, tc.certPEM)
	writeFile(t, tc.key, tc.keyPEM)
	return tc
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (c testCert) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.x509)
	return p
}

// startTLSServer serves cfg (with cfg.TLS.Listen ignored) over TLS on an ephemeral
// loopback port until the test ends, and returns the server and that address.
func startTLSServer(t *testing.T, cfg sip.Config, h sip.Handler) (*sip.Server, string) {
	t.Helper()
	srv, err := sip.NewServer(cfg, h)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

func tlsConfigFor(c testCert) sip.Config {
	return sip.Config{UserAgent: "Hotline-Test", TLS: sip.TLSConfig{Listen: "127.0.0.1:0", Cert: c.cert, Key: c.key}}
}

// tlsPeer speaks SIP as plain text over one TLS connection: a peer that is not sipgo, and
// that has no other socket, so that every request the server sends it must come on this
// connection.
type tlsPeer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	p    *sipmsg.Parser
}

func newTLSPeer(t *testing.T, conn net.Conn) *tlsPeer {
	t.Cleanup(func() { _ = conn.Close() })
	return &tlsPeer{t: t, conn: conn, r: bufio.NewReader(conn), p: sipmsg.NewParser()}
}

func dialTLSPeer(t *testing.T, addr string, roots *x509.CertPool) *tlsPeer {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("tls dial %s: %v", addr, err)
	}
	return newTLSPeer(t, conn)
}

func (p *tlsPeer) local() string { return p.conn.LocalAddr().String() }

func (p *tlsPeer) write(m sipmsg.Message) {
	p.t.Helper()
	if _, err := io.WriteString(p.conn, m.String()); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// read returns the next message on the connection, skipping CRLF keep-alives.
func (p *tlsPeer) read() sipmsg.Message {
	p.t.Helper()
	if err := p.conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		p.t.Fatal(err)
	}
	var head bytes.Buffer
	n := 0
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			p.t.Fatalf("read: %v (after %q)", err, head.String())
		}
		if head.Len() == 0 && strings.TrimSpace(line) == "" {
			continue
		}
		head.WriteString(line)
		if strings.TrimSpace(line) == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			if k = strings.TrimSpace(k); strings.EqualFold(k, "Content-Length") || k == "l" {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(p.r, body); err != nil {
		p.t.Fatalf("read body: %v", err)
	}
	msg, err := p.p.ParseSIP(append(head.Bytes(), body...))
	if err != nil {
		p.t.Fatalf("parse: %v", err)
	}
	return msg
}

// request reads until a request arrives (responses before it are skipped).
func (p *tlsPeer) request(method sipmsg.RequestMethod) *sipmsg.Request {
	p.t.Helper()
	for {
		if req, ok := p.read().(*sipmsg.Request); ok {
			if req.Method != method {
				p.t.Fatalf("got %s, want %s", req.Method, method)
			}
			return req
		}
	}
}

// final reads until the final response for CSeq n.
func (p *tlsPeer) final(n uint32) *sipmsg.Response {
	p.t.Helper()
	for {
		if res, ok := p.read().(*sipmsg.Response); ok && !res.IsProvisional() && res.CSeq().SeqNo == n {
			return res
		}
	}
}

func (p *tlsPeer) reply(req *sipmsg.Request, code int, contact string, body string) {
	p.t.Helper()
	res := sipmsg.NewResponseFromRequest(req, code, "OK", nil)
	if contact != "" {
		res.AppendHeader(sipmsg.NewHeader("Contact", contact))
	}
	if body != "" {
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	res.SetBody([]byte(body))
	p.write(res)
}

// rawRequest builds a request as a phone over TLS sends it.
func (p *tlsPeer) rawRequest(method, ruri, callID, fromTag, toTag string, cseq int, body string) sipmsg.Message {
	p.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/TLS %s;branch=z9hG4bK%x;rport\r\n", p.local(), mrand.Uint64())
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:phone@127.0.0.1>;tag=%s\r\n", fromTag)
	to := "To: <sip:ivr@127.0.0.1>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	b.WriteString(to + "\r\n")
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", callID, cseq, method)
	// Port 1: nothing listens there. A server that dialled our Contact instead of using
	// this connection would never reach us.
	b.WriteString("Contact: <sip:phone@127.0.0.1:1;transport=tls>\r\n")
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	msg, err := p.p.ParseSIP([]byte(b.String()))
	if err != nil {
		p.t.Fatal(err)
	}
	return msg
}

// A call over TLS: answered, its Contact says transport=tls (sips: when the request used
// sips:), and the BYE, from either side, goes over the caller's connection.
func TestTLS_InboundCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		sips         bool
		serverHangup bool
	}{
		{"caller hangs up", false, false},
		{"server hangs up", false, true},
		{"sips, server hangs up", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert := newTestCert(t, t.TempDir(), "hotline")
			answered, causes := make(chan error, 1), make(chan error, 1)
			_, addr := startTLSServer(t, tlsConfigFor(cert), sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
				err := l.Answer(ctx, []byte(answerSDP))
				if answered <- err; err != nil {
					return err
				}
				if !tc.serverHangup {
					<-l.Done()
				}
				causes <- l.Cause()
				return nil
			}))
			p := dialTLSPeer(t, addr, cert.pool())
			scheme := map[bool]string{false: "sip", true: "sips"}[tc.sips]
			ruri := scheme + ":ivr@" + addr
			callID, fromTag := fmt.Sprintf("tls-%x", mrand.Uint64()), "tlstag"

			p.write(p.rawRequest("INVITE", ruri, callID, fromTag, "", 1, offerSDP))
			res := p.final(1)
			if res.StatusCode != 200 || string(res.Body()) != answerSDP {
				t.Fatalf("INVITE: %d %q", res.StatusCode, res.Body())
			}
			ct := res.Contact()
			if ct == nil {
				t.Fatal("200 without Contact")
			}
			got := ct.Address
			if got.Host+":"+strconv.Itoa(got.Port) != addr {
				t.Errorf("Contact %s: want the TLS address %s", got.String(), addr)
			}
			if tc.sips {
				if got.Scheme != "sips" || got.UriParams.Has("transport") {
					t.Errorf("Contact %s: want sips: without a transport parameter", got.String())
				}
			} else if got.Scheme != "sip" || got.UriParams.GetOr("transport", "") != "tls" {
				t.Errorf("Contact %s: want sip:...;transport=tls", got.String())
			}
			toTag, _ := res.To().Params.Get("tag")
			p.write(p.rawRequest("ACK", got.String(), callID, fromTag, toTag, 1, ""))
			// sipgo serves each message on its own goroutine: a BYE sent at once could
			// overtake the ACK.
			if err := recv(t, answered, "Answer"); err != nil {
				t.Fatalf("Answer: %v", err)
			}

			if tc.serverHangup {
				bye := p.request(sipmsg.BYE)
				if v := bye.Via(); v == nil || !strings.EqualFold(v.Transport, "TLS") {
					t.Errorf("BYE Via %v: want SIP/2.0/TLS", bye.Via())
				}
				if bye.Recipient.Port != 1 || bye.CallID().Value() != callID {
					t.Errorf("BYE %s for %s: want our Contact and Call-ID", bye.Recipient.String(), bye.CallID().Value())
				}
				p.reply(bye, 200, "", "")
				if cause := recv(t, causes, "handler"); cause != nil {
					t.Errorf("leg cause before hangup = %v", cause)
				}
				return
			}
			p.write(p.rawRequest("BYE", got.String(), callID, fromTag, toTag, 2, ""))
			if res := p.final(2); res.StatusCode != 200 {
				t.Errorf("BYE: %d", res.StatusCode)
			}
			if cause := recv(t, causes, "handler"); !errors.Is(cause, sip.ErrHangup) {
				t.Errorf("cause = %v, want ErrHangup", cause)
			}
		})
	}
}

// ReloadTLS swaps the certificate for new handshakes; a bad file keeps the old one and
// the error names the key.
func TestTLS_ReloadSwapsCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := newTestCert(t, dir, "hotline")
	second := newTestCert(t, t.TempDir(), "renewed")
	srv, addr := startTLSServer(t, tlsConfigFor(first), sip.HandlerFunc(func(context.Context, *sip.Leg) error { return nil }))

	served := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	if c := served(); !c.Equal(first.x509) {
		t.Fatalf("served %s, want the first certificate", c.Subject.CommonName)
	}
	writeFile(t, first.cert, second.certPEM)
	writeFile(t, first.key, second.keyPEM)
	if err := srv.ReloadTLS(); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	if c := served(); !c.Equal(second.x509) {
		t.Fatalf("served %s after reload, want the renewed certificate", c.Subject.CommonName)
	}

	bad := []struct {
		name       string
		cert, key  []byte
		wantInErr  string
		removeCert bool
	}{
		{name: "not PEM", cert: []byte("garbage"), key: second.keyPEM, wantInErr: "sip.tls.cert: " + first.cert + ": no PEM"},
		{name: "key of another certificate", cert: second.certPEM, key: newTestCert(t, t.TempDir(), "other").keyPEM,
			wantInErr: "sip.tls.key: " + first.key + " is not the private key"},
		{name: "key file holds a certificate", cert: second.certPEM, key: second.certPEM, wantInErr: "sip.tls.key: " + first.key + ": no PEM"},
		{name: "certificate file gone", removeCert: true, key: second.keyPEM, wantInErr: "sip.tls.cert: open " + first.cert},
	}
	for _, b := range bad {
		if b.removeCert {
			if err := os.Remove(first.cert); err != nil {
				t.Fatal(err)
			}
		} else {
			writeFile(t, first.cert, b.cert)
		}
		writeFile(t, first.key, b.key)
		err := srv.ReloadTLS()
		if err == nil || !strings.Contains(err.Error(), b.wantInErr) {
			t.Errorf("%s: ReloadTLS = %v, want an error with %q", b.name, err, b.wantInErr)
		}
		if c := served(); !c.Equal(second.x509) {
			t.Errorf("%s: served %s, want the certificate in use kept", b.name, c.Subject.CommonName)
		}
	}
}

// carrierTLS is a carrier's TLS listener for the tests of calls through a TLS trunk.
func carrierTLS(t *testing.T, cert testCert) net.Listener {
	t.Helper()
	pair, err := tls.X509KeyPair(cert.certPEM, cert.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// Calls through a trunk whose URI is ;transport=tls or sips: go over TLS, verified with
// the trunk's tls_ca; the ACK and BYE reuse the INVITE's connection, although the
// carrier's Contact names another port; a carrier whose certificate nothing vouches for
// is not called.
func TestTLS_DialTrunk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		uri    string // %s: the carrier's address
		trust  bool   // tls_ca names the carrier's certificate
		scheme string // of the Request-URI and of our Contact
	}{
		{"transport=tls", "sip:%s;transport=tls", true, "sip"},
		{"sips", "sips:%s", true, "sips"},
		{"unknown CA", "sip:%s;transport=tls", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ours, theirs := newTestCert(t, dir, "hotline"), newTestCert(t, dir, "carrier")
			ln := carrierTLS(t, theirs)
			cfg := tlsConfigFor(ours)
			trunk := sip.Trunk{Name: "carrier", URI: fmt.Sprintf(tc.uri, ln.Addr().String()), FromUser: "+15550100"}
			if tc.trust {
				trunk.TLSCA = theirs.cert
			}
			cfg.Trunks = []sip.Trunk{trunk}
			srv, addr := startTLSServer(t, cfg, sip.HandlerFunc(func(context.Context, *sip.Leg) error { return nil }))

			type dialed struct {
				call *sip.Call
				err  error
			}
			done := make(chan dialed, 1)
			ctx := testCtx(t)
			go func() {
				call, err := srv.Dial(ctx, "15551234", []byte(offerSDP), sip.DialOptions{Trunk: "carrier"})
				done <- dialed{call, err}
			}()

			conn, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			p := newTLSPeer(t, conn)
			if !tc.trust {
				// Our handshake fails (no alert to read: Go closes); the Dial reports it.
				_ = conn.SetDeadline(time.Now().Add(wait))
				_ = conn.(*tls.Conn).Handshake()
				d := recv(t, done, "Dial")
				if d.err == nil || !strings.Contains(d.err.Error(), "certificate") {
					t.Fatalf("Dial = %v, want a certificate error", d.err)
				}
				return
			}
			inv := p.request(sipmsg.INVITE)
			if inv.Recipient.Scheme != tc.scheme || inv.Recipient.User != "15551234" {
				t.Errorf("Request-URI %s: want %s:15551234@...", inv.Recipient.String(), tc.scheme)
			}
			if v := inv.Via(); v == nil || !strings.EqualFold(v.Transport, "TLS") {
				t.Errorf("Via %v: want SIP/2.0/TLS", inv.Via())
			}
			ct := inv.Contact().Address
			if ct.Host+":"+strconv.Itoa(ct.Port) != addr || ct.Scheme != tc.scheme {
				t.Errorf("Contact %s: want %s: at our TLS address %s", ct.String(), tc.scheme, addr)
			}
			if tc.scheme == "sip" && ct.UriParams.GetOr("transport", "") != "tls" {
				t.Errorf("Contact %s: want transport=tls", ct.String())
			}
			inv.To().Params.Add("tag", "carrier")
			p.reply(inv, 200, "<"+tc.scheme+":carrier@127.0.0.1:1>", answerSDP)
			if ack := p.request(sipmsg.ACK); ack.Recipient.Port != 1 {
				t.Errorf("ACK to %s: want the carrier's Contact as Request-URI", ack.Recipient.String())
			}
			d := recv(t, done, "Dial")
			if d.err != nil {
				t.Fatalf("Dial: %v", d.err)
			}
			hung := make(chan error, 1)
			go func() { hung <- d.call.Hangup(ctx) }()
			p.reply(p.request(sipmsg.BYE), 200, "", "")
			if err := recv(t, hung, "Hangup"); err != nil {
				t.Errorf("Hangup: %v", err)
			}
		})
	}
}

func TestTLS_ConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, other := newTestCert(t, dir, "good"), newTestCert(t, dir, "other")
	junk := filepath.Join(dir, "junk.pem")
	writeFile(t, junk, []byte("not pem\n"))
	missing := filepath.Join(dir, "missing.pem")
	on := func(listen, cert, key string) sip.TLSConfig {
		return sip.TLSConfig{Listen: listen, Cert: cert, Key: key}
	}
	tlsTrunk := sip.Trunk{Name: "carrier", URI: "sips:carrier.example", TLSCA: good.cert}
	tests := []struct {
		name string
		cfg  sip.Config
		want []string // substrings of the error; none: valid
	}{
		{"off", sip.Config{}, nil},
		{"on", sip.Config{TLS: on("0.0.0.0:5061", good.cert, good.key)}, nil},
		{"trunk over tls", sip.Config{TLS: on(":5061", good.cert, good.key), Trunks: []sip.Trunk{tlsTrunk}}, nil},
		{"key missing", sip.Config{TLS: on(":5061", good.cert, "")}, []string{"sip.tls.key: required"}},
		{"listen missing", sip.Config{TLS: on("", good.cert, good.key)}, []string{"sip.tls.listen: required"}},
		{"bad listen", sip.Config{TLS: on("5061", good.cert, good.key)}, []string{"sip.tls.listen: \"5061\""}},
		{"key file missing", sip.Config{TLS: on(":5061", good.cert, missing)}, []string{"sip.tls.key: open " + missing}},
		{"cert not PEM", sip.Config{TLS: on(":5061", junk, good.key)}, []string{"sip.tls.cert: " + junk + ": no PEM \"CERTIFICATE\" block"}},
		{"key not PEM", sip.Config{TLS: on(":5061", good.cert, junk)}, []string{"sip.tls.key: " + junk + ": no PEM"}},
		{"key of another cert", sip.Config{TLS: on(":5061", good.cert, other.key)},
			[]string{"sip.tls.key: " + other.key + " is not the private key of the certificate in " + good.cert}},
		{"tls trunk without sip.tls", sip.Config{Trunks: []sip.Trunk{tlsTrunk}},
			[]string{"trunks[0] (carrier): uri \"sips:carrier.example\": TLS calls need sip.tls"}},
		{"tls_ca on a udp trunk", sip.Config{Trunks: []sip.Trunk{{Name: "c", URI: "sip:carrier.example", TLSCA: good.cert}}},
			[]string{"trunks[0] (c): tls_ca: the trunk does not use TLS"}},
		{"tls_ca not PEM", sip.Config{TLS: on(":5061", good.cert, good.key),
			Trunks: []sip.Trunk{{Name: "c", URI: "sip:carrier.example;transport=tls", TLSCA: junk}}},
			[]string{"trunks[0] (c): tls_ca: " + junk + ": no PEM"}},
		{"sips over udp", sip.Config{TLS: on(":5061", good.cert, good.key),
			Trunks: []sip.Trunk{{Name: "c", URI: "sips:carrier.example;transport=udp"}}},
			[]string{"sips: goes over TLS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// ServeTLS without sip.tls refuses to serve; a Dial over TLS fails at once.
func TestTLS_Off(t *testing.T) {
	t.Parallel()
	srv := startServer(t, sip.HandlerFunc(func(context.Context, *sip.Leg) error { return nil }))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ServeTLS(context.Background(), ln); err == nil {
		t.Error("ServeTLS without sip.tls: nil error")
	}
	if _, err := srv.Dial(testCtx(t), "sips:someone@127.0.0.1", []byte(offerSDP), sip.DialOptions{}); err == nil ||
		!strings.Contains(err.Error(), "sip.tls is not configured") {
		t.Errorf("Dial sips: without sip.tls = %v", err)
	}
	if err := srv.ReloadTLS(); err != nil {
		t.Errorf("ReloadTLS without sip.tls = %v", err)
	}
}

// TLS 1.2 is the oldest version served.
func TestTLS_RefusesOldVersions(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t, t.TempDir(), "hotline")
	_, addr := startTLSServer(t, tlsConfigFor(cert), sip.HandlerFunc(func(context.Context, *sip.Leg) error { return nil }))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: cert.pool(), ServerName: "127.0.0.1", MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Errorf("%s: %v", tls.VersionName(v), err)
			continue
		}
		conn.Close()
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: cert.pool(), ServerName: "127.0.0.1",
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
}

// An agent's phone registers over TLS (digest) and is called over its own connection: the
// INVITE, ACK and BYE reach it there, although its Contact names a port nothing serves.
func TestTLS_RegisteredPhoneCalledOverItsConnection(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t, t.TempDir(), "hotline")
	cfg := registrarConfig()
	cfg.TLS = tlsConfigFor(cert).TLS
	srv, addr := startTLSServer(t, cfg, sip.HandlerFunc(noCalls))
	p := dialTLSPeer(t, addr, cert.pool())

	register := func(cseq int, auth string) *sipmsg.Response {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", addr)
		fmt.Fprintf(&b, "Via: SIP/2.0/TLS %s;branch=z9hG4bK%x;rport\r\n", p.local(), mrand.Uint64())
		b.WriteString("Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=reg\r\nTo: <sip:1001@127.0.0.1>\r\n")
		fmt.Fprintf(&b, "Call-ID: tls-reg\r\nCSeq: %d REGISTER\r\n", cseq)
		b.WriteString("Contact: <sip:1001@127.0.0.1:1;transport=tls>\r\nExpires: 300\r\n")
		if auth != "" {
			fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		if _, err := io.WriteString(p.conn, b.String()); err != nil {
			t.Fatal(err)
		}
		return p.final(uint32(cseq))
	}
	chal := challengeOf(t, register(1, ""))
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + addr, Username: "1001", Password: "s3cret", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res := register(2, cred.String()); res.StatusCode != 200 {
		t.Fatalf("REGISTER with credentials: %d %s", res.StatusCode, res.Reason)
	}

	type dialed struct {
		call *sip.Call
		err  error
	}
	done := make(chan dialed, 1)
	ctx := testCtx(t)
	go func() {
		call, err := srv.Dial(ctx, "1001", []byte(offerSDP), sip.DialOptions{})
		done <- dialed{call, err}
	}()
	inv := p.request(sipmsg.INVITE)
	if inv.Recipient.Port != 1 || inv.Recipient.UriParams.GetOr("transport", "") != "tls" {
		t.Errorf("Request-URI %s: want the registered Contact", inv.Recipient.String())
	}
	if ct := inv.Contact().Address; ct.Host+":"+strconv.Itoa(ct.Port) != addr || ct.UriParams.GetOr("transport", "") != "tls" {
		t.Errorf("Contact %s: want sip:...@%s;transport=tls", ct.String(), addr)
	}
	inv.To().Params.Add("tag", "phone")
	p.reply(inv, 200, "<sip:1001@127.0.0.1:1;transport=tls>", answerSDP)
	p.request(sipmsg.ACK)
	d := recv(t, done, "Dial")
	if d.err != nil {
		t.Fatalf("Dial: %v", d.err)
	}
	hung := make(chan error, 1)
	go func() { hung <- d.call.Hangup(ctx) }()
	p.reply(p.request(sipmsg.BYE), 200, "", "")
	if err := recv(t, hung, "Hangup"); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}
