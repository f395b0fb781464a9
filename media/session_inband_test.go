package media

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// collect reads n digits from s, failing after 2 s.
func collect(t *testing.T, s *Session, n int) []Digit {
	t.Helper()
	var out []Digit
	timeout := time.After(2 * time.Second)
	for len(out) < n {
		select {
		case d := <-s.Digits():
			out = append(out, d)
		case <-timeout:
			t.Fatalf("got %d digits %+v, want %d", len(out), out, n)
		}
	}
	return out
}

// TestSession_SendToneInband: tones sent by one session are detected in
// the audio by the other, each press once, in both codecs.
func TestSession_SendToneInband(t *testing.T) {
	t.Parallel()
	for _, codec := range []Codec{CodecPCMU, CodecPCMA} {
		t.Run(string(codec.Name), func(t *testing.T) {
			t.Parallel()
			ca, cb := listen(t), listen(t)
			a := startPeer(t, ca, SessionConfig{Codec: codec, Remote: addr(cb)})
			b := startPeer(t, cb, SessionConfig{Codec: codec, Remote: addr(ca), Inband: true})
			a.SendTone('5', 80*time.Millisecond)
			a.SendTone('5', 40*time.Millisecond) // same key again: a new press
			a.SendTone('#', 0)
			a.SendTone('x', 0) // not a key: ignored
			var keys []byte
			for _, d := range collect(t, b.Session, 3) {
				if d.Mode != ModeInband || d.At.IsZero() || d.Delay < 20*time.Millisecond || d.Delay > 80*time.Millisecond {
					t.Fatalf("digit %+v", d)
				}
				keys = append(keys, d.Key)
			}
			if string(keys) != "55#" {
				t.Fatalf("keys %q", keys)
			}
			select {
			case d := <-b.Digits():
				t.Fatalf("extra digit %+v", d)
			case <-time.After(150 * time.Millisecond):
			}
			if st := b.Stats(); st.Inband.Detected != 3 || st.DigitsDropped != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestSession_SendDigitAndTone: one press sent both ways arrives once per
// mode, and Delay lines the in-band report up with the event's start.
func TestSession_SendDigitAndTone(t *testing.T) {
	t.Parallel()
	ca, cb := listen(t), listen(t)
	a := startPeer(t, ca, SessionConfig{DTMFPT: testDTMFPT, Remote: addr(cb)})
	b := startPeer(t, cb, SessionConfig{DTMFPT: testDTMFPT, Remote: addr(ca), Inband: true})
	a.SendDigitAndTone('7', 100*time.Millisecond)
	got := collect(t, b.Session, 2)
	var ev, tone Digit
	for _, d := range got {
		switch d.Mode {
		case ModeRFC4733:
			ev = d
		case ModeInband:
			tone = d
		}
	}
	if ev.Key != '7' || tone.Key != '7' {
		t.Fatalf("digits %+v", got)
	}
	if skew := tone.At.Add(-tone.Delay).Sub(ev.At); skew < -40*time.Millisecond || skew > 40*time.Millisecond {
		t.Fatalf("in-band start %v from the event's, want within 40 ms", skew)
	}
	if n := len(b.frames()); n == 0 {
		t.Fatal("no audio alongside the events")
	}
}

// TestSession_TonePacketPattern drives the writer slot by slot: a tone
// replaces the prompt's audio, without marker, then the prompt resumes; a
// press sent both ways puts an event packet and an audio packet in each
// slot.
func TestSession_TonePacketPattern(t *testing.T) {
	t.Parallel()
	sink := listen(t)
	s := NewSession(listen(t), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT, Remote: addr(sink)})
	p := testPrompt("p", 2)
	s.Play(p)
	s.tick()
	s.SendTone('1', 40*time.Millisecond) // 2 tone frames + 3 gap frames
	for range 5 {
		s.tick()
	}
	s.tick() // the prompt resumes
	tone := toneFrames('1', 40*time.Millisecond, PCMU)
	if len(tone) != 5 {
		t.Fatalf("%d tone frames", len(tone))
	}
	pk := readPackets(t, sink, 7)
	for i, g := range pk {
		if g.PayloadType != PTPCMU || g.Marker != (i == 0) || g.Timestamp-pk[0].Timestamp != uint32(i*FrameSize) {
			t.Errorf("packet %d: pt %d marker %v ts +%d", i, g.PayloadType, g.Marker, g.Timestamp-pk[0].Timestamp)
		}
	}
	if !bytes.Equal(pk[0].Payload, p.Frames(PCMU)[0]) || !bytes.Equal(pk[6].Payload, p.Frames(PCMU)[1]) {
		t.Error("prompt frames not around the tone")
	}
	for i := range tone {
		if !bytes.Equal(pk[1+i].Payload, tone[i]) {
			t.Errorf("packet %d is not tone frame %d", 1+i, i)
		}
	}
	if !isSilence(pk[5].Payload, PCMU) {
		t.Error("no silence after the tone")
	}

	s.SendDigitAndTone('2', 40*time.Millisecond) // events 320E ×3: 4 slots; audio 5 slots
	for range 6 {
		s.tick()
	}
	pk = readPackets(t, sink, 4*2+2)
	var events, audio int
	for _, g := range pk {
		switch g.PayloadType {
		case testDTMFPT:
			events++
		case PTPCMU:
			audio++
			if g.Marker {
				t.Error("marker on continuous audio")
			}
		}
	}
	if events != 4 || audio != 6 {
		t.Fatalf("%d event and %d audio packets, want 4 and 6", events, audio)
	}
}

func TestSession_SendToneIgnoresFullQueue(t *testing.T) {
	t.Parallel()
	s := NewSession(listen(t), SessionConfig{})
	for range sendQueue + 5 {
		s.SendTone('1', 0)
	}
	s.SendDigit('1', 0) // no DTMFPT: ignored
	if len(s.sendQ) != sendQueue {
		t.Fatalf("queue %d", len(s.sendQ))
	}
}

// BenchmarkSessionReceiveInband is BenchmarkSessionReceive with the
// in-band detector on: the audio packets carry key presses.
func BenchmarkSessionReceiveInband(b *testing.B) {
	s := NewSession(listen(b), SessionConfig{Codec: CodecPCMU, DTMFPT: testDTMFPT, Inband: true})
	var pcm []int16
	for _, k := range []byte(dtmfKeys) {
		pcm = AppendDTMFTone(pcm, k, 60*time.Millisecond, DefaultToneLevel)
		pcm = append(pcm, make([]int16, 480)...)
	}
	frames := NewPrompt("keys", pcm).Frames(PCMU)
	var pkts [][]byte
	voice := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}}
	for _, f := range frames {
		voice.SequenceNumber++
		voice.Timestamp += FrameSize
		voice.Payload = f
		p, _ := voice.Marshal()
		pkts = append(pkts, p)
	}
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s.receive(pkts[i%len(pkts)], from)
		i++
		for len(s.digits) > 0 {
			<-s.digits
		}
	}
	if s.Stats().Inband.Detected == 0 {
		b.Fatal("no key detected")
	}
}

func BenchmarkSessionSendTone(b *testing.B) {
	sink := listen(b)
	s := NewSession(listen(b), SessionConfig{Codec: CodecPCMU, Remote: addr(sink)})
	s.SendTone('1', 8*time.Second) // 400 tone frames
	s.tick()
	b.ReportAllocs()
	for b.Loop() {
		s.tick()
	}
}
