package media

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

const testDTMFPT = 101

func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addr(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// readPackets reads n RTP packets from c, failing after a second.
func readPackets(t *testing.T, c *net.UDPConn, n int) []rtp.Packet {
	t.Helper()
	out := make([]rtp.Packet, 0, n)
	buf := make([]byte, 2000)
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for len(out) < n {
		m, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(out), err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(bytes.Clone(buf[:m])); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// testPrompt returns a prompt of n frames that contain no silence byte.
func testPrompt(name string, n int) *Prompt {
	pcm := sine(n*FrameSize, 12000)
	for i := range pcm {
		pcm[i] |= 1 // keep every sample away from zero
	}
	return NewPrompt(name, pcm)
}

func isSilence(frame []byte, c CodecName) bool {
	return bytes.Count(frame, []byte{Silence(c)}) == len(frame)
}

// TestSession_PacketPattern drives the writer slot by slot (no goroutines)
// and checks every packet: sequence numbers, the RTP clock, the marker bit
// and the RFC 4733 event packets.
func TestSession_PacketPattern(t *testing.T) {
	t.Parallel()
	sink := listen(t)
	s := NewSession(listen(t), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT, Remote: addr(sink)})
	p := testPrompt("p", 2)
	id := s.Play(p)
	s.tick()
	s.tick()
	s.SendDigit('7', 60*time.Millisecond) // 480 samples: 160, 320, 480E ×3
	for range 5 {
		s.tick()
	}
	s.tick() // audio resumes: silence, the prompt has ended
	s.tick()

	pk := readPackets(t, sink, 9)
	type want struct {
		pt     uint8
		marker bool
		tsStep uint32 // timestamp relative to the first packet
		code   int    // -1 for audio
		end    bool
		dur    uint16
	}
	wants := []want{
		{0, true, 0, -1, false, 0},
		{0, false, 160, -1, false, 0},
		{testDTMFPT, true, 320, 7, false, 160},
		{testDTMFPT, false, 320, 7, false, 320},
		{testDTMFPT, false, 320, 7, true, 480},
		{testDTMFPT, false, 320, 7, true, 480},
		{testDTMFPT, false, 320, 7, true, 480},
		{0, true, 1120, -1, false, 0},
		{0, false, 1280, -1, false, 0},
	}
	for i, w := range wants {
		g := pk[i]
		if g.SequenceNumber != pk[0].SequenceNumber+uint16(i) || g.SSRC != pk[0].SSRC {
			t.Errorf("packet %d: seq %d ssrc %#x", i, g.SequenceNumber, g.SSRC)
		}
		if g.PayloadType != w.pt || g.Marker != w.marker || g.Timestamp-pk[0].Timestamp != w.tsStep {
			t.Errorf("packet %d: pt %d marker %v ts +%d, want %d %v +%d",
				i, g.PayloadType, g.Marker, g.Timestamp-pk[0].Timestamp, w.pt, w.marker, w.tsStep)
		}
		if w.code < 0 {
			if len(g.Payload) != FrameSize {
				t.Errorf("packet %d: %d byte payload", i, len(g.Payload))
			}
			continue
		}
		if len(g.Payload) != 4 || int(g.Payload[0]) != w.code || (g.Payload[1]&0x80 != 0) != w.end ||
			uint16(g.Payload[2])<<8|uint16(g.Payload[3]) != w.dur {
			t.Errorf("packet %d: event payload % x, want code %d end %v duration %d", i, g.Payload, w.code, w.end, w.dur)
		}
	}
	// The prompt paused during the digit, then ended; Done fires one slot
	// after its last frame.
	if !bytes.Equal(pk[0].Payload, p.Frames(PCMU)[0]) || !bytes.Equal(pk[1].Payload, p.Frames(PCMU)[1]) {
		t.Error("prompt frames not sent")
	}
	if !isSilence(pk[7].Payload, PCMU) {
		t.Error("no silence after the prompt")
	}
	select {
	case got := <-s.Done():
		if got != id {
			t.Errorf("done %d, want %d", got, id)
		}
	default:
		t.Error("playback not reported done")
	}
}

// TestSession_PlayReplacesAndStop checks barge-in: a replaced or stopped
// playback is never reported, and the new one starts at the next slot.
func TestSession_PlayReplacesAndStop(t *testing.T) {
	t.Parallel()
	sink := listen(t)
	s := NewSession(listen(t), SessionConfig{Codec: CodecPCMA, Remote: addr(sink)})
	p1, p2 := testPrompt("one", 5), testPrompt("two", 1)
	s.Play(p1)
	s.tick()
	id2 := s.Play(nil, p2, nil)
	s.tick()
	s.tick()
	id3 := s.Play(p1)
	s.tick()
	s.Stop()
	s.tick()
	id4 := s.Play()
	s.tick()

	pk := readPackets(t, sink, 6)
	frames := [][]byte{p1.Frames(PCMA)[0], p2.Frames(PCMA)[0], nil, p1.Frames(PCMA)[0], nil, nil}
	for i, f := range frames {
		if f == nil {
			if !isSilence(pk[i].Payload, PCMA) {
				t.Errorf("packet %d: not silence", i)
			}
		} else if !bytes.Equal(pk[i].Payload, f) {
			t.Errorf("packet %d: wrong frame", i)
		}
		if pk[i].PayloadType != PTPCMA {
			t.Errorf("packet %d: pt %d", i, pk[i].PayloadType)
		}
	}
	var done []uint64
	for len(s.Done()) > 0 {
		done = append(done, <-s.Done())
	}
	if len(done) != 2 || done[0] != id2 || done[1] != id4 {
		t.Fatalf("done %v, want [%d %d] (not %d)", done, id2, id4, id3)
	}
}

func TestSession_DoneKeepsLatest(t *testing.T) {
	t.Parallel()
	s := NewSession(listen(t), SessionConfig{})
	var last uint64
	for range doneBuffer + 3 {
		last = s.Play()
		s.tick()
	}
	var got uint64
	for len(s.Done()) > 0 {
		got = <-s.Done()
	}
	if got != last {
		t.Fatalf("last done %d, want %d", got, last)
	}
}

// peer is a started Session whose received audio is recorded.
type peer struct {
	*Session
	mu    sync.Mutex
	audio [][]byte
}

func (p *peer) frames() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.audio...)
}

