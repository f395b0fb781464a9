package media

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// distinctPrompt returns a prompt of n frames that all differ and contain
// no silence byte in either codec.
func distinctPrompt(name string, n int) *Prompt {
	pcm := make([]int16, n*FrameSize)
	for i := range pcm {
		frame := i / FrameSize
		pcm[i] = int16(2000 + 50*frame + int(1500*math.Sin(2*math.Pi*440*float64(i)/ClockRate)))
	}
	return NewPrompt(name, pcm)
}

// transcoded returns frames converted from codec from to codec to.
func transcoded(frames [][]byte, from, to CodecName) [][]byte {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = make([]byte, len(f))
		TranscodeTo(out[i], f, from, to)
	}
	return out
}

// g711Tolerance is how far a sample may move when re-quantised by the
// other G.711 law: half a step of the coarser law at that level, at least
// 16 (A-law's smallest step is 16 in 16-bit units, µ-law's 8).
func g711Tolerance(x int16) int {
	return max(16, int(math.Abs(float64(x)))/16)
}

func decode(frame []byte, c CodecName) []int16 {
	pcm := make([]int16, len(frame))
	if c == PCMA {
		DecodePCMATo(pcm, frame)
	} else {
		DecodePCMUTo(pcm, frame)
	}
	return pcm
}

func TestTranscode_WithinQuantisation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ from, to CodecName }{{PCMU, PCMA}, {PCMA, PCMU}} {
		for b := range 256 {
			src := []byte{byte(b)}
			var dst [1]byte
			TranscodeTo(dst[:], src, c.from, c.to)
			x, y := decode(src, c.from)[0], decode(dst[:], c.to)[0]
			if d := int(x) - int(y); d > g711Tolerance(x) || -d > g711Tolerance(x) {
				t.Errorf("%s %#02x (%d) -> %s %#02x (%d)", c.from, b, x, c.to, dst[0], y)
			}
		}
	}
	if TranscodeTo(make([]byte, 4), []byte{SilencePCMU, 1}, PCMU, PCMU) != 2 {
		t.Error("same-codec copy count")
	}
	var d [1]byte
	TranscodeTo(d[:], []byte{SilencePCMU}, PCMU, PCMA)
	if d[0] != SilencePCMA {
		t.Errorf("µ-law silence -> %#02x", d[0])
	}
}

// rtpPacket marshals an RTP packet (tests only: allocates).
func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, marker bool, payload []byte) []byte {
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: marker}, Payload: payload}).Marshal()
	return b
}

