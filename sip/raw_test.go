package sip_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/hotline-ivr/hotline/sip"
)

// rawUA speaks SIP as plain text over one UDP socket: a peer that is not
// sipgo, so the server's wire behaviour is checked, not sipgo's symmetry.
type rawUA struct {
	t      *testing.T
	conn   *net.UDPConn
	local  string // our host:port
	server string // server host:port
	parser *sipmsg.Parser
}

func newRawUA(t *testing.T, server string) *rawUA {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawUA{t: t, conn: conn, local: conn.LocalAddr().String(), server: server, parser: sipmsg.NewParser()}
}

// rawMsg is one request; empty fields take defaults.
type rawMsg struct {
	method  string
	ruri    string // default sip:ivr@server
	callID  string
	fromTag string
	toTag   string
	cseq    int
	branch  string   // Via branch; default a fresh one
	noCont  bool     // omit Contact
	extra   []string // more header lines
	body    string
}

func (u *rawUA) send(m rawMsg) {
	u.t.Helper()
	if m.ruri == "" {
		m.ruri = "sip:ivr@" + u.server
	}
	if m.fromTag == "" {
		m.fromTag = fmt.Sprintf("raw%x", rand.Uint64())
	}
	if m.cseq == 0 {
		m.cseq = 1
	}
	cseqMethod := m.method
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", m.method, m.ruri)
	if m.branch == "" {
		m.branch = fmt.Sprintf("z9hG4bK%x", rand.Uint64())
	}
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", u.local, m.branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: \"Raw\" <sip:raw@127.0.0.1>;tag=%s\r\n", m.fromTag)
	to := "To: <sip:ivr@" + u.server + ">"
	if m.toTag != "" {
		to += ";tag=" + m.toTag
	}
	b.WriteString(to + "\r\n")
	fmt.Fprintf(&b, "Call-ID: %s\r\n", m.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", m.cseq, cseqMethod)
	if !m.noCont {
		fmt.Fprintf(&b, "Contact: <sip:raw@%s>\r\n", u.local)
	}
	for _, h := range m.extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(m.body), m.body)
	if _, err := u.conn.Write([]byte(b.String())); err != nil {
		u.t.Fatalf("write %s: %v", m.method, err)
	}
}

// read returns the next message, or nil after d.
func (u *rawUA) read(d time.Duration) sipmsg.Message {
	u.t.Helper()
	buf := make([]byte, 65535)
	if err := u.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		u.t.Fatal(err)
	}
	n, err := u.conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		u.t.Fatalf("read: %v", err)
	}
	msg, err := u.parser.ParseSIP(buf[:n])
	if err != nil {
		u.t.Fatalf("parse %q: %v", buf[:n], err)
	}
	return msg
}

// final returns the first final response for CSeq n, skipping 1xx,
// retransmissions of earlier responses, and requests.
func (u *rawUA) final(n uint32) *sipmsg.Response {
	u.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		msg := u.read(time.Until(deadline))
		res, ok := msg.(*sipmsg.Response)
		if !ok || res.IsProvisional() || res.CSeq() == nil || res.CSeq().SeqNo != n {
			continue
		}
		return res
	}
	u.t.Fatalf("no final response for CSeq %d", n)
	return nil
}

// ack sends the ACK for a 2xx (RFC 3261 §13.2.2.4): new branch, the 2xx's
// To tag, Request-URI = its Contact.
func (u *rawUA) ack(callID, fromTag string, res *sipmsg.Response) {
	u.t.Helper()
	toTag, _ := res.To().Params.Get("tag")
	u.send(rawMsg{method: "ACK", ruri: res.Contact().Address.String(), callID: callID,
		fromTag: fromTag, toTag: toTag, cseq: int(res.CSeq().SeqNo)})
}

