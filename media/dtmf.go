package media

import (
	"encoding/binary"
	"time"
)

// DTMFMode says how a key press reached us.
type DTMFMode string

// DTMF transports.
const (
	// ModeRFC4733 is an RTP telephone-event (RFC 4733, formerly RFC 2833).
	ModeRFC4733 DTMFMode = "rfc4733"
	// ModeInfo is a SIP INFO request (application/dtmf-relay).
	ModeInfo DTMFMode = "info"
	// ModeInband is a tone pair detected in the audio.
	ModeInband DTMFMode = "inband"
)

// Digit is one key press.
type Digit struct {
	// Key is one of '0'-'9', '*', '#', 'A'-'D'.
	Key byte
	// Mode is the transport the press arrived on.
	Mode DTMFMode
	// At is when the first packet of the press was received; for an
	// in-band press, when the packet that confirmed the tone was.
	At time.Time
	// Delay is, for an in-band press, how long its tone had been playing
	// when it was confirmed (an estimate, within a few milliseconds): the
	// key went down at about At.Add(-Delay). Zero for the other modes.
	Delay time.Duration
}

// DefaultDTMFTimeout is how long a DTMFReceiver waits for more packets of an
// event whose end packet has not arrived before it gives the event up.
const DefaultDTMFTimeout = time.Second

// telephone-event payload layout, RFC 4733 §2.3:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	eventPayloadSize = 4
	eventEndBit      = 0x80
	// maxEventDuration is the largest duration field; longer events are
	// split into segments (RFC 4733 §2.5.1.3).
	maxEventDuration = 0xFFFF
	// segmentSlack is how far, in samples, the timestamp of a new segment
	// may stray from previous + 0xFFFF and still continue the event. RFC
	// 4733 §2.5.1.3 puts it exactly there; senders that step in whole
	// packets land up to a packet or two beyond.
	segmentSlack = 4 * FrameSize
	// dtmfSources is how many SSRCs a receiver tracks at once; a call has one
	// or two (a voice stream and an injected event stream). When all are in
	// use the least recently heard is forgotten.
	dtmfSources = 4
)

// eventKeys maps RFC 4733 §3.2 event codes 0-15 to keys.
const eventKeys = "0123456789*#ABCD"

// EventKey returns the key of RFC 4733 §3.2 DTMF event code, and false for
// codes that are not keys (16 is hook flash; higher codes are other tones).
func EventKey(code uint8) (byte, bool) {
	if int(code) >= len(eventKeys) {
		return 0, false
	}
	return eventKeys[code], true
}

// EventCode returns the RFC 4733 §3.2 event code of key ('0'-'9', '*', '#',
// 'A'-'D', also lower case), and false for anything else.
func EventCode(key byte) (uint8, bool) {
	if key >= 'a' && key <= 'd' {
		key -= 'a' - 'A'
	}
	for i := range len(eventKeys) {
		if eventKeys[i] == key {
			return uint8(i), true
		}
	}
	return 0, false
}

// dtmfEvent is the last event heard from one SSRC.
type dtmfEvent struct {
	used     bool
	ended    bool // end packet seen, superseded, or timed out
	ssrc     uint32
	ts       uint32 // RTP timestamp of the current segment
	code     uint8
	maxDur   uint16 // largest duration seen in the current segment
	lastSeen time.Time
}

// DTMFReceiver turns RFC 4733 telephone-event payloads into key presses.
// It is a pure state machine (no clock, no goroutine, no allocation): the
// caller passes the receive time. It is not safe for concurrent use. The
// zero value is ready to use.
//
// One event is identified by (SSRC, RTP timestamp) (RFC 4733 §2.5.2.1). The
// key is reported once, on the first packet seen of a new event, whatever
// that packet is: so a lost start packet, a missing marker bit (some
// carriers never set it) or a zero duration in the first packet (as sipp's
// capture files send) loses nothing. Repeats and the three end packets
// (RFC 4733 §2.5.1.4) of a reported event are ignored. A new timestamp is a
// new press, even for the same key, except a new segment of a long-duration
// event (RFC 4733 §2.5.1.3, §2.5.2.3), which continues the current one. An
// event whose first packet is an end packet of zero duration carries no
// press and is ignored. Packets older than the current event of their SSRC
// are stale and ignored.
type DTMFReceiver struct {
	// Timeout gives up an event whose end packet never arrives after this
	// long without packets (see Expire). Zero means DefaultDTMFTimeout.
	Timeout time.Duration

	events [dtmfSources]dtmfEvent
}