// TestBridge_SlotBySlot drives one direction of a bridge without
// goroutines: packets into leg a's receive path, leg b's writer slot by
// slot, and checks every packet leg b sends: transcoded audio, a relayed
// event with b's payload type on b's clock, sequence continuity, and the
// return to normal after Unbridge.
func TestBridge_SlotBySlot(t *testing.T) {
	t.Parallel()
	const ptB = 96
	sink := listen(t)
	a := NewSession(listen(t), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT})
	b := NewSession(listen(t), SessionConfig{Codec: CodecPCMA, DTMFPT: ptB, Remote: addr(sink)})
	br, err := Bridge(t.Context(), a, b, BridgeConfig{DigitsA: true})
	if err != nil {
		t.Fatal(err)
	}
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	voice := distinctPrompt("voice", 4).Frames(PCMU)
	ts := uint32(90000)
	seq := uint16(1)
	// Three audio slots, then a press of 5 (start, two updates, three
	// ends), then audio again.
	for i := range 3 {
		a.receive(rtpPacket(0, seq, ts, 0xA, i == 0, voice[i]), from)
		seq, ts = seq+1, ts+FrameSize
		b.tick()
	}
	evTS := ts
	for i, dur := range []uint16{160, 320, 480} {
		a.receive(rtpPacket(testDTMFPT, seq, evTS, 0xA, i == 0, AppendEvent(nil, 5, false, 10, dur)), from)
		seq++
		b.tick()
	}
	for range 3 {
		a.receive(rtpPacket(testDTMFPT, seq, evTS, 0xA, false, AppendEvent(nil, 5, true, 10, 640)), from)
		seq++
	}
	ts += 4 * FrameSize
	for range 3 { // the event's end packets: 640E ×3
		b.tick()
	}
	a.receive(rtpPacket(0, seq, ts, 0xA, true, voice[3]), from)
	b.tick()
	b.tick() // nothing arrived: silence

	pk := readPackets(t, sink, 11)
	alaw := transcoded(voice, PCMU, PCMA)
	type want struct {
		pt     uint8
		marker bool
		frame  []byte // audio: this payload; nil: silence
		code   int    // event: code, -1 for audio
		dur    uint16
		end    bool
	}
	wants := []want{
		{PTPCMA, true, alaw[0], -1, 0, false},
		{PTPCMA, false, alaw[1], -1, 0, false},
		{PTPCMA, false, alaw[2], -1, 0, false},
		{ptB, true, nil, 5, 160, false},
		{ptB, false, nil, 5, 320, false},
		{ptB, false, nil, 5, 480, false},
		{ptB, false, nil, 5, 640, true},
		{ptB, false, nil, 5, 640, true},
		{ptB, false, nil, 5, 640, true},
		{PTPCMA, true, alaw[3], -1, 0, false},
		{PTPCMA, false, nil, -1, 0, false},
	}
	for i, w := range wants {
		g := pk[i]
		if g.SequenceNumber != pk[0].SequenceNumber+uint16(i) || g.SSRC != pk[0].SSRC {
			t.Errorf("packet %d: seq %d ssrc %#x", i, g.SequenceNumber, g.SSRC)
		}
		if g.PayloadType != w.pt || g.Marker != w.marker {
			t.Errorf("packet %d: pt %d marker %v, want %d %v", i, g.PayloadType, g.Marker, w.pt, w.marker)
		}
		if w.code < 0 {
			if g.Timestamp-pk[0].Timestamp != uint32(i*FrameSize) {
				t.Errorf("packet %d: ts +%d", i, g.Timestamp-pk[0].Timestamp)
			}
			if w.frame == nil && !isSilence(g.Payload, PCMA) || w.frame != nil && !bytes.Equal(g.Payload, w.frame) {
				t.Errorf("packet %d: wrong audio", i)
			}
			continue
		}
		if g.Timestamp-pk[0].Timestamp != 3*FrameSize {
			t.Errorf("packet %d: event ts +%d, want the event start", i, g.Timestamp-pk[0].Timestamp)
		}
		if len(g.Payload) != 4 || int(g.Payload[0]) != w.code || (g.Payload[1]&0x80 != 0) != w.end ||
			uint16(g.Payload[2])<<8|uint16(g.Payload[3]) != w.dur {
			t.Errorf("packet %d: event % x, want code %d end %v duration %d", i, g.Payload, w.code, w.end, w.dur)
		}
	}
	// DigitsA: a's call still hears its key; b reports nothing.
	if len(a.Digits()) != 1 || len(b.Digits()) != 0 {
		t.Fatalf("digits: a %d, b %d", len(a.Digits()), len(b.Digits()))
	}
	if d := <-a.Digits(); d.Key != '5' || d.Mode != ModeRFC4733 {
		t.Fatalf("a's digit %+v", d)
	}
	st := br.Stats().AToB
	if st.Packets != 4 || st.Frames != 4 || st.Events != 1 || st.Dropped != 0 || st.Underruns < 1 {
		t.Fatalf("stats %+v", st)
	}

	// A prompt on a bridged leg plays over the relayed audio, which
	// resumes afterwards.
	p := testPrompt("p", 1)
	id := b.Play(p)
	a.receive(rtpPacket(0, seq+1, ts+FrameSize, 0xA, false, voice[0]), from)
	b.tick()
	a.receive(rtpPacket(0, seq+2, ts+2*FrameSize, 0xA, false, voice[1]), from)
	b.tick()
	pk = readPackets(t, sink, 2)
	if !bytes.Equal(pk[0].Payload, p.Frames(PCMA)[0]) || !bytes.Equal(pk[1].Payload, alaw[1]) {
		t.Fatal("prompt over the bridge, then relayed audio: wrong frames")
	}
	if got := <-b.Done(); got != id {
		t.Fatalf("done %d, want %d", got, id)
	}

	// Unbridged: silence again, a's audio no longer reaches b, digits are
	// a's own again.
	br.Unbridge()
	br.Unbridge()
	a.receive(rtpPacket(0, seq+3, ts+3*FrameSize, 0xA, false, voice[2]), from)
	b.tick()
	if pk := readPackets(t, sink, 1); !isSilence(pk[0].Payload, PCMA) {
		t.Fatal("audio relayed after Unbridge")
	}
	if _, err := Bridge(t.Context(), a, b, BridgeConfig{}); err != nil {
		t.Fatalf("bridge again: %v", err)
	}
}

