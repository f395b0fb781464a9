package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zaf/g711"
)

// Relay tuning.
const (
	// relayFrames is the capacity of a relay queue in 20 ms frames: a
	// burst beyond it drops the oldest audio.
	relayFrames = 4
	relayCap    = relayFrames * FrameSize
	// relayEvents is how many relayed key presses may wait for the writer.
	relayEvents = 4
	// trimWindow is how many slots (1 s) the queue may keep two spare
	// frames after every take before one frame is dropped to cut the delay
	// that a burst left behind.
	trimWindow = 50
)

// ErrBridged reports a session that is already bridged.
var ErrBridged = errors.New("session already bridged")

// G.711 transcoding tables (ITU-T G.711 tables 1a and 1b, the µ-law ↔ A-law
// conversion of its §4), built once from zaf/g711.
var ulawToAlaw, alawToUlaw = func() (u2a, a2u [256]byte) {
	for i := range 256 {
		u2a[i] = g711.Ulaw2AlawFrame(uint8(i))
		a2u[i] = g711.Alaw2UlawFrame(uint8(i))
	}
	return
}()

// TranscodeTo converts min(len(dst), len(src)) G.711 bytes from codec from
// to codec to in dst (a copy when they are the same) and returns that count.
// It is a table lookup per byte and does not allocate.
func TranscodeTo(dst, src []byte, from, to CodecName) int {
	return convert(dst, src, transcodeTable(from, to))
}

func transcodeTable(from, to CodecName) *[256]byte {
	switch {
	case from == to:
		return nil
	case to == PCMA:
		return &ulawToAlaw
	default:
		return &alawToUlaw
	}
}

func convert(dst, src []byte, t *[256]byte) int {
	if t == nil {
		return copy(dst, src)
	}
	n := min(len(dst), len(src))
	for i, b := range src[:n] {
		dst[i] = t[b]
	}
	return n
}

// BridgeConfig tunes a bridge. The zero value relays audio both ways,
// relays key presses as RFC 4733 events, or as in-band tones to a leg that
// negotiated no telephone-event, and reports neither leg's presses on its
// Digits.
type BridgeConfig struct {
	// DigitsA keeps reporting the key presses received on leg a on
	// a.Digits while bridged, besides relaying them, so that the call
	// goroutine can still act on a key (a freeze key during an agent
	// call). DigitsB does the same for leg b.
	DigitsA, DigitsB bool
	// TakeDigitsA reports the RFC 4733 key presses received on leg a on
	// a.Digits instead of relaying them to leg b: leg b hears no event
	// from leg a, and leg a's owner acts on the keys (an agent's feature
	// codes). In-band tones still pass with the audio. TakeDigitsB does
	// the same for leg b.
	TakeDigitsA, TakeDigitsB bool
	// DropEvents drops, and counts, a key press bound for a leg that
	// negotiated no telephone-event, instead of sending it there as an
	// in-band tone of DefaultDigitDuration.
	DropEvents bool
}

// RelayStats count one direction of a bridge.
type RelayStats struct {
	Packets       uint64 // audio packets received on the source leg and queued
	Frames        uint64 // 20 ms frames of relayed audio sent on the other leg
	Dropped       uint64 // frames dropped: queue overflow, or delay left by jitter trimmed
	Underruns     uint64 // slots sent as silence for lack of relayed audio
	Events        uint64 // key presses relayed as RFC 4733 events
	Tones         uint64 // key presses relayed as in-band tones
	EventsDropped uint64 // key presses not relayed: DropEvents, or too many at once
}

// BridgeStats are the counters of both directions of a bridge.
type BridgeStats struct {
	AToB, BToA RelayStats
}

// Bridged is a bridge between two Sessions, made by Bridge.
type Bridged struct {
	a, b   *Session
	la, lb *bridgeLink
	ab, ba *relayQueue

	mu   sync.Mutex
	done bool
	stop func() bool
}

// bridgeLink is what one leg of a bridge sees.
type bridgeLink struct {
	in     *relayQueue // fed by this leg's reader
	out    *relayQueue // drained by this leg's writer
	report bool        // keep delivering this leg's key presses on Digits
}