func (r *DTMFReceiver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultDTMFTimeout
}

// Packet processes the payload of one telephone-event RTP packet with the
// packet's SSRC and timestamp, received at now. It returns the key and true
// when the packet starts a new key press. Only the first event block of the
// payload is read; blocks packed after it (RFC 4733 §2.5.1.5) repeat older
// events. Malformed payloads and non-key events are ignored.
func (r *DTMFReceiver) Packet(ssrc, ts uint32, payload []byte, now time.Time) (key byte, ok bool) {
	if len(payload) < eventPayloadSize {
		return 0, false
	}
	code := payload[0]
	key, ok = EventKey(code)
	if !ok {
		return 0, false
	}
	end := payload[1]&eventEndBit != 0
	dur := binary.BigEndian.Uint16(payload[2:4])

	e := r.lookup(ssrc)
	if e.used && e.ssrc == ssrc {
		delta := ts - e.ts
		switch {
		case delta == 0: // a repeat, an update or an end packet of this event
			e.lastSeen = now
			e.maxDur = max(e.maxDur, dur)
			e.ended = e.ended || end
			return 0, false
		case int32(delta) < 0 && !(e.ended && now.Sub(e.lastSeen) > r.timeout()):
			// Older than the current event: a late packet. Once the
			// event is over and quiet, any other timestamp may start a
			// new one (the peer may have restarted its clock).
			return 0, false
		case !e.ended && code == e.code && now.Sub(e.lastSeen) < r.timeout() &&
			delta >= maxEventDuration-segmentSlack && delta <= maxEventDuration+segmentSlack:
			// Next segment of a long-duration event, RFC 4733 §2.5.2.3.
			e.ts, e.maxDur, e.lastSeen = ts, dur, now
			e.ended = end
			return 0, false
		}
	}
	// A new event. If the previous one never ended, this supersedes it.
	*e = dtmfEvent{used: true, ended: end, ssrc: ssrc, ts: ts, code: code, maxDur: dur, lastSeen: now}
	if end && dur == 0 {
		return 0, false
	}
	return key, true
}

// lookup returns the slot of ssrc, else a free slot, else the least
// recently heard one.
func (r *DTMFReceiver) lookup(ssrc uint32) *dtmfEvent {
	var victim *dtmfEvent
	for i := range r.events {
		e := &r.events[i]
		switch {
		case e.used && e.ssrc == ssrc:
			return e
		case !e.used:
			if victim == nil || victim.used {
				victim = e
			}
		case victim == nil || victim.used && e.lastSeen.Before(victim.lastSeen):
			victim = e
		}
	}
	return victim
}

// Expire gives up every event that has not ended and has heard no packet
// for Timeout before now, and returns how many it gave up. Late packets of
// an expired event are still recognised and ignored.
func (r *DTMFReceiver) Expire(now time.Time) (timedOut int) {
	to := r.timeout()
	for i := range r.events {
		e := &r.events[i]
		if e.used && !e.ended && now.Sub(e.lastSeen) >= to {
			e.ended = true
			timedOut++
		}
	}
	return timedOut
}

// AppendEvent appends a 4-byte RFC 4733 §2.3 telephone-event payload to b.
func AppendEvent(b []byte, code uint8, end bool, volume uint8, duration uint16) []byte {
	flags := volume & 0x3F
	if end {
		flags |= eventEndBit
	}
	return append(b, code, flags, byte(duration>>8), byte(duration))
}