// TestBridge_EventEdgeCases: a press whose end arrives before the writer
// starts it, a press whose end never arrives, Unbridge during a press, and
// presses to a leg without telephone-event, as tones or dropped.
func TestBridge_EventEdgeCases(t *testing.T) {
	t.Parallel()
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	press := func(s *Session, ts uint32, code uint8, end bool, dur uint16) {
		s.receive(rtpPacket(testDTMFPT, uint16(ts), ts, 7, false, AppendEvent(nil, code, end, 10, dur)), from)
	}
	events := func(t *testing.T, pk []rtp.Packet) (durs []uint16, ends int) {
		for _, g := range pk {
			if g.PayloadType == testDTMFPT {
				durs = append(durs, uint16(g.Payload[2])<<8|uint16(g.Payload[3]))
				if g.Payload[1]&0x80 != 0 {
					ends++
				}
			}
		}
		return durs, ends
	}

	t.Run("ended before sent", func(t *testing.T) {
		t.Parallel()
		sink := listen(t)
		a := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT})
		b := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT, Remote: addr(sink)})
		if _, err := Bridge(t.Context(), a, b, BridgeConfig{}); err != nil {
			t.Fatal(err)
		}
		press(a, 1000, 1, false, 160)
		press(a, 1000, 1, true, 480)
		for range 5 {
			b.tick()
		}
		durs, ends := events(t, readPackets(t, sink, 5))
		if want := []uint16{160, 320, 480, 480, 480}; !equalU16(durs, want) || ends != 3 {
			t.Fatalf("durations %v (%d ends), want %v", durs, ends, want)
		}
		if len(a.Digits()) != 0 {
			t.Fatal("a reported a bridged press without DigitsA")
		}
	})
	t.Run("unbridged mid-press", func(t *testing.T) {
		t.Parallel()
		sink := listen(t)
		a := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT})
		b := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT, Remote: addr(sink)})
		br, err := Bridge(t.Context(), a, b, BridgeConfig{})
		if err != nil {
			t.Fatal(err)
		}
		press(a, 1000, 2, false, 160)
		b.tick()
		b.tick()
		br.Unbridge()
		for range 4 {
			b.tick()
		}
		pk := readPackets(t, sink, 6)
		durs, ends := events(t, pk)
		if want := []uint16{160, 320, 320, 320, 320}; !equalU16(durs, want) || ends != 3 {
			t.Fatalf("durations %v (%d ends), want %v", durs, ends, want)
		}
		if pk[5].PayloadType != PTPCMU || !pk[5].Marker {
			t.Fatal("audio did not resume after the ended press")
		}
	})
	t.Run("source end lost", func(t *testing.T) {
		t.Parallel()
		sink := listen(t)
		a := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT})
		b := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT, Remote: addr(sink)})
		if _, err := Bridge(t.Context(), a, b, BridgeConfig{}); err != nil {
			t.Fatal(err)
		}
		a.receive(rtpPacket(testDTMFPT, 1, 1000, 7, true, AppendEvent(nil, 3, false, 10, 160)), from)
		b.tick()
		// Age the press past the timeout instead of waiting for it.
		q := b.link.Load().out
		q.mu.Lock()
		q.ev[q.evHead].last = q.ev[q.evHead].last.Add(-2 * DefaultDTMFTimeout)
		q.mu.Unlock()
		for range 3 {
			b.tick()
		}
		if _, ends := events(t, readPackets(t, sink, 4)); ends != 3 {
			t.Fatalf("%d end packets, want 3", ends)
		}
	})
	for _, drop := range []bool{false, true} {
		name := map[bool]string{false: "as tones", true: "dropped"}[drop]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sink := listen(t)
			a := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT})
			b := NewSession(listen(t), SessionConfig{Codec: CodecPCMA, Remote: addr(sink)})
			br, err := Bridge(t.Context(), a, b, BridgeConfig{DropEvents: drop})
			if err != nil {
				t.Fatal(err)
			}
			press(a, 1000, 9, false, 160)
			press(a, 1000, 9, true, 800)
			tone := toneFrames('9', DefaultDigitDuration, PCMA)
			for range tone {
				b.tick()
			}
			pk := readPackets(t, sink, len(tone))
			st := br.Stats().AToB
			if drop {
				if st.EventsDropped != 1 || st.Tones != 0 || !isSilence(pk[0].Payload, PCMA) {
					t.Fatalf("stats %+v", st)
				}
				return
			}
			for i := range tone {
				if !bytes.Equal(pk[i].Payload, tone[i]) || pk[i].PayloadType != PTPCMA {
					t.Fatalf("packet %d is not tone frame %d", i, i)
				}
			}
			if st.Tones != 1 || st.EventsDropped != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBridge_Errors(t *testing.T) {
	t.Parallel()
	a, b, c := NewSession(listen(t), SessionConfig{}), NewSession(listen(t), SessionConfig{}), NewSession(listen(t), SessionConfig{})
	if _, err := Bridge(t.Context(), a, a, BridgeConfig{}); err == nil {
		t.Fatal("bridged a session with itself")
	}
	ctx, cancel := context.WithCancel(t.Context())
	if _, err := Bridge(ctx, a, b, BridgeConfig{}); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]*Session{{a, c}, {c, b}} {
		if _, err := Bridge(t.Context(), pair[0], pair[1], BridgeConfig{}); !errors.Is(err, ErrBridged) {
			t.Fatalf("second bridge: %v, want ErrBridged", err)
		}
	}
	if c.link.Load() != nil {
		t.Fatal("failed bridge left c linked")
	}
	// The end of the context unbridges.
	cancel()
	eventually(t, "unbridge on context end", func() bool { return a.link.Load() == nil && b.link.Load() == nil })
	if _, err := Bridge(t.Context(), a, c, BridgeConfig{}); err != nil {
		t.Fatal(err)
	}
}

