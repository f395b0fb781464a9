package ivr

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/sip"
)

var _ offerer = (*sip.Leg)(nil)

// These tests run real media sessions on loopback sockets (not in synctest): what they
// check is what the sender puts on the wire.

// rtpPeer is the far end's RTP socket: it counts what Hotline sends.
type rtpPeer struct {
	t  *testing.T
	pc *net.UDPConn
}

func newRTPPeer(t *testing.T) *rtpPeer {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &rtpPeer{t: t, pc: pc}
}

func (p *rtpPeer) addr() netip.AddrPort { return netip.MustParseAddrPort(p.pc.LocalAddr().String()) }

// count returns the RTP packets received within d, after dropping what was already queued
// (a packet in flight when the sender was muted) and their payload types.
func (p *rtpPeer) count(d time.Duration) (n int, pts map[uint8]int) {
	p.t.Helper()
	buf := make([]byte, 1500)
	settle := time.Now().Add(60 * time.Millisecond) // three slots: what was sent before is dropped
	for time.Now().Before(settle) {
		_ = p.pc.SetReadDeadline(settle)
		if _, err := p.pc.Read(buf); err != nil {
			break
		}
	}
	pts = map[uint8]int{}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		_ = p.pc.SetReadDeadline(end)
		k, err := p.pc.Read(buf)
		if err != nil {
			break
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:k]) == nil {
			n++
			pts[pkt.PayloadType]++
		}
	}
	return n, pts
}

// rtpWindow is how long a test listens for RTP: 15 packets' worth at 20 ms.
const rtpWindow = 300 * time.Millisecond

func sdpFrom(peer netip.AddrPort, media ...string) []byte {
	lines := append([]string{"v=0", "o=peer 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 " + peer.Addr().String(), "t=0 0"}, media...)
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(l, "PORT", strconv.Itoa(int(peer.Port())))
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

func originOf(b []byte) string {
	for _, l := range strings.Split(string(b), "\r\n") {
		if strings.HasPrefix(l, "o=") {
			return l
		}
	}
	return ""
}

func dirOf(b []byte) string {
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if strings.Contains(string(b), "a="+d+"\r\n") {
			return d
		}
	}
	return ""
}

