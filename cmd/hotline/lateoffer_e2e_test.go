package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
)

// rawPhone is a caller that writes SIP by hand over UDP: it can send what the test phone
// cannot (an INVITE without SDP, an ACK with an answer, re-INVITEs).
type rawPhone struct {
	t                *testing.T
	conn             *net.UDPConn
	local            string
	server           string
	callID, fromTag  string
	toTag, target    string
	branch           int
	lastINVITE, last *rawResponse
}

// rawResponse is a response as far as these tests read it.
type rawResponse struct {
	code          int
	cseq          int
	toTag, target string
	contentType   string
	body          string
}

func newRawPhone(t *testing.T, server string) *rawPhone {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawPhone{t: t, conn: conn, local: conn.LocalAddr().String(), server: server,
		callID: fmt.Sprintf("raw-%d@127.0.0.1", time.Now().UnixNano()), fromTag: "rawfrom", target: "sip:hotline@" + server}
}

// send writes a request in the call's dialog; ACK uses the INVITE's CSeq.
func (p *rawPhone) send(method string, cseq int, body string) {
	p.t.Helper()
	p.branch++
	to := "<sip:hotline@" + p.server + ">"
	if p.toTag != "" {
		to += ";tag=" + p.toTag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, p.target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-raw-%d-%d;rport\r\n", p.local, time.Now().UnixNano(), p.branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: \"Late\" <sip:late@127.0.0.1>;tag=%s\r\n", p.fromTag)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", p.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:late@%s>\r\n", p.local)
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := p.conn.Write([]byte(b.String())); err != nil {
		p.t.Fatal(err)
	}
}

// final returns the final response to CSeq cseq, answering requests from the server (a
// BYE) with 200 meanwhile; it records the dialog's To tag and remote target.
func (p *rawPhone) final(cseq int) *rawResponse {
	p.t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		_ = p.conn.SetReadDeadline(deadline)
		n, err := p.conn.Read(buf)
		if err != nil {
			break
		}
		msg := string(buf[:n])
		head, body, _ := strings.Cut(msg, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		if !strings.HasPrefix(lines[0], "SIP/2.0 ") {
			continue
		}
		r := &rawResponse{body: body}
		r.code, _ = strconv.Atoi(strings.Fields(lines[0])[1])
		for _, l := range lines[1:] {
			name, v, _ := strings.Cut(l, ":")
			v = strings.TrimSpace(v)
			switch strings.ToLower(name) {
			case "cseq":
				r.cseq, _ = strconv.Atoi(strings.Fields(v)[0])
			case "to":
				if _, tag, ok := strings.Cut(v, "tag="); ok {
					r.toTag, _, _ = strings.Cut(tag, ";")
				}
			case "contact":
				if i, j := strings.Index(v, "<"), strings.Index(v, ">"); i >= 0 && j > i {
					r.target = v[i+1 : j]
				}
			case "content-type":
				r.contentType = v
			}
		}
		if r.code < 200 || r.cseq != cseq {
			continue
		}
		if r.code < 300 {
			p.toTag, p.target = r.toTag, r.target
		}
		return r
	}
	p.t.Fatalf("no final response to CSeq %d", cseq)
	return nil
}

// sdpVersion returns an SDP's o= session id and version.
func sdpVersion(t *testing.T, body string) (id, version string) {
	t.Helper()
	for l := range strings.SplitSeq(body, "\r\n") {
		if f := strings.Fields(l); len(f) >= 3 && strings.HasPrefix(l, "o=") {
			return f[1], f[2]
		}
	}
	t.Fatalf("no o= line in\n%s", body)
	return "", ""
}

