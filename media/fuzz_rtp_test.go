package media

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzSessionReceive feeds arbitrary datagrams through the whole receive
// path (source admission and latching, RTP header parsing, RFC 4733 and
// in-band DTMF, the audio callback) from fuzzed sources at fuzzed times. It
// must not panic, must account for every datagram exactly once, and must
// never let a source outside the rule of SessionConfig.Remote be latched,
// heard or obeyed.
//
// Each source byte picks the sender (low 3 bits) and how far the clock moves
// before the packet (the rest, in 100 ms steps: up to 3.1 s, past the latch
// hold-off).
func FuzzSessionReceive(f *testing.F) {
	conn := listen(f) // shared, never read or written: receive is called directly
	sdpAddr := netip.AddrPortFrom(ipPrivate, 5004)
	sources := [8]netip.AddrPort{
		sdpAddr,
		netip.AddrPortFrom(ipPrivate, 6000), // the SDP's IP, another port
		netip.AddrPortFrom(ipNAT, 7000),     // PeerIP
		netip.AddrPortFrom(ipNAT, 7002),     // PeerIP, another port
		netip.AddrPortFrom(netip.AddrFrom16(ipNAT.As16()), 7004), // PeerIP, IPv4-mapped
		netip.AddrPortFrom(ipAttacker, 5004),                     // strangers
		netip.AddrPortFrom(netip.AddrFrom16(ipAttacker.As16()), 5004),
		netip.MustParseAddrPort("[2001:db8::1]:5004"),
	}
	trusted := func(ip netip.Addr) bool { return ip == ipPrivate || ip == ipNAT }

	voice := rtpPacket(0, 1, 160, 7, true, make([]byte, FrameSize))
	code, _ := EventCode('5')
	start := rtpPacket(testDTMFPT, 2, 160, 7, true, AppendEvent(nil, code, false, 10, 0))
	end := rtpPacket(testDTMFPT, 3, 160, 7, false, AppendEvent(nil, code, true, 10, 800))
	tone := rtpPacket(0, 4, 320, 7, false, toneFrames('5', 40*time.Millisecond, PCMU)[0])
	withCSRC := rtpPacket(0, 5, 480, 7, false, make([]byte, FrameSize))
	withCSRC[0] |= 2 // claims two CSRCs
	withExt := append([]byte{0x90, 0, 0, 6, 0, 0, 1, 0xe0, 0, 0, 0, 7, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0}, make([]byte, 160)...)
	padded := append(rtpPacket(0, 7, 640, 7, false, make([]byte, 160)), 0, 0, 3)
	padded[0] |= 0x20
	for _, seed := range []struct {
		a    []byte
		srcA byte
		b    []byte
		srcB byte
	}{
		{voice, 5, start, 2},
		{start, 5 | 30<<3, end, 0},
		{voice, 2, voice, 3 | 25<<3},
		{tone, 0, tone, 0},
		{withCSRC, 1, withExt, 1},
		{padded, 4, end, 6},
		{[]byte{0x80}, 0, []byte{0x80, 101, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 1}, 0},
		{nil, 7, []byte{0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 3},
	} {
		f.Add(seed.a, seed.srcA, seed.b, seed.srcB)
	}

	f.Fuzz(func(t *testing.T, a []byte, srcA byte, b []byte, srcB byte) {
		var heard int
		s := NewSession(conn, SessionConfig{DTMFPT: testDTMFPT, Remote: sdpAddr, PeerIP: ipNAT, Inband: true,
			OnAudio: func([]byte) { heard++ }})
		clock := time.Unix(1_000_000, 0)
		s.now = func() time.Time { return clock }
		for _, in := range []struct {
			pkt []byte
			src byte
		}{{a, srcA}, {b, srcB}, {a, srcA}, {b, srcB}} {
			clock = clock.Add(time.Duration(in.src>>3) * 100 * time.Millisecond)
			from := sources[in.src&7]
			before, heardBefore, digitsBefore := s.Stats(), heard, len(s.Digits())
			s.receive(in.pkt, from)
			after := s.Stats()
			accepted := after.PacketsIn - before.PacketsIn
			ignored := after.PacketsIgnored - before.PacketsIgnored
			foreign := after.PacketsForeign - before.PacketsForeign
			if accepted > 1 || ignored > 1 || accepted+ignored == 0 || foreign > ignored || foreign == 1 && accepted == 1 {
				t.Fatalf("datagram from %v counted %d in, %d ignored, %d foreign", from, accepted, ignored, foreign)
			}
			if !trusted(from.Addr().Unmap()) && (foreign != 1 || heard != heardBefore || len(s.Digits()) != digitsBefore) {
				t.Fatalf("a stranger %v was heard: %d foreign, %d audio, %d digits", from, foreign, heard-heardBefore, len(s.Digits())-digitsBefore)
			}
			if r := s.Remote(); !trusted(r.Addr()) {
				t.Fatalf("sending to %v", r)
			}
		}
	})
}