func header(res *sipmsg.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func TestServer_OutOfDialogRequests(t *testing.T) {
	t.Parallel()
	srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		return errors.New("no call expected")
	}))
	tests := []struct {
		name      string
		msg       rawMsg
		want      int
		wantAllow bool
	}{
		{"OPTIONS", rawMsg{method: "OPTIONS"}, 200, true},
		{"BYE unknown dialog", rawMsg{method: "BYE", toTag: "nope"}, 481, false},
		{"INFO unknown dialog", rawMsg{method: "INFO", toTag: "nope", body: "Signal=1\r\n",
			extra: []string{"Content-Type: application/dtmf-relay"}}, 481, false},
		{"re-INVITE unknown dialog", rawMsg{method: "INVITE", toTag: "nope"}, 481, false},
		{"CANCEL unknown transaction", rawMsg{method: "CANCEL"}, 481, false},
		{"MESSAGE", rawMsg{method: "MESSAGE", body: "hi", extra: []string{"Content-Type: text/plain"}}, 405, true},
		{"REGISTER", rawMsg{method: "REGISTER"}, 405, true},
		{"SUBSCRIBE", rawMsg{method: "SUBSCRIBE"}, 405, true},
		{"unknown method", rawMsg{method: "FOO"}, 501, true},
		{"INVITE without Contact", rawMsg{method: "INVITE", noCont: true, body: offerSDP,
			extra: []string{"Content-Type: application/sdp"}}, 400, false},
		{"INVITE with text body", rawMsg{method: "INVITE", body: "hello",
			extra: []string{"Content-Type: text/plain"}}, 415, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newRawUA(t, srv.udp)
			tc.msg.callID = fmt.Sprintf("raw-%x", rand.Uint64())
			u.send(tc.msg)
			res := u.final(1)
			if res.StatusCode != tc.want {
				t.Fatalf("%s: got %d %s, want %d", tc.msg.method, res.StatusCode, res.Reason, tc.want)
			}
			allow := header(res, "Allow")
			if tc.wantAllow && (!strings.Contains(allow, "INVITE") || !strings.Contains(allow, "BYE")) {
				t.Errorf("Allow = %q", allow)
			}
			if tc.msg.method == "OPTIONS" && !strings.Contains(header(res, "Accept"), "application/sdp") {
				t.Errorf("Accept = %q", header(res, "Accept"))
			}
		})
	}
}