// A late offer from a plain SIP peer: the INVITE has no SDP, Hotline's 200 offers PCMU and
// PCMA with telephone-event, the ACK answers; the caller hears the main menu, presses 2 by
// RFC 4733 and hears the information prompt; the call record has the key.
func TestE2E_LateOfferHearsMenuAndPressesKey(t *testing.T) {
	t.Parallel()
	s, prompts := startTestServerWith(t, e2eConfigWith(t, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := newRawPhone(t, s.SIPAddr)

	p.send("INVITE", 1, "")
	ok := p.final(1)
	if ok.code != 200 || ok.contentType != "application/sdp" {
		t.Fatalf("INVITE without SDP: %d %q, want 200 with an offer", ok.code, ok.contentType)
	}
	for _, want := range []string{" RTP/AVP 0 8 101\r\n", "a=rtpmap:101 telephone-event/8000\r\n", "a=sendrecv\r\n"} {
		if !strings.Contains(ok.body, want) {
			t.Errorf("Hotline's offer lacks %q:\n%s", want, ok.body)
		}
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	answer, neg, err := sdp.Answer([]byte(ok.body), sdp.AnswerOptions{Addr: netip.MustParseAddrPort(conn.LocalAddr().String()),
		Codecs: []media.CodecName{media.PCMU}, SessionID: 1})
	if err != nil {
		t.Fatalf("answering Hotline's offer: %v", err)
	}
	heard := map[string]*atomic.Int32{"main": {}, "info": {}}
	frames := map[string]string{} // frame -> prompt, for frames only one prompt has
	for name := range heard {
		for _, f := range prompts[name].Frames(media.PCMU) {
			if other, dup := frames[string(f)]; dup && other != name {
				frames[string(f)] = ""
			} else {
				frames[string(f)] = name
			}
		}
	}
	peer := media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote,
		OnAudio: func(payload []byte) {
			if name := frames[string(payload)]; name != "" {
				heard[name].Add(1)
			}
		}})
	peer.Start(ctx)
	defer peer.Close()
	p.send("ACK", 1, string(answer))

	wait := func(name string, n int32) {
		t.Helper()
		for heard[name].Load() < n {
			select {
			case <-ctx.Done():
				t.Fatalf("heard %d frames of %s, want %d", heard[name].Load(), name, n)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	wait("main", 10)
	peer.SendDigit('2', 0)
	wait("info", 10)

	p.send("BYE", 2, "")
	if bye := p.final(2); bye.code != 200 {
		t.Fatalf("BYE: %d", bye.code)
	}
	rec := finishedCall(t, s, p.callID)
	if len(rec.Keys) != 1 || rec.Keys[0].Key != "2" || rec.Keys[0].Mode != "rfc4733" || rec.Codec != "PCMU" {
		t.Errorf("record: codec %s keys %+v, want PCMU and 2 by rfc4733", rec.Codec, rec.Keys)
	}
}

// countRTP returns the RTP packets conn receives within d, after dropping for 60 ms what
// was sent before (a packet in flight when the sender was muted).
func countRTP(t *testing.T, conn *net.UDPConn, d time.Duration) int {
	t.Helper()
	buf := make([]byte, 1500)
	settle := time.Now().Add(60 * time.Millisecond)
	for time.Now().Before(settle) {
		_ = conn.SetReadDeadline(settle)
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	n := 0
	end := time.Now().Add(d)
	for {
		_ = conn.SetReadDeadline(end)
		k, err := conn.Read(buf)
		if err != nil {
			return n
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:k]) == nil {
			n++
		}
	}
}

// Hold by re-INVITE: a sendonly offer is answered recvonly and Hotline stops sending RTP;
// sendrecv resumes it. Every answer keeps the call's origin: the same session id, the
// version up by one per changed answer, the same version (and SDP) for a repeated one.
func TestE2E_ReinviteHoldStopsOurRTP(t *testing.T) {
	t.Parallel()
	s, _ := startTestServerWith(t, e2eConfigWith(t, ""))
	p := newRawPhone(t, s.SIPAddr)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	offer := func(dir string) string {
		return fmt.Sprintf("v=0\r\no=raw 7 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
			"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n",
			time.Now().UnixNano(), port, dir)
	}
	p.send("INVITE", 1, offer("sendrecv"))
	ok := p.final(1)
	if ok.code != 200 {
		t.Fatalf("INVITE: %d", ok.code)
	}
	p.send("ACK", 1, "")
	id, v0 := sdpVersion(t, ok.body)
	window := 300 * time.Millisecond // 15 packets' worth
	if n := countRTP(t, conn, window); n < 5 {
		t.Fatalf("%d RTP packets after the ACK, want the menu", n)
	}
	version, _ := strconv.ParseUint(v0, 10, 64)
	steps := []struct {
		offer, answer string
		bump          uint64
		sending       bool
	}{
		{"sendonly", "recvonly", 1, false},
		{"sendonly", "recvonly", 0, false}, // a refresh of the hold: the same SDP, same version
		{"sendrecv", "sendrecv", 1, true},
	}
	prev := ok.body
	for i, st := range steps {
		cseq := 2 + i
		p.send("INVITE", cseq, offer(st.offer))
		re := p.final(cseq)
		if re.code != 200 || !strings.Contains(re.body, "a="+st.answer+"\r\n") {
			t.Fatalf("re-INVITE %s: %d, want 200 with a=%s:\n%s", st.offer, re.code, st.answer, re.body)
		}
		p.send("ACK", cseq, "")
		version += st.bump
		gotID, gotV := sdpVersion(t, re.body)
		if gotID != id || gotV != strconv.FormatUint(version, 10) {
			t.Errorf("re-INVITE %s answered with o= %s %s, want %s %d", st.offer, gotID, gotV, id, version)
		}
		if st.bump == 0 && re.body != prev {
			t.Errorf("the same offer again, a different answer:\n%s\nafter\n%s", re.body, prev)
		}
		prev = re.body
		n := countRTP(t, conn, window)
		switch {
		case st.sending && n < 5:
			t.Errorf("after %s: %d RTP packets in %v, want the stream back", st.offer, n, window)
		case !st.sending && n != 0:
			t.Errorf("after %s: %d RTP packets in %v, want none while held", st.offer, n, window)
		}
	}
	p.send("BYE", 5, "")
	if bye := p.final(5); bye.code != 200 {
		t.Fatalf("BYE: %d", bye.code)
	}
}

// awaitBye returns the headers of the server's BYE, answered with 200.
func (p *rawPhone) awaitBye() string {
	p.t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		_ = p.conn.SetReadDeadline(deadline)
		n, err := p.conn.Read(buf)
		if err != nil {
			break
		}
		head, _, _ := strings.Cut(string(buf[:n]), "\r\n\r\n")
		if !strings.HasPrefix(head, "BYE ") {
			continue
		}
		// 200 OK: the request's Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2).
		var res strings.Builder
		res.WriteString("SIP/2.0 200 OK\r\n")
		for _, l := range strings.Split(head, "\r\n")[1:] {
			name, _, _ := strings.Cut(l, ":")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "via", "from", "to", "call-id", "cseq":
				res.WriteString(l + "\r\n")
			}
		}
		res.WriteString("Content-Length: 0\r\n\r\n")
		if _, err := p.conn.Write([]byte(res.String())); err != nil {
			p.t.Fatal(err)
		}
		return head
	}
	p.t.Fatal("no BYE from the server")
	return ""
}

// A late offer whose ACK carries no answer: Hotline ends the call at once with BYE and
// Reason: SIP;cause=488;text="no usable answer" (RFC 3326); the record says rejected.
func TestE2E_LateOfferWithoutAnswerIsEnded(t *testing.T) {
	t.Parallel()
	s, _ := startTestServerWith(t, e2eConfigWith(t, ""))
	p := newRawPhone(t, s.SIPAddr)
	p.send("INVITE", 1, "")
	if ok := p.final(1); ok.code != 200 {
		t.Fatalf("INVITE without SDP: %d", ok.code)
	}
	p.send("ACK", 1, "")
	bye := p.awaitBye()
	if !strings.Contains(bye, "\r\nReason: SIP;cause=488;text=\"no usable answer\"") {
		t.Errorf("BYE without the Reason:\n%s", bye)
	}
	if rec := finishedCall(t, s, p.callID); rec.Outcome != "rejected" {
		t.Errorf("outcome %q, want rejected", rec.Outcome)
	}
}

// A caller who answers Hotline's late offer on hold (a=inactive in the ACK) sends no RTP,
// rightly: it is judged by media.hold_timeout, not media.rtp_timeout (review of issue 11);
// the same silent caller answering sendrecv is ended as a dead call.
func TestE2E_LateOfferHeldByTheAnswerIsNotADeadCall(t *testing.T) {
	t.Parallel()
	path := e2eConfigWith(t, "")
	writeFile(t, path, strings.Replace(mustRead(t, path), "media:\n", "media:\n  rtp_timeout: 300ms\n", 1))
	s, _ := startTestServerWith(t, path)
	call := func(direction string) *rawPhone {
		p := newRawPhone(t, s.SIPAddr)
		p.send("INVITE", 1, "")
		ok := p.final(1)
		if ok.code != 200 {
			t.Fatalf("INVITE without SDP: %d", ok.code)
		}
		answer, _, err := sdp.Answer([]byte(ok.body), sdp.AnswerOptions{Addr: netip.MustParseAddrPort("127.0.0.1:40002"),
			Codecs: []media.CodecName{media.PCMU}, SessionID: 1})
		if err != nil {
			t.Fatal(err)
		}
		p.send("ACK", 1, strings.Replace(string(answer), "a=sendrecv", "a="+direction, 1))
		return p
	}
	held := call("inactive") // first: were it judged like the other, it would end first
	silent := call("sendrecv")
	silent.awaitBye() // ended: no RTP for rtp_timeout
	if rec := finishedCall(t, s, silent.callID); rec.Outcome != ivr.OutcomeRTPTimeout {
		t.Errorf("silent caller: outcome %q, want rtp_timeout", rec.Outcome)
	}
	var calls ivr.CallsResponse
	getJSON(t, "http://"+s.AdminAddr+"/api/v1/calls", &calls)
	live := false
	for _, r := range calls.Live {
		live = live || r.CallID == held.callID
	}
	if !live {
		t.Fatal("the held caller was ended although it holds the call")
	}
	held.send("BYE", 2, "")
	if bye := held.final(2); bye.code != 200 {
		t.Fatalf("BYE: %d", bye.code)
	}
}