func startPeer(t *testing.T, conn *net.UDPConn, cfg SessionConfig) *peer {
	t.Helper()
	p := &peer{}
	cfg.OnAudio = func(b []byte) {
		p.mu.Lock()
		p.audio = append(p.audio, bytes.Clone(b))
		p.mu.Unlock()
	}
	p.Session = NewSession(conn, cfg)
	p.Start(t.Context())
	t.Cleanup(func() { p.Close() })
	return p
}

// eventually polls cond every 10 ms for up to 2 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSession_LoopbackPlaysPromptInOrder(t *testing.T) {
	t.Parallel()
	for _, codec := range []Codec{CodecPCMU, CodecPCMA} {
		t.Run(string(codec.Name), func(t *testing.T) {
			t.Parallel()
			ca, cb := listen(t), listen(t)
			a := startPeer(t, ca, SessionConfig{Codec: codec, Remote: addr(cb)})
			b := startPeer(t, cb, SessionConfig{Codec: codec, Remote: addr(ca)})
			prompt := testPrompt("hello", 8)
			id := a.Play(prompt)
			select {
			case got := <-a.Done():
				if got != id {
					t.Fatalf("done %d, want %d", got, id)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("playback never done")
			}
			var voice [][]byte
			eventually(t, "prompt frames", func() bool {
				voice = voice[:0]
				for _, f := range b.frames() {
					if !isSilence(f, codec.Name) {
						voice = append(voice, f)
					}
				}
				return len(voice) >= 8
			})
			want := prompt.Frames(codec.Name)
			if len(voice) != len(want) {
				t.Fatalf("received %d prompt frames, want %d", len(voice), len(want))
			}
			for i := range want {
				if !bytes.Equal(voice[i], want[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
			// The prompt's frames arrived back to back, between silences.
			all := b.frames()
			start := -1
			for i, f := range all {
				if bytes.Equal(f, want[0]) {
					start = i
					break
				}
			}
			for i := range want {
				if start < 0 || start+i >= len(all) || !bytes.Equal(all[start+i], want[i]) {
					t.Fatal("prompt frames not contiguous")
				}
			}
			if st := a.Stats(); st.PacketsOut == 0 || st.BytesOut != st.PacketsOut*(rtpHeaderSize+FrameSize) {
				t.Errorf("sender stats %+v", st)
			}
		})
	}
}

func TestSession_SendDigitReportsOnce(t *testing.T) {
	t.Parallel()
	ca, cb := listen(t), listen(t)
	a := startPeer(t, ca, SessionConfig{DTMFPT: testDTMFPT, Remote: addr(cb)})
	b := startPeer(t, cb, SessionConfig{DTMFPT: testDTMFPT, Remote: addr(ca)})

	a.SendDigit('5', 80*time.Millisecond)
	a.SendDigit('5', 60*time.Millisecond) // same key again: a new press
	a.SendDigit('#', 0)
	a.SendDigit('x', 0) // not a key: ignored
	var got []byte
	timeout := time.After(2 * time.Second)
	for len(got) < 3 {
		select {
		case d := <-b.Digits():
			if d.Mode != ModeRFC4733 || d.At.IsZero() {
				t.Fatalf("digit %+v", d)
			}
			got = append(got, d.Key)
		case <-timeout:
			t.Fatalf("digits %q, want 3", got)
		}
	}
	if string(got) != "55#" {
		t.Fatalf("digits %q, want \"55#\"", got)
	}
	// The end packets are still arriving: nothing more may be reported.
	select {
	case d := <-b.Digits():
		t.Fatalf("extra digit %q", d.Key)
	case <-time.After(150 * time.Millisecond):
	}
	for _, f := range b.frames() {
		if len(f) != FrameSize {
			t.Fatalf("event payload of %d bytes reached OnAudio", len(f))
		}
	}
	if st := b.Stats(); st.DigitsDropped != 0 || st.PacketsIn == 0 {
		t.Fatalf("receiver stats %+v", st)
	}
}

// TestSession_Latching: the SDP address is wrong (a peer behind NAT); the
// first packet from the real peer, on the SDP address's IP (all of these
// sockets are on 127.0.0.1), redirects our stream to it (symmetric RTP), and
// other sources are ignored while it talks. latch_test.go has the rule with
// distinct IPs.
func TestSession_Latching(t *testing.T) {
	t.Parallel()
	ca, cb, wrong := listen(t), listen(t), listen(t)
	a := startPeer(t, ca, SessionConfig{Remote: addr(wrong)})
	b := startPeer(t, cb, SessionConfig{Remote: addr(ca)})

	eventually(t, "audio from the latched session", func() bool { return len(b.frames()) > 0 })
	if a.Remote() != addr(cb) {
		t.Fatalf("remote %v, want %v", a.Remote(), addr(cb))
	}
	// Drain what reached the wrong address before latching; nothing more
	// may follow.
	buf := make([]byte, 2000)
	drain := func() int {
		n := 0
		_ = wrong.SetReadDeadline(time.Now().Add(60 * time.Millisecond))
		for {
			if _, _, err := wrong.ReadFromUDPAddrPort(buf); err != nil {
				return n
			}
			n++
		}
	}
	drain()
	if n := drain(); n != 0 {
		t.Fatalf("%d packets still sent to the SDP address", n)
	}
	// A packet from another source (neither the latched one nor the SDP's) does not
	// move the latch.
	other := listen(t)
	before := a.Stats().PacketsForeign
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 9}, Payload: make([]byte, FrameSize)}).Marshal()
	if _, err := other.WriteToUDPAddrPort(pkt, addr(ca)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "foreign packet ignored", func() bool { return a.Stats().PacketsForeign > before })
	if a.Remote() != addr(cb) {
		t.Fatalf("remote moved to %v", a.Remote())
	}
}