// Bridge connects two call legs, each a Session with its own peer, until
// Unbridge or the end of ctx: the audio each leg receives is sent by the
// other leg's writer in place of its silence, transcoded between PCMU and
// PCMA when the legs' codecs differ, and the key presses each leg receives
// as RFC 4733 events are sent on the other leg as events of its own
// telephone-event payload type (RFC 4733 §2.5, lasting as long as the
// source press), or as in-band tones, or dropped (see BridgeConfig). In-band
// tones pass with the audio. Each writer keeps its own sequence numbers,
// timestamps and SSRC, and sends one packet per 20 ms slot whatever
// arrives: silence while the other side sends nothing.
//
// Bridge stops what plays on both legs. Play and Loop on a bridged leg play
// over the bridged audio, which resumes when they end or Stop is called.
// Each direction passes through a queue of 80 ms that never blocks the
// reader: a burst beyond it drops the oldest audio, and delay left behind
// by jitter is trimmed a frame at a time; both are counted (Stats).
// Packets of any size are re-cut into 20 ms frames.
//
// Bridge fails, wrapping ErrBridged, when either session is already
// bridged. A session that is not started, or closed, relays nothing.
func Bridge(ctx context.Context, a, b *Session, cfg BridgeConfig) (*Bridged, error) {
	if a == nil || b == nil || a == b {
		return nil, errors.New("bridge: two distinct sessions needed")
	}
	br := &Bridged{
		a:  a,
		b:  b,
		ab: newRelayQueue(a.current(), b.current(), cfg.DropEvents),
		ba: newRelayQueue(b.current(), a.current(), cfg.DropEvents),
	}
	br.ab.taken, br.ba.taken = cfg.TakeDigitsA, cfg.TakeDigitsB
	br.la = &bridgeLink{in: br.ab, out: br.ba, report: cfg.DigitsA || cfg.TakeDigitsA}
	br.lb = &bridgeLink{in: br.ba, out: br.ab, report: cfg.DigitsB || cfg.TakeDigitsB}
	if !a.link.CompareAndSwap(nil, br.la) {
		return nil, fmt.Errorf("bridge: leg a: %w", ErrBridged)
	}
	if !b.link.CompareAndSwap(nil, br.lb) {
		a.link.CompareAndSwap(br.la, nil)
		return nil, fmt.Errorf("bridge: leg b: %w", ErrBridged)
	}
	a.Stop()
	b.Stop()
	br.mu.Lock()
	br.stop = context.AfterFunc(ctx, br.Unbridge)
	br.mu.Unlock()
	return br, nil
}

// Unbridge disconnects the legs from the next slot: each sends silence
// again, or what Play or Loop start, and reports its key presses on
// Digits. A relayed key press still being sent is ended. Unbridge is
// idempotent and never blocks on the network.
func (br *Bridged) Unbridge() {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.done {
		return
	}
	br.done = true
	br.a.link.CompareAndSwap(br.la, nil)
	br.b.link.CompareAndSwap(br.lb, nil)
	if br.stop != nil {
		br.stop()
	}
}

// Stats returns a snapshot of the counters of both directions.
func (br *Bridged) Stats() BridgeStats {
	return BridgeStats{AToB: br.ab.stats(), BToA: br.ba.stats()}
}

// How a relay queue passes key presses on.
const (
	relayAsEvents = iota
	relayAsTones
	relayDrop
)

// relayEvent is one key press on its way through a relay queue.
type relayEvent struct {
	id    uint32
	key   byte
	code  uint8
	dur   uint16 // the largest duration the source sent
	ended bool   // the source's end packet arrived
	last  time.Time
}

// relayQueue carries one direction of a bridge: written by the source
// leg's reader, drained by the destination leg's writer, once per slot.
// Both hold mu for a copy of at most a frame or two; neither waits for the
// other.
type relayQueue struct {
	tbl     *[256]byte // source to destination codec, nil: same codec
	silence byte       // the destination codec's silence
	mode    int        // relayAsEvents, relayAsTones or relayDrop
	taken   bool       // the source's owner takes its key presses: none is relayed

	mu      sync.Mutex
	buf     [relayCap]byte // ring of destination-codec samples
	head, n int
	partial bool // the last take found less than a frame
	minN    int  // fewest samples left after a take in this trim window
	slots   int  // takes in this trim window

	ev          [relayEvents]relayEvent // ring of presses, oldest first
	evHead, evN int
	nextID      uint32
	cur         uint32 // id of the source's current press, 0 if none
	srcSSRC     uint32
	srcTS       uint32

	packets, frames, dropped, underruns atomic.Uint64
	events, tones, eventsDropped        atomic.Uint64
}