// A held call (re-INVITE sendonly or inactive) mutes our sender; sendrecv resumes it. The
// answers keep one origin: the version goes up with each change and stays for a repeat.
func TestReinviter_HoldMutesOurSender(t *testing.T) {
	t.Parallel()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	peer := newRTPPeer(t)
	local := netip.MustParseAddrPort(conn.LocalAddr().String())
	sess := media.NewSession(conn, media.SessionConfig{Codec: media.CodecPCMU, DTMFPT: 101, Remote: peer.addr(), Muted: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess.Start(ctx)
	defer sess.Close()
	r := newReinviter()
	origin := &sdp.Origin{ID: 500}
	first, _, err := sdp.Answer(sdpFrom(peer.addr(), "m=audio PORT RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"),
		sdp.AnswerOptions{Addr: local, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	r.ready(local, media.CodecPCMU, DTMFAuto, sess, origin, sdp.SendRecv)
	if n, _ := peer.count(rtpWindow / 2); n != 0 {
		t.Fatalf("%d packets before the ACK", n)
	}
	r.confirm(sess, sdp.SendRecv)
	if n, _ := peer.count(rtpWindow); n < 5 {
		t.Fatalf("%d packets after the ACK, want a stream", n)
	}

	offer := func(dir string) []byte {
		return sdpFrom(peer.addr(), "m=audio PORT RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a="+dir)
	}
	steps := []struct {
		offer   string
		answer  string
		version int
		sending bool
	}{
		{"sendonly", "recvonly", 501, false},
		{"sendonly", "recvonly", 501, false}, // a refresh of the hold: the same SDP again
		{"inactive", "inactive", 502, false},
		{"sendrecv", "sendrecv", 503, true},
		{"recvonly", "sendonly", 504, true},
	}
	if got := originOf(first); got != "o=- 500 500 IN IP4 127.0.0.1" {
		t.Fatalf("first answer %q", got)
	}
	var last []byte
	for i, st := range steps {
		ans, code := r.answer(offer(st.offer))
		if code != 200 {
			t.Fatalf("step %d: re-INVITE %s: %d", i, st.offer, code)
		}
		if got, want := originOf(ans), "o=- 500 "+strconv.Itoa(st.version)+" IN IP4 127.0.0.1"; got != want {
			t.Errorf("step %d: %q, want %q", i, got, want)
		}
		if i == 1 && string(ans) != string(last) {
			t.Errorf("the same offer again: a different answer\n%s\nafter\n%s", ans, last)
		}
		last = ans
		if d := dirOf(ans); d != st.answer {
			t.Errorf("step %d: offer %s answered %s, want %s", i, st.offer, d, st.answer)
		}
		n, _ := peer.count(rtpWindow)
		if st.sending && n < 5 {
			t.Errorf("step %d (%s): %d packets, want our stream", i, st.offer, n)
		}
		if !st.sending && n != 0 {
			t.Errorf("step %d (%s): %d packets while held, want none", i, st.offer, n)
		}
		<-r.policy
	}
}

// A re-INVITE without SDP gets our offer; the answer in its ACK is applied like a new offer
// (hold included); a missing or codec-changing answer is an error (sip ends the call). While
// our offer is out, a new offer gets 491.
func TestReinviter_Reoffer(t *testing.T) {
	t.Parallel()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	peer := newRTPPeer(t)
	local := netip.MustParseAddrPort(conn.LocalAddr().String())
	sess := media.NewSession(conn, media.SessionConfig{Codec: media.CodecPCMA, Remote: peer.addr(), Muted: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess.Start(ctx)
	defer sess.Close()
	r := newReinviter()
	if offer, apply := r.reoffer(); offer != nil || apply != nil {
		t.Fatal("an offer before the media is up")
	}
	origin := &sdp.Origin{ID: 9}
	r.ready(local, media.CodecPCMA, DTMFAuto, sess, origin, sdp.SendRecv)
	r.confirm(sess, sdp.SendRecv)

	offer, apply := r.reoffer()
	if !strings.Contains(string(offer), "m=audio "+strconv.Itoa(int(local.Port()))+" RTP/AVP 8 101\r\n") || dirOf(offer) != "sendrecv" {
		t.Fatalf("our offer:\n%s", offer)
	}
	if got := originOf(offer); got != "o=- 9 9 IN IP4 127.0.0.1" {
		t.Errorf("first SDP of the call: %q", got)
	}
	if _, code := r.answer(sdpFrom(peer.addr(), "m=audio PORT RTP/AVP 8")); code != 491 {
		t.Errorf("an offer while ours is out: %d, want 491", code)
	}
	if o, _ := r.reoffer(); o != nil {
		t.Error("a second offer while ours is out")
	}
	held := sdpFrom(peer.addr(), "m=audio PORT RTP/AVP 8", "a=sendonly")
	if err := apply(held); err != nil {
		t.Fatalf("apply a sendonly answer: %v", err)
	}
	if p := <-r.policy; p.rfc4733 || !p.inband {
		t.Errorf("policy %+v without telephone-event in the answer, want in-band", p)
	}
	if n, _ := peer.count(rtpWindow); n != 0 {
		t.Errorf("%d packets after a sendonly answer, want none", n)
	}

	again, apply := r.reoffer()
	if string(again) != string(offer) {
		t.Errorf("our unchanged offer differs:\n%s\nafter\n%s", again, offer)
	}
	if err := apply(sdpFrom(peer.addr(), "m=audio PORT RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000")); err != nil {
		t.Fatalf("apply a sendrecv answer: %v", err)
	}
	<-r.policy
	if n, pts := peer.count(rtpWindow); n < 5 || pts[8] == 0 {
		t.Errorf("%d packets (%v) after resuming, want PCMA", n, pts)
	}

	for _, tc := range []struct {
		name   string
		answer []byte
	}{
		{"no answer", nil},
		{"another codec", sdpFrom(peer.addr(), "m=audio PORT RTP/AVP 0")},
		{"rejected", sdpFrom(peer.addr(), "m=audio 0 RTP/AVP 8")},
	} {
		_, apply := r.reoffer()
		if err := apply(tc.answer); err == nil {
			t.Errorf("%s: applied", tc.name)
		}
	}
	if _, code := r.answer(sdpFrom(peer.addr(), "m=audio PORT RTP/AVP 8")); code != 200 {
		t.Errorf("an offer after a refused answer: %d, want 200 (nothing pending)", code)
	}
}

// lateLeg is an INVITE without SDP, answered with AnswerOffer: the test plays the caller,
// whose ACK carries answer(offer).
type lateLeg struct {
	id     string
	answer func(offer []byte) []byte
	offers chan []byte
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	cause  error
}

func newLateLeg(answer func([]byte) []byte) *lateLeg {
	return &lateLeg{id: "late-1", answer: answer, offers: make(chan []byte, 1), done: make(chan struct{})}
}

func (l *lateLeg) ID() string            { return l.id }
func (l *lateLeg) RemoteSDP() []byte     { return nil }
func (l *lateLeg) Done() <-chan struct{} { return l.done }
func (l *lateLeg) Answer(context.Context, []byte) error {
	return errors.New("not an answer: a late offer")
}
func (l *lateLeg) AnswerOffer(_ context.Context, offer []byte) ([]byte, error) {
	l.offers <- offer
	return l.answer(offer), nil
}

func (l *lateLeg) Hangup(_ context.Context, cause error) error {
	l.mu.Lock()
	l.cause = cause
	l.mu.Unlock()
	l.once.Do(func() { close(l.done) })
	return nil
}

// ServeCall answers an INVITE without SDP with our offer (the configured codecs and
// telephone-event), runs the call on the codec the ACK's answer chose, and refuses an ACK
// without a usable answer with a 488 RejectError (sip's BYE carries it as Reason).
func TestServeCall_LateOffer(t *testing.T) {
	t.Parallel()
	t.Run("answer in the ACK", func(t *testing.T) {
		t.Parallel()
		e := newTestEngine(t)
		peer := newRTPPeer(t)
		leg := newLateLeg(func([]byte) []byte {
			return sdpFrom(peer.addr(), "m=audio PORT RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000")
		})
		out := make(chan error, 1)
		go func() { out <- e.ServeCall(context.Background(), leg, CallInfo{Caller: Party{User: "late"}}) }()
		offer := <-leg.offers
		for _, want := range []string{"m=audio ", " RTP/AVP 0 8 101\r\n", "a=rtpmap:101 telephone-event/8000\r\n", "a=sendrecv\r\n"} {
			if !strings.Contains(string(offer), want) {
				t.Errorf("our offer lacks %q:\n%s", want, offer)
			}
		}
		if n, pts := peer.count(rtpWindow); n < 5 || pts[8] != n {
			t.Errorf("%d packets (%v), want the menu in PCMA", n, pts)
		}
		close(leg.done) // the caller hangs up
		if err := <-out; err != nil {
			t.Fatalf("ServeCall: %v", err)
		}
		if r := e.records.find(leg.id); r == nil || r.Codec != "PCMA" || r.Outcome != OutcomeCallerHangup {
			t.Errorf("record %+v", r)
		}
	})
	t.Run("ACK without an answer", func(t *testing.T) {
		t.Parallel()
		e := newTestEngine(t)
		leg := newLateLeg(func([]byte) []byte { return nil })
		err := e.ServeCall(context.Background(), leg, CallInfo{Caller: Party{User: "late"}})
		var re *sip.RejectError
		if !errors.As(err, &re) || re.Code != 488 || re.Reason != "no usable answer" || !errors.Is(err, errNoAnswer) {
			t.Fatalf("ServeCall = %v, want a 488 no usable answer", err)
		}
		if r := e.records.find(leg.id); r == nil || r.Outcome != OutcomeRejected {
			t.Errorf("record %+v, want outcome rejected", r)
		}
	})
}