// TestSession_ReceiveInterleavedSSRC feeds the receive path a voice stream
// and a separate telephone-event stream, interleaved, plus noise.
func TestSession_ReceiveInterleavedSSRC(t *testing.T) {
	t.Parallel()
	var audio int
	s := NewSession(listen(t), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT,
		OnAudio: func(b []byte) {
			if len(b) != FrameSize {
				t.Errorf("audio payload of %d bytes", len(b))
			}
			audio++
		}})
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	voice := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0xAAAA, Timestamp: 50000}, Payload: make([]byte, FrameSize)}
	event := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testDTMFPT, SSRC: 0xBBBB, Timestamp: 7, Marker: true}}
	for i := range 12 {
		voice.SequenceNumber++
		voice.Timestamp += FrameSize
		b, _ := voice.Marshal()
		s.receive(b, from)
		event.SequenceNumber++
		dur := uint16(160 * (i + 1))
		end := i >= 5
		if end {
			dur = 960
		}
		if i == 8 {
			event.Timestamp += 2000 // a second press, no marker
		}
		event.Payload = AppendEvent(nil, 3, end, 10, dur)
		b, _ = event.Marshal()
		s.receive(b, from)
		event.Marker = false
	}
	s.receive([]byte{0x80, 13, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0}, from) // comfort noise
	s.receive([]byte{0x00, 1, 2}, from)                                // junk
	if audio != 12 {
		t.Fatalf("%d audio packets, want 12", audio)
	}
	if len(s.Digits()) != 2 {
		t.Fatalf("%d digits, want 2", len(s.Digits()))
	}
	if st := s.Stats(); st.PacketsIn != 25 || st.PacketsIgnored != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSession_DigitsDroppedWhenFull(t *testing.T) {
	t.Parallel()
	s := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT})
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	ev := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testDTMFPT, SSRC: 1}}
	for i := range digitBuffer + 2 {
		ev.Timestamp = uint32(i) * 10000
		ev.Payload = AppendEvent(nil, 1, false, 10, 160)
		b, _ := ev.Marshal()
		s.receive(b, from)
	}
	if st := s.Stats(); st.DigitsDropped != 2 {
		t.Fatalf("dropped %d, want 2", st.DigitsDropped)
	}
}

