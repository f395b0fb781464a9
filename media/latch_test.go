package media

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Loopback addresses for the latching tests: on Linux all of 127.0.0.0/8 is
// loopback and bindable, so the caller, its NAT and the attacker each get an
// IP of their own, as they would on the Internet.
var (
	ipHotline  = netip.MustParseAddr("127.0.0.1")
	ipCaller   = netip.MustParseAddr("127.0.0.2") // a caller not behind NAT: signalling and media
	ipNAT      = netip.MustParseAddr("127.0.0.3") // a NAT's public address: signalling and media
	ipPrivate  = netip.MustParseAddr("127.0.0.4") // what a NAT'd caller's SDP names
	ipAttacker = netip.MustParseAddr("127.0.0.5")
)

func listenIP(t testing.TB, ip netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pending drains what has already reached c, without waiting, and returns
// how many datagrams it was. On loopback a datagram is in the receiver's
// queue when sendto returns, so this counts everything sent to c so far.
func pending(t *testing.T, c *net.UDPConn) int {
	t.Helper()
	if err := c.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 2000)
	n := 0
	for {
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			return n
		}
		n++
	}
}

// sendPress sends a whole RFC 4733 press of key from c to to: a start packet
// with the marker bit, one more, and the end packet three times.
func sendPress(t *testing.T, c *net.UDPConn, to netip.AddrPort, key byte, ssrc, ts uint32) int {
	t.Helper()
	code, _ := EventCode(key)
	pkts := [][]byte{
		rtpPacket(testDTMFPT, 1, ts, ssrc, true, AppendEvent(nil, code, false, 10, 160)),
		rtpPacket(testDTMFPT, 2, ts, ssrc, false, AppendEvent(nil, code, false, 10, 320)),
	}
	for i := range endRepeats {
		pkts = append(pkts, rtpPacket(testDTMFPT, uint16(3+i), ts, ssrc, false, AppendEvent(nil, code, true, 10, 480)))
	}
	for _, p := range pkts {
		if _, err := c.WriteToUDPAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
	}
	return len(pkts)
}