// TestRelayQueue_BurstTrimAndPartial checks the queue's three rules: a
// burst beyond four frames drops the oldest, delay left behind is trimmed a
// frame at a time, and a partial frame waits one slot, then goes padded.
func TestRelayQueue_BurstTrimAndPartial(t *testing.T) {
	t.Parallel()
	q := newRelayQueue(SessionConfig{Codec: CodecPCMU}, SessionConfig{Codec: CodecPCMU}, false)
	frame := func(v byte) []byte { return bytes.Repeat([]byte{v}, FrameSize) }
	var dst [FrameSize]byte
	for v := range byte(6) {
		q.push(frame(v + 1))
	}
	if st := q.stats(); st.Dropped != 2 || st.Packets != 6 {
		t.Fatalf("after a burst of 6: %+v", st)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.takeLocked(&dst) || dst[0] != 3 {
		t.Fatalf("took frame %d, want the oldest kept, 3", dst[0])
	}
	// Three frames stay queued for the rest of the trim window: one is
	// trimmed at its end.
	for range trimWindow - 1 {
		q.n += FrameSize // keep the level up without pushing
		if !q.takeLocked(&dst) {
			t.Fatal("no frame")
		}
	}
	if st := q.stats(); st.Dropped != 3 {
		t.Fatalf("not trimmed: %+v", st)
	}
	q.head, q.n = 0, 0
	copy(q.buf[:], frame(9)[:80])
	q.n = 80
	if q.takeLocked(&dst) {
		t.Fatal("half a frame sent at once")
	}
	if !q.takeLocked(&dst) || dst[0] != 9 || dst[79] != 9 || dst[80] != SilencePCMU || dst[FrameSize-1] != SilencePCMU {
		t.Fatal("partial frame not padded with silence")
	}
	if q.takeLocked(&dst) || q.stats().Underruns != 2 {
		t.Fatalf("underruns %d, want 2", q.stats().Underruns)
	}
}

// legPair is a phone and the call leg that answers it, on loopback.
type legPair struct {
	phone *peer
	leg   *Session
}

func newLegPair(t *testing.T, codec Codec, dtmfPT uint8, inband bool) legPair {
	t.Helper()
	cp, cl := listen(t), listen(t)
	phone := startPeer(t, cp, SessionConfig{Codec: codec, DTMFPT: dtmfPT, Remote: addr(cl), Inband: inband})
	leg := NewSession(cl, SessionConfig{Codec: codec, DTMFPT: dtmfPT, Remote: addr(cp)})
	leg.Start(t.Context())
	t.Cleanup(func() { leg.Close() })
	return legPair{phone, leg}
}

// checkRelayed asserts that got, the non-silent frames a phone received,
// are want in order, byte-exact, less at most the frames the bridge
// counted as dropped.
func checkRelayed(t *testing.T, got, want [][]byte, dropped uint64) {
	t.Helper()
	j := 0
	for i, g := range got {
		for j < len(want) && !bytes.Equal(g, want[j]) {
			j++
		}
		if j == len(want) {
			t.Fatalf("received frame %d is not the next sent frame (or out of order)", i)
		}
		j++
	}
	if uint64(len(want)-len(got)) > dropped {
		t.Fatalf("received %d of %d frames, %d dropped", len(got), len(want), dropped)
	}
}

// voiceFrames returns the frames p received that are not silence: in codec
// c, or transcoded from the other codec (A-law has no zero: its silence
// becomes a µ-law ±8).
func voiceFrames(p *peer, c CodecName) [][]byte {
	var out [][]byte
	for _, f := range p.frames() {
		if !isQuiet(f, c) {
			out = append(out, f)
		}
	}
	return out
}

func isQuiet(frame []byte, c CodecName) bool {
	for _, x := range decode(frame, c) {
		if x > 8 || x < -8 {
			return false
		}
	}
	return true
}

// TestBridge_FourSessions: phone A ↔ leg A | bridge | leg B ↔ phone B on
// loopback sockets. Each phone plays a prompt; the other receives it
// byte-exact (same codec) or transcoded (samples within G.711
// quantisation); a key pressed on each phone arrives at the other once.
func TestBridge_FourSessions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ca, cb Codec
	}{
		{"PCMU-PCMU", CodecPCMU, CodecPCMU},
		{"PCMU-PCMA", CodecPCMU, CodecPCMA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const ptB = 96
			a := newLegPair(t, tc.ca, testDTMFPT, false)
			b := newLegPair(t, tc.cb, ptB, false)
			br, err := Bridge(t.Context(), a.leg, b.leg, BridgeConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer br.Unbridge()
			pa, pb := distinctPrompt("a", 25), distinctPrompt("b", 25)
			a.phone.Play(pa)
			b.phone.Play(pb)
			toB := transcoded(pa.Frames(tc.ca.Name), tc.ca.Name, tc.cb.Name)
			toA := transcoded(pb.Frames(tc.cb.Name), tc.cb.Name, tc.ca.Name)
			eventually(t, "both prompts relayed", func() bool {
				st := br.Stats()
				return len(voiceFrames(b.phone, tc.cb.Name))+int(st.AToB.Dropped) >= len(toB) &&
					len(voiceFrames(a.phone, tc.ca.Name))+int(st.BToA.Dropped) >= len(toA)
			})
			st := br.Stats()
			checkRelayed(t, voiceFrames(b.phone, tc.cb.Name), toB, st.AToB.Dropped)
			checkRelayed(t, voiceFrames(a.phone, tc.ca.Name), toA, st.BToA.Dropped)
			if tc.ca != tc.cb {
				// The samples heard are the samples sent, to G.711's
				// precision.
				sent := decode(pa.Frames(tc.ca.Name)[0], tc.ca.Name)
				heard := decode(voiceFrames(b.phone, tc.cb.Name)[0], tc.cb.Name)
				for i := range sent {
					if d := int(sent[i]) - int(heard[i]); d > g711Tolerance(sent[i]) || -d > g711Tolerance(sent[i]) {
						t.Fatalf("sample %d: sent %d, heard %d", i, sent[i], heard[i])
					}
				}
			}

			a.phone.SendDigit('5', 0)
			b.phone.SendDigit('#', 0)
			if d := collect(t, b.phone.Session, 1)[0]; d.Key != '5' || d.Mode != ModeRFC4733 {
				t.Fatalf("phone B heard %+v", d)
			}
			if d := collect(t, a.phone.Session, 1)[0]; d.Key != '#' || d.Mode != ModeRFC4733 {
				t.Fatalf("phone A heard %+v", d)
			}
			select {
			case d := <-b.phone.Digits():
				t.Fatalf("extra digit at B %+v", d)
			case d := <-a.phone.Digits():
				t.Fatalf("extra digit at A %+v", d)
			case d := <-a.leg.Digits():
				t.Fatalf("leg A reported %+v without DigitsA", d)
			case <-time.After(150 * time.Millisecond):
			}
			if st := br.Stats(); st.AToB.Events != 1 || st.BToA.Events != 1 {
				t.Fatalf("stats %+v", st)
			}
			// Every packet phone B received came from leg B's own
			// stream: one SSRC, no gap in the sequence.
			if st := b.phone.Stats(); st.PacketsIgnored != 0 {
				t.Fatalf("phone B ignored %d packets", st.PacketsIgnored)
			}
		})
	}
}