func TestSession_CloseAndContext(t *testing.T) {
	t.Parallel()
	conn := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	s := NewSession(conn, SessionConfig{Remote: addr(listen(t))})
	s.Start(ctx)
	s.Start(ctx) // second Start is a no-op
	cancel()
	eventually(t, "goroutines to stop on cancel", func() bool {
		select {
		case <-s.quit:
			return true
		default:
			return false
		}
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The socket is still ours and usable, with no deadline left behind.
	if _, err := conn.WriteToUDPAddrPort([]byte{1}, addr(conn)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
		t.Fatal(err)
	}
	// Start after Close does nothing.
	s.Start(t.Context())
	s2 := NewSession(listen(t), SessionConfig{})
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSessionSendFrame(b *testing.B) {
	sink := listen(b) // never read: the kernel drops what overflows
	s := NewSession(listen(b), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT, Remote: addr(sink)})
	s.Play(testPrompt("long", 3000))
	s.tick()
	b.ReportAllocs()
	for b.Loop() {
		s.tick()
	}
	if st := s.Stats(); st.SendErrors != 0 {
		b.Fatalf("send errors: %+v", st)
	}
}

func BenchmarkSessionSendDigit(b *testing.B) {
	sink := listen(b)
	s := NewSession(listen(b), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT, Remote: addr(sink)})
	s.SendDigit('1', 8*time.Second) // 400 event packets
	s.tick()
	b.ReportAllocs()
	for b.Loop() {
		s.tick()
	}
}

// benchPackets returns interleaved voice and telephone-event packets, with
// a new press every 50 packets.
func benchPackets() [][]byte {
	var out [][]byte
	voice := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, Payload: make([]byte, FrameSize)}
	event := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testDTMFPT, SSRC: 2}}
	for i := range 200 {
		voice.SequenceNumber++
		voice.Timestamp += FrameSize
		b, _ := voice.Marshal()
		out = append(out, b)
		event.SequenceNumber++
		if i%25 == 0 {
			event.Timestamp += 10000
		}
		event.Payload = AppendEvent(nil, uint8(i/25%10), i%25 > 20, 10, uint16(160*(i%25+1)))
		b, _ = event.Marshal()
		out = append(out, b)
	}
	return out
}

func BenchmarkSessionReceive(b *testing.B) {
	var sink [FrameSize]byte
	s := NewSession(listen(b), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT,
		OnAudio: func(p []byte) { copy(sink[:], p) }})
	pkts := benchPackets()
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s.receive(pkts[i%len(pkts)], from)
		i++
		if len(s.digits) == cap(s.digits) {
			<-s.digits
		}
	}
}

// BenchmarkSessionReceiveSocket includes the read system call: a peer
// sends one packet, the session reads it into its reused buffer.
func BenchmarkSessionReceiveSocket(b *testing.B) {
	peerConn, conn := listen(b), listen(b)
	s := NewSession(conn, SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT, OnAudio: func([]byte) {}})
	pkts := benchPackets()
	to := addr(conn)
	buf := make([]byte, maxPacket)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := peerConn.WriteToUDPAddrPort(pkts[i%len(pkts)], to); err != nil {
			b.Fatal(err)
		}
		if err := s.readOne(buf); err != nil {
			b.Fatal(err)
		}
		i++
		for len(s.digits) > 0 {
			<-s.digits
		}
	}
}

// TestSession_SignalledAddressWinsTheLatch: a stray stream from the SDP address's IP
// reaches the port first (a previous call's peer still sending to a reused port) and is latched;
// as soon as the address the SDP names speaks, the stream goes to it instead, and the
// stray source is ignored from then on.
func TestSession_SignalledAddressWinsTheLatch(t *testing.T) {
	t.Parallel()
	ca, cb, stray := listen(t), listen(t), listen(t)
	a := startPeer(t, ca, SessionConfig{Remote: addr(cb)})
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 9}, Payload: make([]byte, FrameSize)}).Marshal()
	if _, err := stray.WriteToUDPAddrPort(pkt, addr(ca)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "latched to the stray source", func() bool { return a.Remote() == addr(stray) })
	b := startPeer(t, cb, SessionConfig{Remote: addr(ca)}) // the real peer starts talking
	eventually(t, "audio at the signalled peer", func() bool { return len(b.frames()) > 0 && a.Remote() == addr(cb) })
	before := a.Stats().PacketsIgnored
	if _, err := stray.WriteToUDPAddrPort(pkt, addr(ca)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stray packet ignored", func() bool { return a.Stats().PacketsIgnored > before })
	if a.Remote() != addr(cb) {
		t.Fatalf("remote moved back to %v", a.Remote())
	}
}