// sendAudio sends n audio packets of payload fill from c to to.
func sendAudio(t *testing.T, c *net.UDPConn, to netip.AddrPort, n int, fill byte, ssrc uint32) int {
	t.Helper()
	frame := bytes.Repeat([]byte{fill}, FrameSize)
	for i := range n {
		if _, err := c.WriteToUDPAddrPort(rtpPacket(0, uint16(i), uint32(i)*FrameSize, ssrc, i == 0, frame), to); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// nextDigit waits up to 2 s for a key press.
func nextDigit(t *testing.T, s *Session) Digit {
	t.Helper()
	select {
	case d := <-s.Digits():
		return d
	case <-time.After(2 * time.Second):
		t.Fatal("no key press")
		return Digit{}
	}
}

// attack sends what the issue #10 replay sent: 94 audio packets and a press of
// key 1, 99 packets, from the attacker to hotline, and waits until hotline has
// dropped them all.
func attack(t *testing.T, a *peer, attacker *net.UDPConn, to netip.AddrPort) {
	t.Helper()
	before := a.Stats().PacketsForeign
	n := sendAudio(t, attacker, to, 94, 0x11, 0xBAD)
	n += sendPress(t, attacker, to, '1', 0xBAD, 5000)
	eventually(t, "the attacker's packets dropped", func() bool { return a.Stats().PacketsForeign-before == uint64(n) })
}

// TestLatch_AttackerFirstThenCaller replays issue #10 finding 5: an attacker
// on another IP sends first, then the caller from the address its SDP names.
// Nothing goes to the attacker, its audio and its key never reach the call,
// and the caller gets the stream and is heard.
func TestLatch_AttackerFirstThenCaller(t *testing.T) {
	t.Parallel()
	hot, caller, attacker := listenIP(t, ipHotline), listenIP(t, ipCaller), listenIP(t, ipAttacker)
	a := startPeer(t, hot, SessionConfig{DTMFPT: testDTMFPT, Remote: addr(caller), PeerIP: ipCaller})

	attack(t, a, attacker, addr(hot))
	if st := a.Stats(); st.PacketsIn != 0 || len(a.frames()) != 0 || len(a.Digits()) != 0 || a.Remote() != addr(caller) {
		t.Fatalf("after the attack: stats %+v, %d frames, %d digits, remote %v", st, len(a.frames()), len(a.Digits()), a.Remote())
	}

	sendAudio(t, caller, addr(hot), 3, 0x22, 0xCA11)
	sendPress(t, caller, addr(hot), '5', 0xCA11, 9000)
	if d := nextDigit(t, a.Session); d.Key != '5' {
		t.Fatalf("first key %q, want the caller's 5", d.Key)
	}
	readPackets(t, caller, 20)
	if n := pending(t, attacker); n != 0 {
		t.Fatalf("the attacker received %d packets", n)
	}
	for _, f := range a.frames() {
		if f[0] != 0x22 {
			t.Fatalf("audio %#x reached the call, not the caller's", f[0])
		}
	}
	if got := len(a.frames()); got != 3 {
		t.Fatalf("%d audio frames, want the caller's 3", got)
	}
}

// TestLatch_NATCaller covers the hole the partial fix left: the caller is
// behind NAT, so its SDP names a private address it never sends from, and
// its RTP comes from the NAT's public IP (PeerIP) on another port. An attacker
// who sends first is still not latched; the NAT'd caller is, the stream
// moves to it, and the attacker, sending again, stays ignored.
func TestLatch_NATCaller(t *testing.T) {
	t.Parallel()
	hot, private, nat, attacker := listenIP(t, ipHotline), listenIP(t, ipPrivate), listenIP(t, ipNAT), listenIP(t, ipAttacker)
	a := startPeer(t, hot, SessionConfig{DTMFPT: testDTMFPT, Remote: addr(private), PeerIP: ipNAT})

	attack(t, a, attacker, addr(hot))
	if a.Remote() != addr(private) || a.Stats().PacketsIn != 0 {
		t.Fatalf("after the attack: remote %v, stats %+v", a.Remote(), a.Stats())
	}

	sendAudio(t, nat, addr(hot), 1, 0x33, 0xCA11)
	eventually(t, "the NAT'd caller latched", func() bool { return a.Remote() == addr(nat) })
	readPackets(t, nat, 1) // the writer has moved on: nothing more is on its way to the SDP address
	pending(t, private)    // what went there before the caller was heard
	readPackets(t, nat, 5)
	if n := pending(t, private); n != 0 {
		t.Fatalf("%d packets still sent to the SDP address", n)
	}

	attack(t, a, attacker, addr(hot)) // while the NAT'd caller is latched
	sendPress(t, nat, addr(hot), '7', 0xCA11, 9000)
	if d := nextDigit(t, a.Session); d.Key != '7' {
		t.Fatalf("first key %q, want the caller's 7", d.Key)
	}
	readPackets(t, nat, 5)
	if n := pending(t, attacker); n != 0 {
		t.Fatalf("the attacker received %d packets", n)
	}
	if a.Remote() != addr(nat) || len(a.frames()) != 1 {
		t.Fatalf("remote %v, %d audio frames; want %v, 1", a.Remote(), len(a.frames()), addr(nat))
	}
}

// TestLatch_Rule drives the receive path with a fake clock through every
// branch of the rule in SessionConfig.Remote.
func TestLatch_Rule(t *testing.T) {
	t.Parallel()
	sdpAddr := netip.AddrPortFrom(ipPrivate, 5004)
	natA := netip.AddrPortFrom(ipNAT, 1000)
	natB := netip.AddrPortFrom(ipNAT, 2000)
	sdpIPOther := netip.AddrPortFrom(ipPrivate, 6000)
	stranger := netip.AddrPortFrom(ipAttacker, 5004)

	s := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT, Remote: sdpAddr, PeerIP: ipNAT})
	t0 := time.Unix(1_000_000, 0)
	clock := t0
	s.now = func() time.Time { return clock }
	voice := rtpPacket(0, 1, 160, 1, false, make([]byte, FrameSize))
	code, _ := EventCode('9')
	press := rtpPacket(testDTMFPT, 1, 800, 1, true, AppendEvent(nil, code, false, 10, 160))
	at := func(d time.Duration, from netip.AddrPort, pkt []byte) {
		clock = t0.Add(d)
		s.receive(pkt, from)
	}
	expect := func(step string, remote netip.AddrPort, foreign uint64) {
		t.Helper()
		if got, st := s.Remote(), s.Stats(); got != remote || st.PacketsForeign != foreign {
			t.Fatalf("%s: remote %v, %d foreign; want %v, %d", step, got, st.PacketsForeign, remote, foreign)
		}
	}

	at(0, stranger, voice)
	at(0, stranger, press)
	expect("stranger first", sdpAddr, 2)
	at(0, natA, []byte{0x80, 0}) // junk from a candidate latches nothing
	expect("junk", sdpAddr, 2)
	at(0, natA, voice)
	expect("NAT source, SDP address silent", natA, 2)

	at(100*time.Millisecond, natB, voice) // another NAT port: held off
	at(time.Second, natA, voice)
	at(2500*time.Millisecond, natB, voice) // natA spoke at 1 s: the 2 s start again
	at(4*time.Second, natB, press)
	expect("newcomer held off while the latched source talks", natA, 5)
	at(4500*time.Millisecond, natB, voice) // natA silent since 1 s, natB sending for 2 s
	expect("newcomer after 2 s of silence", natB, 5)
	at(4600*time.Millisecond, natA, voice)
	expect("the old source is now the newcomer", natB, 6)

	at(5*time.Second, sdpIPOther, voice) // the SDP's IP on another port is a candidate too
	expect("SDP IP held off", natB, 7)
	at(7500*time.Millisecond, sdpIPOther, voice)
	expect("SDP IP after 2 s of silence", sdpIPOther, 7)

	at(8*time.Second, sdpAddr, voice)
	expect("the SDP address wins at once", sdpAddr, 7)
	at(20*time.Second, natA, voice)
	at(40*time.Second, natA, voice)
	at(40*time.Second, stranger, press)
	expect("the SDP address stays, silent or not", sdpAddr, 10)

	if len(s.Digits()) != 0 {
		t.Fatalf("%d key presses from sources not accepted", len(s.Digits()))
	}
	at(41*time.Second, sdpAddr, press)
	if len(s.Digits()) != 1 {
		t.Fatal("the accepted source's key press is not reported")
	}
	if st := s.Stats(); st.PacketsIgnored != st.PacketsForeign+1 { // + the junk
		t.Fatalf("stats %+v", st)
	}
}