// TestServer_RawDialog walks a whole dialog from a plain-text UA: 200
// retransmitted until ACK, re-INVITE answered with the same SDP, BYE.
func TestServer_RawDialog(t *testing.T) {
	t.Parallel()
	answered := make(chan error, 1)
	out := make(chan error, 1)
	srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		answered <- l.Answer(ctx, []byte(answerSDP))
		<-l.Done()
		out <- context.Cause(ctx)
		return nil
	}))
	u := newRawUA(t, srv.udp)
	callID, fromTag := fmt.Sprintf("raw-%x", rand.Uint64()), "rawtag"
	sdpHdr := []string{"Content-Type: application/sdp"}

	u.send(rawMsg{method: "INVITE", callID: callID, fromTag: fromTag, extra: sdpHdr, body: offerSDP})
	res := u.final(1)
	if res.StatusCode != 200 || string(res.Body()) != answerSDP {
		t.Fatalf("INVITE: got %d body %q", res.StatusCode, res.Body())
	}
	if ct := header(res, "Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type = %q", ct)
	}
	if res.Contact() == nil || res.Contact().Address.Port == 0 {
		t.Fatalf("2xx without usable Contact: %v", res.Contact())
	}
	// No ACK yet: the server retransmits the 200 (RFC 3261 §13.3.1.4).
	if again := u.final(1); again.StatusCode != 200 {
		t.Fatalf("retransmission: got %d", again.StatusCode)
	}
	select {
	case err := <-answered:
		t.Fatalf("Answer returned before ACK: %v", err)
	default:
	}
	u.ack(callID, fromTag, res)
	if err := recv(t, answered, "Answer"); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	toTag, _ := res.To().Params.Get("tag")
	target := res.Contact().Address.String()

	u.send(rawMsg{method: "INVITE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag,
		cseq: 2, extra: sdpHdr, body: offerSDP})
	re := u.final(2)
	if re.StatusCode != 200 || string(re.Body()) != answerSDP {
		t.Fatalf("re-INVITE: got %d body %q", re.StatusCode, re.Body())
	}
	u.ack(callID, fromTag, re)

	u.send(rawMsg{method: "BYE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag, cseq: 3})
	if bye := u.final(3); bye.StatusCode != 200 {
		t.Fatalf("BYE: got %d", bye.StatusCode)
	}
	if cause := recv(t, out, "handler"); !errors.Is(cause, sip.ErrHangup) {
		t.Errorf("cause = %v, want ErrHangup", cause)
	}
	// The dialog is gone: a second BYE gets 481.
	u.send(rawMsg{method: "BYE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag, cseq: 4})
	if bye := u.final(4); bye.StatusCode != 481 {
		t.Errorf("BYE after end: got %d, want 481", bye.StatusCode)
	}
}

// A re-INVITE with a new offer goes to the leg's OnReinvite hook: its answer is sent (and
// later re-INVITEs without a hook answer repeat it); a refusal (488) leaves the call as it was.
func TestServer_ReinviteHook(t *testing.T) {
	t.Parallel()
	const newAnswer = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n"
	offers := make(chan string, 2)
	answered := make(chan error, 1)
	out := make(chan error, 1)
	srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		l.OnReinvite(func(offer []byte) ([]byte, int) {
			offers <- string(offer)
			if strings.Contains(string(offer), "G729") {
				return nil, 488
			}
			return []byte(newAnswer), 200
		})
		err := l.Answer(ctx, []byte(answerSDP))
		answered <- err
		if err != nil {
			return err
		}
		<-l.Done()
		out <- context.Cause(ctx)
		return nil
	}))
	u := newRawUA(t, srv.udp)
	callID, fromTag := fmt.Sprintf("re-%x", rand.Uint64()), "retag"
	sdpHdr := []string{"Content-Type: application/sdp"}
	u.send(rawMsg{method: "INVITE", callID: callID, fromTag: fromTag, extra: sdpHdr, body: offerSDP})
	res := u.final(1)
	u.ack(callID, fromTag, res)
	// sipgo handles each message on its own goroutine: without this wait the
	// BYE below can overtake the ACK, and Answer fails with ErrHangup.
	if err := recv(t, answered, "Answer"); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	toTag, _ := res.To().Params.Get("tag")
	target := res.Contact().Address.String()

	u.send(rawMsg{method: "INVITE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag, cseq: 2, extra: sdpHdr, body: offerSDP})
	re := u.final(2)
	if re.StatusCode != 200 || string(re.Body()) != newAnswer {
		t.Fatalf("re-INVITE: got %d body %q, want the hook's answer", re.StatusCode, re.Body())
	}
	u.ack(callID, fromTag, re)
	if got := recv(t, offers, "hook"); got != offerSDP {
		t.Errorf("hook saw offer %q", got)
	}
	g729 := strings.Replace(offerSDP, "RTP/AVP 0", "RTP/AVP 18", 1) + "a=rtpmap:18 G729/8000\r\n"
	u.send(rawMsg{method: "INVITE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag, cseq: 3, extra: sdpHdr, body: g729})
	if re := u.final(3); re.StatusCode != 488 {
		t.Fatalf("unusable re-INVITE: got %d, want 488", re.StatusCode)
	}
	u.send(rawMsg{method: "BYE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag, cseq: 4})
	if bye := u.final(4); bye.StatusCode != 200 {
		t.Fatalf("BYE after a refused re-INVITE: got %d, want 200 (the call goes on)", bye.StatusCode)
	}
	if cause := recv(t, out, "handler"); !errors.Is(cause, sip.ErrHangup) {
		t.Errorf("cause = %v, want ErrHangup", cause)
	}
}

// A call the server placed serves the far end's in-dialog requests as a Leg does (one
// dialog type): INFO to its OnInfo hook, a re-INVITE answered with the SDP it sent, a
// request with an old CSeq refused with 500 (RFC 3261 §12.2.2), BYE, then 481.
func TestServer_DialedCallServesInDialogRequests(t *testing.T) {
	t.Parallel()
	srv := startServer(t, sip.HandlerFunc(func(context.Context, *sip.Leg) error { return errors.New("no calls here") }))
	u := newRawUA(t, srv.udp)
	type dialed struct {
		call *sip.Call
		err  error
	}
	out := make(chan dialed, 1)
	go func() {
		call, err := srv.Dial(testCtx(t), "sip:raw@"+u.local, []byte(offerSDP), sip.DialOptions{})
		out <- dialed{call, err}
	}()

	// Answer the INVITE as a plain-text UAS.
	next := func(method sipmsg.RequestMethod) *sipmsg.Request {
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
	inv := next(sipmsg.INVITE)
	host, port, err := net.SplitHostPort(u.local)
	if err != nil {
		t.Fatal(err)
	}
	var contact sipmsg.ContactHeader
	if err := sipmsg.ParseUri("sip:raw@"+net.JoinHostPort(host, port), &contact.Address); err != nil {
		t.Fatal(err)
	}
	const ourTag = "rawuas"
	ok := sipmsg.NewResponseFromRequest(inv, 200, "OK", []byte(answerSDP))
	ok.To().Params.Add("tag", ourTag)
	ok.AppendHeader(&contact)
	ok.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	if _, err := u.conn.Write([]byte(ok.String())); err != nil {
		t.Fatal(err)
	}
	d := recv(t, out, "Dial")
	if d.err != nil {
		t.Fatalf("Dial: %v", d.err)
	}
	call := d.call
	next(sipmsg.ACK)
	infos := make(chan string, 2)
	call.OnInfo(func(ct string, body []byte) int {
		infos <- ct + " " + string(body)
		return 415
	})

	// Our requests: From is us (our tag), To is the server (its From tag).
	callID := inv.CallID().Value()
	srvTag, _ := inv.From().Params.Get("tag")
	target := inv.Contact().Address.String()
	req := func(method string, cseq int, extra []string, body string) {
		u.send(rawMsg{method: method, ruri: target, callID: callID, fromTag: ourTag, toTag: srvTag,
			cseq: cseq, extra: extra, body: body})
	}

	req("INFO", 1, []string{"Content-Type: application/dtmf-relay"}, "Signal=5\r\n")
	if res := u.final(1); res.StatusCode != 415 {
		t.Errorf("INFO: got %d, want the hook's 415", res.StatusCode)
	}
	if got := recv(t, infos, "INFO hook"); got != "application/dtmf-relay Signal=5\r\n" {
		t.Errorf("hook saw %q", got)
	}
	req("INVITE", 2, []string{"Content-Type: application/sdp"}, answerSDP)
	re := u.final(2)
	if re.StatusCode != 200 || string(re.Body()) != offerSDP || header(re, "Content-Type") != "application/sdp" {
		t.Fatalf("re-INVITE: got %d body %q, want 200 with the offer the call was placed with", re.StatusCode, re.Body())
	}
	u.ack(callID, ourTag, re)
	// With the offer hook set, a re-INVITE's offer is answered by it (a held agent, a
	// carrier moving the media).
	held := strings.Replace(answerSDP, "a=rtpmap:101", "a=sendonly\r\na=rtpmap:101", 1)
	call.OnReinvite(func(offer []byte) ([]byte, int) {
		if string(offer) != held {
			return nil, 488
		}
		return []byte("hold answer"), 200
	})
	req("INVITE", 3, []string{"Content-Type: application/sdp"}, held)
	re = u.final(3)
	if re.StatusCode != 200 || string(re.Body()) != "hold answer" {
		t.Fatalf("re-INVITE with the hook: got %d body %q, want the hook's answer", re.StatusCode, re.Body())
	}
	u.ack(callID, ourTag, re)
	req("INFO", 1, nil, "")
	if res := u.final(1); res.StatusCode != 500 {
		t.Errorf("INFO with an old CSeq: got %d, want 500", res.StatusCode)
	}
	req("BYE", 4, nil, "")
	if res := u.final(4); res.StatusCode != 200 {
		t.Fatalf("BYE: got %d", res.StatusCode)
	}
	recv(t, call.Done(), "the call's end")
	if !errors.Is(call.Cause(), sip.ErrHangup) {
		t.Errorf("Cause = %v, want ErrHangup", call.Cause())
	}
	req("BYE", 5, nil, "")
	if res := u.final(5); res.StatusCode != 481 {
		t.Errorf("BYE after the end: got %d, want 481", res.StatusCode)
	}
}