// TestBridge_UnbridgeThenPlay: after Unbridge each leg plays prompts to
// its own phone again and hears no more of the other.
func TestBridge_UnbridgeThenPlay(t *testing.T) {
	t.Parallel()
	a := newLegPair(t, CodecPCMU, testDTMFPT, false)
	b := newLegPair(t, CodecPCMA, 0, true) // no telephone-event: tones
	br, err := Bridge(t.Context(), a.leg, b.leg, BridgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a.phone.SendDigit('7', 0)
	if d := collect(t, b.phone.Session, 1)[0]; d.Key != '7' || d.Mode != ModeInband {
		t.Fatalf("phone B heard %+v", d)
	}
	br.Unbridge()
	p := distinctPrompt("after", 5)
	id := b.leg.Play(p)
	select {
	case got := <-b.leg.Done():
		if got != id {
			t.Fatalf("done %d, want %d", got, id)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("prompt never done after Unbridge")
	}
	eventually(t, "prompt at phone B", func() bool {
		v := voiceFrames(b.phone, PCMA)
		return len(v) > 0 && bytes.Equal(v[len(v)-1], p.Frames(PCMA)[4])
	})
	if st := br.Stats(); st.AToB.Tones != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSession_LoopWrapsNeverDone drives the writer slot by slot: a loop
// plays its prompts over and over from the shared frames, never reports
// Done, and gives way to Play.
func TestSession_LoopWrapsNeverDone(t *testing.T) {
	t.Parallel()
	sink := listen(t)
	s := NewSession(listen(t), SessionConfig{Codec: CodecPCMA, Remote: addr(sink)})
	p1, p2 := distinctPrompt("one", 2), distinctPrompt("two", 1)
	s.Loop(p1, nil, NewPrompt("empty", nil), p2)
	var order [][]byte
	for range 7 {
		s.tick()
	}
	for range 2 {
		order = append(order, p1.Frames(PCMA)...)
		order = append(order, p2.Frames(PCMA)...)
	}
	order = append(order, p1.Frames(PCMA)[0])
	pk := readPackets(t, sink, 7)
	for i := range pk {
		if !bytes.Equal(pk[i].Payload, order[i]) || pk[i].Marker != (i == 0) {
			t.Fatalf("packet %d: wrong frame or marker", i)
		}
	}
	if len(s.Done()) != 0 {
		t.Fatal("a loop reported done")
	}
	// The loop sends the prompt's own frames: no copy per call.
	if f := s.nextFrame(nil); &f[0] != &p1.Frames(PCMA)[1][0] {
		t.Fatal("loop frame is a copy")
	}
	id := s.Play(p2)
	s.tick()
	s.tick()
	if got := <-s.Done(); got != id {
		t.Fatalf("done %d, want %d", got, id)
	}
	// A loop of nothing is silence, forever, and Play replaces it.
	s.Loop(nil, NewPrompt("empty", nil))
	for range 3 {
		s.tick()
	}
	readPackets(t, sink, 2)
	for _, g := range readPackets(t, sink, 3) {
		if !isSilence(g.Payload, PCMA) {
			t.Fatal("empty loop is not silence")
		}
	}
	if len(s.Done()) != 0 {
		t.Fatal("an empty loop reported done")
	}
}

// TestSession_LoopLoopback: music on hold over real sockets wraps around
// without a gap.
func TestSession_LoopLoopback(t *testing.T) {
	t.Parallel()
	ca, cb := listen(t), listen(t)
	a := startPeer(t, ca, SessionConfig{Remote: addr(cb)})
	b := startPeer(t, cb, SessionConfig{Remote: addr(ca)})
	moh := distinctPrompt("moh", 3)
	a.Loop(moh)
	eventually(t, "three rounds", func() bool { return len(voiceFrames(b, PCMU)) >= 9 })
	v := voiceFrames(b, PCMU)
	start := 0
	for start < len(v) && !bytes.Equal(v[start], moh.Frames(PCMU)[0]) {
		start++
	}
	for i := start; i < len(v); i++ {
		if !bytes.Equal(v[i], moh.Frames(PCMU)[(i-start)%3]) {
			t.Fatalf("frame %d out of loop order", i)
		}
	}
	if len(v)-start < 6 {
		t.Fatalf("only %d frames after the loop start", len(v)-start)
	}
}

// BenchmarkBridgeRelay is the per-packet cost of a bridge: one packet
// received on leg a (parsed, converted, queued) and one slot of leg b's
// writer (taken, sent), with a PCMU caller and an agent in each codec; mixed
// adds a telephone-event stream relayed as events.
func BenchmarkBridgeRelay(b *testing.B) {
	for _, bc := range []struct {
		name  string
		codec Codec
		mixed bool
	}{
		{"PCMU-PCMU", CodecPCMU, false},
		{"PCMU-PCMA", CodecPCMA, false},
		{"PCMU-PCMA+events", CodecPCMA, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sink := listen(b)
			la := NewSession(listen(b), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT})
			lb := NewSession(listen(b), SessionConfig{Codec: bc.codec, DTMFPT: testDTMFPT, Remote: addr(sink)})
			if _, err := Bridge(b.Context(), la, lb, BridgeConfig{}); err != nil {
				b.Fatal(err)
			}
			var pkts [][]byte
			if bc.mixed {
				pkts = benchPackets()
			} else {
				frames := distinctPrompt("voice", 50).Frames(PCMU)
				for i, f := range frames {
					pkts = append(pkts, rtpPacket(0, uint16(i), uint32(i*FrameSize), 1, false, f))
				}
			}
			from := netip.MustParseAddrPort("127.0.0.1:4000")
			lb.tick()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				la.receive(pkts[i%len(pkts)], from)
				lb.tick()
				i++
			}
			if st := lb.Stats(); st.SendErrors != 0 {
				b.Fatalf("send errors: %+v", st)
			}
		})
	}
}