// TestLatch_WithoutPeerIP: only the SDP address's IP is trusted.
func TestLatch_WithoutPeerIP(t *testing.T) {
	t.Parallel()
	sdpAddr := netip.AddrPortFrom(ipCaller, 5004)
	s := NewSession(listen(t), SessionConfig{Remote: sdpAddr})
	voice := rtpPacket(0, 1, 160, 1, false, make([]byte, FrameSize))
	s.receive(voice, netip.AddrPortFrom(ipNAT, 5004))
	if s.Remote() != sdpAddr || s.Stats().PacketsForeign != 1 {
		t.Fatalf("another IP accepted: remote %v", s.Remote())
	}
	mapped := netip.AddrPortFrom(netip.AddrFrom16(ipCaller.As16()), 7000) // ::ffff:127.0.0.2
	s.receive(voice, mapped)
	if want := netip.AddrPortFrom(ipCaller, 7000); s.Remote() != want {
		t.Fatalf("remote %v, want %v", s.Remote(), want)
	}
}

// TestLatch_ForeignTonesNotDetected: in-band detection hears only the
// accepted source.
func TestLatch_ForeignTonesNotDetected(t *testing.T) {
	t.Parallel()
	sdpAddr := netip.AddrPortFrom(ipCaller, 5004)
	s := NewSession(listen(t), SessionConfig{Remote: sdpAddr, Inband: true})
	frames := toneFrames('3', 100*time.Millisecond, PCMU)
	feed := func(from netip.AddrPort) {
		for i, f := range frames {
			s.receive(rtpPacket(0, uint16(i), uint32(i)*FrameSize, 1, false, f), from)
		}
	}
	feed(netip.AddrPortFrom(ipAttacker, 5004))
	if st := s.Stats(); len(s.Digits()) != 0 || st.Inband != (InbandStats{}) || st.PacketsForeign != uint64(len(frames)) {
		t.Fatalf("the attacker's tone reached the detector: %d digits, stats %+v", len(s.Digits()), st)
	}
	feed(sdpAddr)
	if len(s.Digits()) != 1 {
		t.Fatal("the caller's tone is not detected")
	}
	if d := <-s.Digits(); d.Key != '3' || d.Mode != ModeInband {
		t.Fatalf("digit %+v", d)
	}
}

