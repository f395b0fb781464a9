package media

import (
	"encoding/binary"
	"testing"
	"time"
)

// step is one input to a DTMFReceiver: a packet, or an Expire call when
// expire is set. at is milliseconds after t0.
type step struct {
	ssrc, ts uint32
	code     uint8
	end      bool
	dur      uint16
	at       int
	expire   bool
	raw      bool // send payload as is instead of code/end/dur
	payload  []byte
}

// press returns the packets of a clean key press starting at ms: updates
// every 20 ms up to dur samples, then three end packets.
func press(ssrc, ts uint32, code uint8, dur uint16, ms int) []step {
	var s []step
	for d := uint16(FrameSize); d < dur; d += FrameSize {
		s = append(s, step{ssrc: ssrc, ts: ts, code: code, dur: d, at: ms})
		ms += 20
	}
	for range 3 {
		s = append(s, step{ssrc: ssrc, ts: ts, code: code, end: true, dur: dur, at: ms})
		ms += 20
	}
	return s
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// interleave merges a and b alternately.
func interleave(a, b []step) []step {
	var out []step
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

func TestDTMFReceiver_Patterns(t *testing.T) {
	t.Parallel()
	const a, b = 0x1111, 0x2222
	tests := []struct {
		name     string
		timeout  time.Duration
		steps    []step
		keys     string
		timeouts int
	}{
		{
			name:  "clean press with repeats and three ends",
			steps: press(a, 1000, 5, 800, 0),
			keys:  "5",
		},
		{
			name: "first packet has duration 0 as in sipp captures",
			steps: concat([]step{{ssrc: a, ts: 1000, code: 1, dur: 0}},
				press(a, 1000, 1, 800, 20)),
			keys: "1",
		},
		{
			name:  "lost start packets",
			steps: press(a, 1000, 9, 800, 0)[3:],
			keys:  "9",
		},
		{
			name:  "only end packets arrive",
			steps: press(a, 1000, 11, 800, 0)[4:],
			keys:  "#",
		},
		{
			name: "lost end times out, late packets still ignored",
			steps: concat(press(a, 1000, 2, 800, 0)[:3],
				[]step{{expire: true, at: 500}, {expire: true, at: 1100}},
				[]step{{ssrc: a, ts: 1000, code: 2, dur: 640, at: 1200}}),
			keys:     "2",
			timeouts: 1,
		},
		{
			name:     "configured timeout",
			timeout:  100 * time.Millisecond,
			steps:    concat(press(a, 1000, 2, 800, 0)[:2], []step{{expire: true, at: 140}}),
			keys:     "2",
			timeouts: 1,
		},
		{
			name:  "ended event does not time out",
			steps: concat(press(a, 1000, 2, 800, 0), []step{{expire: true, at: 5000}}),
			keys:  "2",
		},
		{
			name:  "two presses of the same key",
			steps: concat(press(a, 1000, 7, 800, 0), press(a, 3000, 7, 800, 300)),
			keys:  "77",
		},
		{
			name:  "same key again after a lost end",
			steps: concat(press(a, 1000, 7, 800, 0)[:3], press(a, 2000, 7, 800, 120)),
			keys:  "77",
		},
		{
			name:  "interleaved ssrcs",
			steps: interleave(press(a, 1000, 1, 800, 0), press(b, 90000, 2, 800, 10)),
			keys:  "12",
		},
		{
			name: "five sources evict the least recent",
			steps: concat(press(1, 10, 1, 320, 0), press(2, 10, 2, 320, 100),
				press(3, 10, 3, 320, 200), press(4, 10, 4, 320, 300),
				press(5, 10, 5, 320, 400), press(1, 5000, 6, 320, 500)),
			keys: "123456",
		},
		{
			name: "long event split in segments reported once",
			steps: []step{
				{ssrc: a, ts: 1000, code: 4, dur: 160, at: 0},
				{ssrc: a, ts: 1000, code: 4, dur: 0xFFFF, at: 8190},
				{ssrc: a, ts: 1000, code: 4, dur: 0xFFFF, at: 8200},
				{ssrc: a, ts: 1000 + 0xFFFF, code: 4, dur: 160, at: 8210},
				{ssrc: a, ts: 1000 + 0xFFFF, code: 4, dur: 0xFFFF, at: 16400},
				{ssrc: a, ts: 1000 + 2*0xFFFF, code: 4, dur: 800, at: 16420},
				{ssrc: a, ts: 1000 + 2*0xFFFF, code: 4, end: true, dur: 960, at: 16440},
				{ssrc: a, ts: 1000 + 2*0xFFFF, code: 4, end: true, dur: 960, at: 16460},
			},
			keys: "4",
		},
		{
			name: "segment stepped in whole packets",
			steps: []step{
				{ssrc: a, ts: 1000, code: 4, dur: 65440, at: 0},
				{ssrc: a, ts: 1000 + 65600, code: 4, dur: 160, at: 20},
			},
			keys: "4",
		},
		{
			name: "segment-like timestamp for another key is a new press",
			steps: []step{
				{ssrc: a, ts: 1000, code: 4, dur: 0xFFFF, at: 0},
				{ssrc: a, ts: 1000 + 0xFFFF, code: 5, dur: 160, at: 20},
			},
			keys: "45",
		},
		{
			name: "duration saturating on one timestamp reported once",
			steps: []step{
				{ssrc: a, ts: 1000, code: 3, dur: 65000, at: 0},
				{ssrc: a, ts: 1000, code: 3, dur: 0xFFFF, at: 20},
				{ssrc: a, ts: 1000, code: 3, dur: 0xFFFF, at: 40},
				{ssrc: a, ts: 1000, code: 3, end: true, dur: 0xFFFF, at: 60},
			},
			keys: "3",
		},
		{
			name: "zero-duration end packet carries no press",
			steps: []step{
				{ssrc: a, ts: 1000, code: 8, end: true, dur: 0},
				{ssrc: a, ts: 1000, code: 8, end: true, dur: 0, at: 20},
			},
			keys: "",
		},
		{
			name: "late packet of the previous event",
			steps: concat(press(a, 1000, 1, 320, 0), press(a, 3000, 2, 320, 100),
				[]step{{ssrc: a, ts: 1000, code: 1, end: true, dur: 320, at: 200}}),
			keys: "12",
		},
		{
			name: "timestamp restart after a quiet ended event",
			steps: concat(press(a, 4_000_000_000, 1, 320, 0),
				press(a, 5, 2, 320, 3000)),
			keys: "12",
		},
		{
			name: "letters and star",
			steps: concat(press(a, 100, 10, 320, 0), press(a, 1000, 12, 320, 100),
				press(a, 2000, 15, 320, 200)),
			keys: "*AD",
		},
		{
			name: "non-key events and short payloads ignored",
			steps: []step{
				{ssrc: a, ts: 100, code: 16, dur: 160},
				{ssrc: a, ts: 200, code: 40, dur: 160},
				{ssrc: a, ts: 300, raw: true, payload: []byte{1, 0, 0}},
				{ssrc: a, ts: 400, raw: true},
			},
			keys: "",
		},
		{
			name: "redundant blocks after the first are ignored",
			steps: []step{
				{ssrc: a, ts: 100, raw: true, payload: []byte{3, 0, 0, 160, 2, 0x80, 1, 0}},
			},
			keys: "3",
		},
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := DTMFReceiver{Timeout: tc.timeout}
			var keys []byte
			timeouts := 0
			for i, s := range tc.steps {
				now := t0.Add(time.Duration(s.at) * time.Millisecond)
				if s.expire {
					timeouts += r.Expire(now)
					continue
				}
				payload := s.payload
				if !s.raw {
					payload = AppendEvent(nil, s.code, s.end, 10, s.dur)
				}
				if key, ok := r.Packet(s.ssrc, s.ts, payload, now); ok {
					keys = append(keys, key)
					if want := eventKeys[payload[0]]; key != want {
						t.Fatalf("step %d: key %q for code %d", i, key, payload[0])
					}
				}
			}
			if string(keys) != tc.keys {
				t.Errorf("keys %q, want %q", keys, tc.keys)
			}
			if timeouts != tc.timeouts {
				t.Errorf("%d timeouts, want %d", timeouts, tc.timeouts)
			}
		})
	}
}