func newRelayQueue(from, to SessionConfig, drop bool) *relayQueue {
	q := &relayQueue{
		tbl:     transcodeTable(from.Codec.Name, to.Codec.Name),
		silence: Silence(to.Codec.Name),
		minN:    relayCap,
	}
	switch {
	case to.DTMFPT != 0:
		q.mode = relayAsEvents
	case drop:
		q.mode = relayDrop
	default:
		q.mode = relayAsTones
	}
	return q
}

func (q *relayQueue) stats() RelayStats {
	return RelayStats{
		Packets:       q.packets.Load(),
		Frames:        q.frames.Load(),
		Dropped:       q.dropped.Load(),
		Underruns:     q.underruns.Load(),
		Events:        q.events.Load(),
		Tones:         q.tones.Load(),
		EventsDropped: q.eventsDropped.Load(),
	}
}

// push queues the payload of one received audio packet, converted to the
// destination codec. When it does not fit, the oldest whole frames make
// room. It runs on the source reader and does not allocate.
func (q *relayQueue) push(p []byte) {
	q.packets.Add(1)
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(p) > relayCap {
		q.dropped.Add(uint64((len(p) - relayCap + FrameSize - 1) / FrameSize))
		p = p[len(p)-relayCap:]
	}
	if over := q.n + len(p) - relayCap; over > 0 {
		q.discardLocked((over + FrameSize - 1) / FrameSize * FrameSize)
	}
	tail := (q.head + q.n) % relayCap
	for len(p) > 0 {
		k := convert(q.buf[tail:], p, q.tbl)
		p = p[k:]
		q.n += k
		tail = (tail + k) % relayCap
	}
}

// discardLocked drops up to n of the oldest samples, counting frames.
func (q *relayQueue) discardLocked(n int) {
	n = min(n, q.n)
	q.head = (q.head + n) % relayCap
	q.n -= n
	q.dropped.Add(uint64((n + FrameSize - 1) / FrameSize))
}

// takeLocked copies the next frame into dst and reports whether there was
// one. A partial frame waits one slot for the rest of it, then goes out
// padded with silence.
func (q *relayQueue) takeLocked(dst *[FrameSize]byte) bool {
	n := FrameSize
	switch {
	case q.n >= FrameSize:
	case q.n > 0 && q.partial:
		n = q.n
	default:
		q.partial = q.n > 0
		q.underruns.Add(1)
		q.trimLocked()
		return false
	}
	q.partial = false
	k := copy(dst[:n], q.buf[q.head:min(q.head+n, relayCap)])
	copy(dst[k:n], q.buf[:n-k])
	for i := n; i < FrameSize; i++ {
		dst[i] = q.silence
	}
	q.head = (q.head + n) % relayCap
	q.n -= n
	q.frames.Add(1)
	q.trimLocked()
	return true
}

// trimLocked drops a frame when every take of the last second left at
// least two frames behind: delay that a burst or a clock running fast added,
// which would otherwise stay. One spare frame is kept: it absorbs the
// jitter of a source whose packets arrive about when the slots tick.
func (q *relayQueue) trimLocked() {
	q.minN = min(q.minN, q.n)
	if q.slots++; q.slots < trimWindow {
		return
	}
	if q.minN >= 2*FrameSize {
		q.discardLocked(FrameSize)
	}
	q.slots, q.minN = 0, relayCap
}