// TestLatch_Renegotiate: a re-INVITE naming the same address keeps the
// latch (a NAT'd caller on hold and resume); a new address is sent to at once
// and latched afresh under the same rule.
func TestLatch_Renegotiate(t *testing.T) {
	t.Parallel()
	sdpAddr, nat := netip.AddrPortFrom(ipPrivate, 5004), netip.AddrPortFrom(ipNAT, 1000)
	s := NewSession(listen(t), SessionConfig{Remote: sdpAddr, PeerIP: ipNAT})
	voice := rtpPacket(0, 1, 160, 1, false, make([]byte, FrameSize))
	s.receive(voice, nat)
	s.Renegotiate(sdpAddr, 0, false)
	s.receive(voice, nat)
	if s.Remote() != nat {
		t.Fatalf("same address: remote %v, want the latched %v", s.Remote(), nat)
	}
	moved := netip.AddrPortFrom(ipPrivate, 6000)
	s.Renegotiate(moved, 0, false)
	if s.Remote() != moved {
		t.Fatalf("new address: remote %v, want %v", s.Remote(), moved)
	}
	s.receive(voice, netip.AddrPortFrom(ipAttacker, 1000))
	if s.Remote() != moved {
		t.Fatalf("a stranger latched after the re-INVITE: %v", s.Remote())
	}
	nat2 := netip.AddrPortFrom(ipNAT, 1001)
	s.receive(voice, nat2)
	if s.Remote() != nat2 {
		t.Fatalf("remote %v, want the NAT's %v latched afresh", s.Remote(), nat2)
	}
}