// BenchmarkRelayQueue is the relay's own share of BenchmarkBridgeRelay,
// without the parse and the send system call: one 20 ms frame pushed
// (transcoded µ-law to A-law) and one taken.
func BenchmarkRelayQueue(b *testing.B) {
	q := newRelayQueue(SessionConfig{Codec: CodecPCMU}, SessionConfig{Codec: CodecPCMA, DTMFPT: testDTMFPT}, false)
	frame := distinctPrompt("voice", 1).Frames(PCMU)[0]
	var w sender
	b.ReportAllocs()
	for b.Loop() {
		q.push(frame)
		if q.pull(&w, PCMA) == nil {
			b.Fatal("no frame")
		}
	}
}

// TestBridge_TakeDigits: leg b's presses go to b.Digits only, never to leg
// a (an agent's feature code is not heard by the caller); its audio and
// leg a's presses are relayed as usual.
func TestBridge_TakeDigits(t *testing.T) {
	t.Parallel()
	sinkA, sinkB := listen(t), listen(t)
	a := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT, Remote: addr(sinkA)})
	b := NewSession(listen(t), SessionConfig{DTMFPT: testDTMFPT, Remote: addr(sinkB)})
	br, err := Bridge(t.Context(), a, b, BridgeConfig{TakeDigitsB: true})
	if err != nil {
		t.Fatal(err)
	}
	voice := distinctPrompt("voice", 1).Frames(PCMU)
	b.receive(rtpPacket(testDTMFPT, 1, 1000, 7, true, AppendEvent(nil, 10, false, 10, 160)), addr(sinkB)) // *
	b.receive(rtpPacket(testDTMFPT, 2, 1000, 7, false, AppendEvent(nil, 10, true, 10, 320)), addr(sinkB))
	b.receive(rtpPacket(0, 3, 1320, 7, true, voice[0]), addr(sinkB))
	a.receive(rtpPacket(testDTMFPT, 1, 5000, 9, true, AppendEvent(nil, 4, true, 10, 160)), addr(sinkA))
	for range 3 {
		a.tick()
		b.tick()
	}
	pa, pb := readPackets(t, sinkA, 3), readPackets(t, sinkB, 3)
	for _, g := range pa {
		if g.PayloadType == testDTMFPT {
			t.Fatalf("leg a was sent b's press: % x", g.Payload)
		}
	}
	if !bytes.Equal(pa[0].Payload, voice[0]) {
		t.Error("b's audio not relayed to a")
	}
	if pb[0].PayloadType != testDTMFPT || pb[0].Payload[0] != 4 {
		t.Errorf("a's press not relayed to b: pt %d % x", pb[0].PayloadType, pb[0].Payload)
	}
	if len(b.Digits()) != 1 || len(a.Digits()) != 0 {
		t.Fatalf("digits: a %d, b %d; want b's one press on b", len(a.Digits()), len(b.Digits()))
	}
	if d := <-b.Digits(); d.Key != '*' || d.Mode != ModeRFC4733 {
		t.Fatalf("b's digit %+v", d)
	}
	if st := br.Stats().BToA; st.Events != 0 || st.EventsDropped != 0 {
		t.Fatalf("b to a stats %+v: a taken press is not relayed, nor dropped", st)
	}
}