func TestEventCode(t *testing.T) {
	t.Parallel()
	for code := range uint8(20) {
		key, ok := EventKey(code)
		if ok != (code < 16) {
			t.Fatalf("EventKey(%d) ok = %v", code, ok)
		}
		if !ok {
			continue
		}
		if back, ok := EventCode(key); !ok || back != code {
			t.Fatalf("EventCode(%q) = %d, %v, want %d", key, back, ok, code)
		}
	}
	if c, ok := EventCode('b'); !ok || c != 13 {
		t.Fatalf("EventCode('b') = %d, %v", c, ok)
	}
	if _, ok := EventCode('x'); ok {
		t.Fatal("EventCode('x') ok")
	}
}

// FuzzDTMFEvent feeds arbitrary packet sequences (8 bytes each: SSRC
// selector and expire flag, timestamp step, 4-byte payload, milliseconds
// to the next packet) and checks the receiver's invariants: it never
// panics, reports only keys matching the event code, never reports a
// packet of the event it is tracking for that SSRC, and times out no more
// events than it reported.
func FuzzDTMFEvent(f *testing.F) {
	enc := func(steps ...[8]byte) []byte {
		var b []byte
		for _, s := range steps {
			b = append(b, s[:]...)
		}
		return b
	}
	f.Add(enc([8]byte{0, 0, 5, 10, 0, 160, 0, 20}, [8]byte{0, 0, 5, 10, 1, 64, 0, 20},
		[8]byte{0, 0, 5, 0x8a, 1, 64, 0, 20}, [8]byte{0, 0, 5, 0x8a, 1, 64, 0, 20}))
	f.Add(enc([8]byte{0, 0, 1, 0, 0, 0, 0, 20}, [8]byte{1, 0, 2, 0, 0, 160, 0, 20},
		[8]byte{0, 8, 1, 0, 0, 160, 0, 60}, [8]byte{0x82, 0, 16, 0, 0, 160, 1, 200}))
	f.Add(enc([8]byte{0, 0, 4, 0, 0xff, 0xff, 0, 20}, [8]byte{0, 0xff, 4, 0, 0, 160, 0, 20}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := DTMFReceiver{Timeout: 200 * time.Millisecond}
		now := time.Unix(1e9, 0)
		ssrcs := [3]uint32{7, 8, 0xFFFFFFFF}
		var ts [3]uint32
		reported, timedOut := 0, 0
		for ; len(data) >= 8; data = data[8:] {
			i := int(data[0]&0x7F) % len(ssrcs)
			ts[i] += uint32(int32(int8(data[1]))) * 257
			payload := data[2:6]
			if data[0]&0x80 != 0 {
				timedOut += r.Expire(now)
			}
			tracked := false
			for _, e := range r.events {
				tracked = tracked || e.used && e.ssrc == ssrcs[i] && e.ts == ts[i]
			}
			key, ok := r.Packet(ssrcs[i], ts[i], payload, now)
			if ok {
				reported++
				if k, isKey := EventKey(payload[0]); !isKey || key != k {
					t.Fatalf("key %q for code %d", key, payload[0])
				}
				if tracked {
					t.Fatalf("reported a repeat of ssrc %#x ts %d", ssrcs[i], ts[i])
				}
			}
			now = now.Add(time.Duration(binary.BigEndian.Uint16(data[6:8])) * time.Millisecond)
		}
		timedOut += r.Expire(now.Add(time.Hour))
		if timedOut > reported {
			t.Fatalf("%d timeouts for %d reported presses", timedOut, reported)
		}
	})
}

func BenchmarkDTMFReceiverPacket(b *testing.B) {
	var r DTMFReceiver
	now := time.Now()
	payload := AppendEvent(nil, 5, false, 10, 160)
	b.ReportAllocs()
	for b.Loop() {
		r.Packet(1, 1000, payload, now)
	}
}