// TestMute_SendsNothingThenStartsCleanly drives the writer slot by slot:
// muted, it sends nothing while the playback and a queued press advance;
// unmuted, the first packet carries the first sequence number, the marker
// bit and the timestamp the clock has reached.
func TestMute_SendsNothingThenStartsCleanly(t *testing.T) {
	t.Parallel()
	sink := listen(t)
	s := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT, Remote: addr(sink), Muted: true})
	seq0, ts0 := s.tx.hdr.SequenceNumber, s.tx.ts
	id := s.Play(testPrompt("p", 3))
	s.SendDigit('4', 60*time.Millisecond) // 5 event packets, then the prompt's 3 frames
	for range 10 {
		s.tick()
	}
	if st := s.Stats(); st.PacketsOut != 0 || st.SendErrors != 0 {
		t.Fatalf("muted: stats %+v", st)
	}
	select {
	case got := <-s.Done():
		if got != id {
			t.Fatalf("done %d, want %d", got, id)
		}
	default:
		t.Fatal("the playback did not advance while muted")
	}

	s.SetMuted(false)
	s.tick()
	s.tick()
	s.SetMuted(true)
	for range 3 {
		s.tick()
	}
	s.SetMuted(false)
	s.tick()

	pk := readPackets(t, sink, 3) // the first three to arrive: nothing came before
	wants := []struct {
		seq    uint16
		marker bool
		slot   uint32
	}{{seq0, true, 10}, {seq0 + 1, false, 11}, {seq0 + 2, true, 15}}
	for i, w := range wants {
		g := pk[i]
		if g.SequenceNumber != w.seq || g.Marker != w.marker || g.Timestamp != ts0+w.slot*FrameSize || g.PayloadType != PTPCMU {
			t.Errorf("packet %d: seq %d marker %v ts +%d pt %d; want seq %d marker %v ts +%d",
				i, g.SequenceNumber, g.Marker, (g.Timestamp-ts0)/FrameSize, g.PayloadType, w.seq, w.marker, w.slot)
		}
		if !isSilence(g.Payload, PCMU) {
			t.Errorf("packet %d: not silence", i)
		}
	}
	if n := pending(t, sink); n != 0 {
		t.Fatalf("%d packets more than sent unmuted", n)
	}
}

// TestMute_UnconfirmedCallStreamsNothing replays issue #10 finding 7 with
// both goroutines running: a session started muted (an answer not yet
// confirmed) sends nothing while the far end's early RTP is received and
// latched; unmuted, the far end gets the stream.
func TestMute_UnconfirmedCallStreamsNothing(t *testing.T) {
	t.Parallel()
	hot, far := listenIP(t, ipHotline), listenIP(t, ipCaller)
	a := startPeer(t, hot, SessionConfig{Remote: addr(far), PeerIP: ipCaller, Muted: true})
	b := startPeer(t, far, SessionConfig{Remote: addr(hot)})
	// 25 packets from the far end take about 25 slots of our writer too.
	eventually(t, "early RTP received", func() bool { return a.Stats().PacketsIn >= 25 })
	if st := a.Stats(); st.PacketsOut != 0 || b.Stats().PacketsIn != 0 || a.Remote() != addr(far) {
		t.Fatalf("muted: sent %d, the far end got %d, remote %v", st.PacketsOut, b.Stats().PacketsIn, a.Remote())
	}
	a.SetMuted(false)
	eventually(t, "the stream once unmuted", func() bool { return b.Stats().PacketsIn >= 5 })
}

// BenchmarkSessionReceiveRefused: a flood from a stranger (dropped before
// parsing) while the caller's SDP address is latched, and from another port
// of the caller's IP while a source latched by IP talks (a candidate held
// off: the lock and the clock).
func BenchmarkSessionReceiveRefused(b *testing.B) {
	sdpAddr := netip.AddrPortFrom(ipCaller, 5004)
	for _, bc := range []struct {
		name          string
		latched, from netip.AddrPort
	}{
		{"stranger", sdpAddr, netip.AddrPortFrom(ipAttacker, 5004)},
		{"candidate", netip.AddrPortFrom(ipCaller, 7000), netip.AddrPortFrom(ipCaller, 6000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := NewSession(listen(b), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT, Remote: sdpAddr})
			pkts := benchPackets()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				s.receive(pkts[i%len(pkts)], bc.latched) // the latched source talks
				s.receive(pkts[i%len(pkts)], bc.from)
				i++
				if len(s.digits) == cap(s.digits) {
					<-s.digits
				}
			}
			if st := s.Stats(); st.PacketsForeign != uint64(i) || s.Remote() != bc.latched {
				b.Fatalf("stats %+v, remote %v", st, s.Remote())
			}
		})
	}
}