// event passes on one telephone-event packet received by the source leg
// (RFC 4733 §2.5.1): isNew when its DTMFReceiver saw a new press. Later
// packets of that press (same SSRC, same or, for a long press's next
// segment, later timestamp) update its duration and end. It runs on the
// source reader and does not allocate.
func (q *relayQueue) event(ssrc, ts uint32, payload []byte, isNew bool, now time.Time) {
	if q.taken || len(payload) < eventPayloadSize {
		return
	}
	code := payload[0]
	key, ok := EventKey(code)
	if !ok {
		return
	}
	end := payload[1]&eventEndBit != 0
	dur := binary.BigEndian.Uint16(payload[2:4])

	q.mu.Lock()
	defer q.mu.Unlock()
	if isNew {
		q.cur, q.srcSSRC, q.srcTS = 0, ssrc, ts
		switch {
		case q.mode == relayDrop || q.evN == relayEvents:
			q.eventsDropped.Add(1)
			return
		case q.mode == relayAsTones:
			q.tones.Add(1)
		default:
			q.events.Add(1)
		}
		q.nextID++
		if q.nextID == 0 {
			q.nextID = 1
		}
		q.cur = q.nextID
		q.ev[(q.evHead+q.evN)%relayEvents] = relayEvent{id: q.cur, key: key, code: code, dur: dur, ended: end, last: now}
		q.evN++
		return
	}
	if q.cur == 0 || ssrc != q.srcSSRC || int32(ts-q.srcTS) < 0 {
		return
	}
	e := q.findLocked(q.cur)
	if e == nil || e.code != code {
		return
	}
	q.srcTS = ts
	e.dur = max(e.dur, dur)
	e.ended = e.ended || end
	e.last = now
}

func (q *relayQueue) findLocked(id uint32) *relayEvent {
	for i := range q.evN {
		if e := &q.ev[(q.evHead+i)%relayEvents]; e.id == id {
			return e
		}
	}
	return nil
}

func (q *relayQueue) popEventLocked() {
	q.ev[q.evHead] = relayEvent{}
	q.evHead = (q.evHead + 1) % relayEvents
	q.evN--
}

// pull runs on the destination writer once per slot, with the session's
// lock held: it takes the next frame of audio, returned in w.relay or nil,
// follows the relayed press w is sending, and, when w sends nothing else,
// starts the next relayed press, as events or as a tone in codec c.
func (q *relayQueue) pull(w *sender, c CodecName) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	var frame []byte
	if q.takeLocked(&w.relay) {
		frame = w.relay[:]
	}
	if w.event && w.evRelay && !w.evSrcEnd {
		e := (*relayEvent)(nil)
		if q.evN > 0 && q.ev[q.evHead].id == w.evID {
			e = &q.ev[q.evHead]
		}
		switch {
		case e == nil:
			w.evSrcEnd = true
		case e.ended || time.Since(e.last) >= DefaultDTMFTimeout:
			w.evSrcDur, w.evSrcEnd = e.dur, true
			q.popEventLocked()
		default:
			w.evSrcDur = e.dur
		}
	}
	if w.event || w.tone != nil || q.evN == 0 {
		return frame
	}
	e := q.ev[q.evHead]
	if q.mode == relayAsTones {
		w.tone = relayTone(e.key, c)
		q.popEventLocked()
		return frame
	}
	w.event, w.ev, w.evTS, w.evDur, w.evEnds, w.evStarted = true, digitReq{event: true, code: e.code}, w.ts, 0, 0, false
	w.evRelay, w.evQ, w.evID, w.evSrcDur, w.evSrcEnd = true, q, e.id, e.dur, e.ended
	if e.ended {
		q.popEventLocked()
	}
	return frame
}

// relayTones holds, per codec and key, the frames of a DefaultDigitDuration
// tone and the ToneGap after it, built on first use and shared.
var relayTones = sync.OnceValue(func() *[2][len(eventKeys)][][]byte {
	var t [2][len(eventKeys)][][]byte
	for i, c := range []CodecName{PCMU, PCMA} {
		for k := range len(eventKeys) {
			t[i][k] = toneFrames(eventKeys[k], DefaultDigitDuration, c)
		}
	}
	return &t
})

// relayTone returns the shared tone frames of key in codec c.
func relayTone(key byte, c CodecName) [][]byte {
	code, _ := EventCode(key)
	i := 0
	if c == PCMA {
		i = 1
	}
	return relayTones()[i][code]
}
