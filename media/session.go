package media

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Session tuning.
const (
	// DefaultDigitDuration is the length of a SendDigit press when none is
	// given.
	DefaultDigitDuration = 100 * time.Millisecond
	// digitBuffer is the capacity of the Digits channel.
	digitBuffer = 16
	// doneBuffer is the capacity of the Done channel.
	doneBuffer = 8
	// sendQueue caps SendDigit presses waiting to be sent.
	sendQueue = 32
	// maxPacket bounds a received datagram; G.711 packets are 172 bytes.
	maxPacket = 1500
	// rtpHeaderSize is the fixed RTP header, RFC 3550 §5.1.
	rtpHeaderSize = 12
	// eventVolume is the volume of sent events, -10 dBm0 (RFC 4733 §2.3.4).
	eventVolume = 10
	// endRepeats is how often the final packet of an event is sent
	// (RFC 4733 §2.5.1.4).
	endRepeats = 3
	// expireEvery is how many audio packets pass between DTMF expiry
	// checks (16 × 20 ms).
	expireEvery = 16
	// latchHoldOff is how long a source latched by its IP address (not the
	// SDP address itself) must have been silent before another candidate
	// replaces it (see SessionConfig.Remote).
	latchHoldOff = 2 * time.Second
)

// SessionConfig describes the RTP stream of one call leg, usually taken
// from the SDP negotiation (media/sdp).
type SessionConfig struct {
	// Codec is the audio codec and payload type, PCMU or PCMA. The zero
	// value means PCMU with payload type 0.
	Codec Codec
	// DTMFPT is the telephone-event payload type (RFC 4733 §7.1.1); 0 means
	// it was not negotiated: no event is sent or looked for.
	DTMFPT uint8
	// Remote is the address the far end's SDP names for its RTP: where RTP
	// is sent until a source is latched, and the source expected. RTP is
	// symmetric (RFC 4961): the reader accepts one source at a time and
	// the writer sends to it. Latching, hardened against the hijack RFC 7362
	// warns of:
	//   - Remote itself (as updated by Renegotiate) is latched by its first
	//     valid packet, replacing any source latched before, and stays.
	//   - Until Remote has been heard, a source whose IP is Remote's or
	//     PeerIP, on any port (a NAT rewrites ports), is latched by its first
	//     valid packet when no source is; another such source replaces it
	//     only once it has sent nothing for 2 s (latchHoldOff), counted from
	//     the first packet of a newcomer after its last one.
	//   - A source with any other IP is never latched. Its packets are dropped
	//     before parsing and counted in PacketsForeign; their audio and key
	//     presses (RFC 4733 or in-band) reach neither Digits, OnAudio nor a
	//     bridge.
	// So a stranger who merely sends first gets nothing and injects nothing.
	// With neither Remote nor PeerIP set, any source is a candidate.
	Remote netip.AddrPort
	// PeerIP is the address the call's control channel came from (for a
	// far end behind NAT, the NAT's public address): RTP from it, on any
	// port, may be latched while Remote is silent (see Remote). Zero means
	// unknown: only Remote's IP is trusted.
	PeerIP netip.Addr
	// Muted starts the session muted (see SetMuted): nothing is sent until
	// SetMuted(false), for instance before the far end has confirmed the
	// session, so that an unconfirmed answer streams nothing to whatever
	// address it names.
	Muted bool
	// OnAudio, when set, is called on the reader goroutine with the payload
	// of each received audio packet. The slice is reused for the next
	// packet: copy what you keep, and return quickly.
	OnAudio func(payload []byte)
	// Inband runs an InbandDetector on the received audio: DTMF tones in
	// the audio are reported on Digits with ModeInband. It is independent
	// of DTMFPT; with both, a press whose tone is also left in the audio is
	// reported twice, once per mode (see Digit.Delay to pair them).
	Inband bool
}

// SessionStats are a Session's counters.
type SessionStats struct {
	PacketsIn      uint64 // valid RTP packets accepted from the peer
	BytesIn        uint64 // their size, headers included
	PacketsOut     uint64 // RTP packets sent
	BytesOut       uint64 // their size, headers included
	PacketsIgnored uint64 // malformed, from a source not accepted, or of an unknown payload type
	PacketsForeign uint64 // the part of PacketsIgnored from a source not accepted (see SessionConfig.Remote)
	SendErrors     uint64 // failed writes
	DigitsDropped  uint64 // key presses lost because Digits was full
	DTMFTimeouts   uint64 // events whose end packet never came
	// Inband are the in-band detector's counters (zero unless
	// SessionConfig.Inband): presses detected, candidates rejected by
	// reason.
	Inband InbandStats
}

type sessionCounters struct {
	packetsIn, bytesIn, packetsOut, bytesOut    atomic.Uint64
	ignored, foreign, sendErrors, digitsDropped atomic.Uint64
	dtmfTimeouts                                atomic.Uint64
	inband                                      [6]atomic.Uint64 // InbandStats, field by field
}

// playback is one Play or Loop call: prompts played back to back, once
// or, with loop, forever.
type playback struct {
	id      uint64
	prompts []*Prompt
	loop    bool
}

// digitReq is one SendDigit, SendTone or SendDigitAndTone call.
type digitReq struct {
	event    bool     // send RFC 4733 telephone-events
	code     uint8    // their event code
	duration uint16   // their duration, samples
	tone     [][]byte // audio frames of the tone and the gap after it, or nil
}

// Session sends and receives the RTP of one call leg on a UDP socket it
// does not own (RFC 3550, RFC 3551, RFC 4733). After Start it runs one
// reader and one writer goroutine until Close or the end of the Start
// context. Its methods are safe for concurrent use and never block on the
// network.
type Session struct {
	conn   *net.UDPConn
	cfg    SessionConfig
	local  netip.AddrPort
	digits chan Digit
	done   chan uint64
	quit   chan struct{}
	playID atomic.Uint64
	stats  sessionCounters
	sw     silenceWatch     // the far end gone silent (silence.go)
	peerIP netip.Addr       // SessionConfig.PeerIP, unmapped
	now    func() time.Time // the receive path's clock; a seam for tests
	muted  atomic.Bool

	// mu guards the hand-over to the writer, checked once per tick, and
	// the lifecycle fields.
	mu         sync.Mutex
	remote     netip.AddrPort
	signalled  netip.AddrPort // where the far end's SDP said it receives: preferred when it speaks
	pending    *playback      // next playback, nil for silence
	hasPending bool           // pending is set (Play or Stop called)
	sendQ      []digitReq
	started    bool
	closed     bool
	stopAfter  func() bool

	quitOnce sync.Once
	wg       sync.WaitGroup
	// dlMu orders changes of the read deadline: shutdown's, which must stay, and the
	// silence watch's (silence.go). reading is set once the reader runs.
	dlMu    sync.Mutex
	reading atomic.Bool

	// link is set while the session is bridged (see Bridge): the reader
	// feeds link.in, the writer drains link.out.
	link atomic.Pointer[bridgeLink]

	// Renegotiated by a re-INVITE (Renegotiate): the telephone-event payload type, whether
	// the in-band detector runs, and a request to latch afresh (the SDP address changed).
	dtmfPT   atomic.Uint32
	inbandOn atomic.Bool
	relatch  atomic.Bool

	rx receiver // owned by the reader goroutine
	tx sender   // owned by the writer goroutine
}

// receiver is the reader goroutine's state.
type receiver struct {
	pkt     rtp.Packet // reused: Unmarshal does not allocate into it
	latched bool
	source  netip.AddrPort
	viaSDP  bool   // source is the SDP address: nothing replaces it
	heard   uint32 // valid packets from source, mod 2³²
	// A candidate challenges a source latched by IP: quietSince is the time
	// of its first packet after the source's packet number quietMark.
	quiet      bool
	quietSince time.Time
	quietMark  uint32
	dtmf       DTMFReceiver
	count      uint32 // audio packets since the last expiry check

	inband     *InbandDetector // nil unless SessionConfig.Inband
	inbandSeen InbandStats     // its counters as last published
	pcm        [FrameSize]int16
}

// sender is the writer goroutine's state.
type sender struct {
	buf     [rtpHeaderSize + FrameSize]byte
	silence [FrameSize]byte
	hdr     rtp.Header
	ts      uint32 // RTP clock: timestamp of the current 20 ms slot
	marker  bool   // next audio packet starts a talkspurt
	muted   bool   // this slot sends nothing (SetMuted)

	play   *playback
	pi, fi int // prompt and frame index in play

	event     bool // an event is being sent
	ev        digitReq
	evTS      uint32
	evDur     uint16
	evEnds    int
	evStarted bool

	tone [][]byte // tone frames still to send in place of the audio

	// A relayed event (Bridge): its duration follows the source's press.
	evRelay  bool
	evQ      *relayQueue // the queue it came from
	evID     uint32      // its entry in evQ
	evSrcDur uint16      // the largest duration the source sent
	evSrcEnd bool        // the source press ended (or timed out, or the bridge did)

	relay [FrameSize]byte // the frame taken from the bridge this slot
}

// NewSession prepares a session on conn; nothing is sent or read before
// Start. conn stays the caller's: Close does not close it.
func NewSession(conn *net.UDPConn, cfg SessionConfig) *Session {
	if cfg.Codec.Name == "" {
		cfg.Codec = CodecPCMU
	}
	s := &Session{
		conn:      conn,
		cfg:       cfg,
		digits:    make(chan Digit, digitBuffer),
		done:      make(chan uint64, doneBuffer),
		quit:      make(chan struct{}),
		sw:        silenceWatch{silent: make(chan struct{})},
		remote:    unmap(cfg.Remote),
		signalled: unmap(cfg.Remote),
		peerIP:    cfg.PeerIP.Unmap(),
		sendQ:     make([]digitReq, 0, sendQueue),
		now:       time.Now,
	}
	s.muted.Store(cfg.Muted)
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		s.local = unmap(a.AddrPort())
	}
	// RFC 3550 §5.1: random initial sequence number, timestamp and SSRC.
	s.tx.hdr = rtp.Header{
		Version:        2,
		SequenceNumber: uint16(rand.Uint32()),
		SSRC:           rand.Uint32(),
	}
	s.tx.ts = rand.Uint32()
	s.tx.marker = true
	if cfg.Inband {
		s.rx.inband = NewInbandDetector()
	}
	s.dtmfPT.Store(uint32(cfg.DTMFPT))
	s.inbandOn.Store(cfg.Inband)
	for i := range s.tx.silence {
		s.tx.silence[i] = Silence(cfg.Codec.Name)
	}
	return s
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Start launches the reader and the 20 ms paced writer. They stop when ctx
// ends or Close is called. Start after Start or Close does nothing.
func (s *Session) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	s.reading.Store(true)
	s.wg.Add(2)
	go s.readLoop()
	go s.writeLoop()
	s.stopAfter = context.AfterFunc(ctx, s.shutdown)
}

// shutdown tells both goroutines to stop; a past read deadline unblocks the
// reader without closing the socket.
func (s *Session) shutdown() {
	s.quitOnce.Do(func() {
		s.dlMu.Lock()
		defer s.dlMu.Unlock()
		close(s.quit)
		_ = s.conn.SetReadDeadline(time.Unix(1, 0))
	})
}

// Close stops the goroutines and waits for them. It does not close the
// socket (release it with PortPool.Release), and clears the read deadline it
// used. Close is idempotent and always returns nil.
func (s *Session) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	stop := s.stopAfter
	s.mu.Unlock()
	if already {
		s.wg.Wait()
		return nil
	}
	s.shutdown()
	if stop != nil {
		stop()
	}
	s.wg.Wait()
	if n := s.rx.dtmf.Expire(time.Now()); n > 0 {
		s.stats.dtmfTimeouts.Add(uint64(n))
	}
	_ = s.conn.SetReadDeadline(time.Time{})
	return nil
}

// Renegotiate applies a re-INVITE's new answer (RFC 3264 §8) without a gap in the stream:
// the SDP address (when it changes, RTP goes there and the latch starts afresh under the
// rule of SessionConfig.Remote; the same address keeps the latch, as for a NAT'd peer on
// hold and resume), the telephone-event payload type (0: none) and whether in-band tones
// are listened for. The codec stays: the caller answers a re-INVITE with the current one
// or refuses it.
func (s *Session) Renegotiate(remote netip.AddrPort, dtmfPT uint8, inband bool) {
	remote = unmap(remote)
	s.mu.Lock()
	if remote.IsValid() && remote != s.signalled {
		s.signalled, s.remote = remote, remote
		s.relatch.Store(true)
	}
	s.mu.Unlock()
	s.dtmfPT.Store(uint32(dtmfPT))
	s.inbandOn.Store(inband)
}

// SetMuted mutes or unmutes the writer. While muted it sends nothing at all,
// neither audio nor telephone-events, and uses no sequence number; everything
// else goes on with the clock: the RTP timestamp advances by a frame per
// 20 ms slot, playbacks advance silently (and are reported on Done when they
// end), key presses queued by SendDigit or SendTone and relayed by a bridge
// are used up unsent. The first packet after unmuting follows the last one
// sent in sequence, with the marker bit (a new talkspurt, RFC 3551 §4.1) and
// the current timestamp. Receiving is unaffected. It never blocks; it takes
// effect from the next slot.
func (s *Session) SetMuted(on bool) { s.muted.Store(on) }

// current is the session's configuration as last negotiated.
func (s *Session) current() SessionConfig {
	c := s.cfg
	c.DTMFPT = uint8(s.dtmfPT.Load())
	c.Inband = s.inbandOn.Load()
	s.mu.Lock()
	c.Remote = s.remote
	s.mu.Unlock()
	return c
}

// LocalAddr returns the socket's local address.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Remote returns where RTP is sent: the SDP address, or the latched source
// once one has been heard (see SessionConfig.Remote).
func (s *Session) Remote() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// Digits delivers key presses: RFC 4733 events (ModeRFC4733), each once, at
// the first packet of its event, and with SessionConfig.Inband tones in the
// audio (ModeInband), each once, as soon as the tone is confirmed. When the
// channel is full a press is dropped and counted. While the session is
// bridged, presses are reported only if BridgeConfig asks for it.
func (s *Session) Digits() <-chan Digit { return s.digits }

// Done delivers the id of each playback that ran to its end; stopped or
// replaced playbacks are not reported. If the channel is full the oldest id
// is dropped, so the latest is never lost.
func (s *Session) Done() <-chan uint64 { return s.done }

// Play replaces whatever plays (barge-in) with prompts, played back to back
// from the next 20 ms slot, and returns the id Done will report when they
// have all played. Nil prompts are skipped; with none, the playback ends at
// the next slot. Play never blocks.
func (s *Session) Play(prompts ...*Prompt) uint64 {
	id := s.playID.Add(1)
	p := &playback{id: id, prompts: slices.DeleteFunc(slices.Clone(prompts), func(p *Prompt) bool { return p == nil })}
	s.mu.Lock()
	s.pending, s.hasPending = p, true
	s.mu.Unlock()
	return id
}

// Loop replaces whatever plays (barge-in) with prompts, played back to
// back from the next 20 ms slot and again from the first when the last has
// played, until Play, Loop or Stop replaces them: music on hold. The frames
// are the prompts' own, shared with every other call. The returned id is
// never reported on Done. Nil and empty prompts are skipped; with none,
// Loop is a Stop that Play can replace. Loop never blocks.
func (s *Session) Loop(prompts ...*Prompt) uint64 {
	id := s.playID.Add(1)
	p := &playback{id: id, loop: true, prompts: slices.DeleteFunc(slices.Clone(prompts), func(p *Prompt) bool {
		return p == nil || len(p.pcmu) == 0
	})}
	s.mu.Lock()
	s.pending, s.hasPending = p, true
	s.mu.Unlock()
	return id
}

// Stop ends the current playback from the next slot; silence follows.
func (s *Session) Stop() {
	s.mu.Lock()
	s.pending, s.hasPending = nil, true
	s.mu.Unlock()
}

// SendDigit queues an RFC 4733 key press of duration d (DefaultDigitDuration
// if d ≤ 0; at most 0xFFFF samples, about 8.2 s, as this sender does not
// split events into segments). While it is sent, telephone-event packets
// replace the audio, which pauses and resumes afterwards with the marker
// bit. Invalid keys, a session without DTMFPT and presses beyond a queue of
// 32 are ignored. SendDigit never blocks.
func (s *Session) SendDigit(key byte, d time.Duration) {
	code, ok := EventCode(key)
	if !ok || s.dtmfPT.Load() == 0 {
		return
	}
	s.queue(digitReq{event: true, code: code, duration: eventSamples(d)})
}

// eventSamples converts a press duration (d ≤ 0: DefaultDigitDuration) to
// samples, at least one frame and at most 0xFFFF.
func eventSamples(d time.Duration) uint16 {
	if d <= 0 {
		d = DefaultDigitDuration
	}
	return uint16(min(max(d/(time.Second/ClockRate), FrameSize), maxEventDuration))
}

// SendTone queues an in-band key press: the DTMF tone of key for d
// (DefaultDigitDuration if d ≤ 0, at most about 8.2 s), generated to
// ITU-T Q.23 at DefaultToneLevel per frequency, then ToneGap of silence,
// sent as audio in the session's codec in place of the playback, which
// pauses and resumes afterwards. It needs no telephone-event payload type.
// Invalid keys and presses beyond a queue of 32 are ignored. SendTone
// encodes the tone before it returns (the writer only sends frames); it
// never blocks.
func (s *Session) SendTone(key byte, d time.Duration) {
	if _, ok := EventCode(key); !ok {
		return
	}
	n := eventSamples(d)
	s.queue(digitReq{tone: toneFrames(key, time.Duration(n)*(time.Second/ClockRate), s.cfg.Codec.Name)})
}

// SendDigitAndTone queues a key press sent both ways at once, as gateways
// that leave the tone in the audio do: RFC 4733 events as SendDigit, and
// the tone as SendTone in the audio packets sent alongside. Without
// DTMFPT it is SendTone. It never blocks.
func (s *Session) SendDigitAndTone(key byte, d time.Duration) {
	code, ok := EventCode(key)
	if !ok {
		return
	}
	n := eventSamples(d)
	s.queue(digitReq{
		event:    s.dtmfPT.Load() != 0,
		code:     code,
		duration: n,
		tone:     toneFrames(key, time.Duration(n)*(time.Second/ClockRate), s.cfg.Codec.Name),
	})
}

// queue adds a press for the writer, unless 32 are waiting.
func (s *Session) queue(r digitReq) {
	s.mu.Lock()
	if len(s.sendQ) < sendQueue {
		s.sendQ = append(s.sendQ, r)
	}
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Session) Stats() SessionStats {
	c := &s.stats
	return SessionStats{
		PacketsIn:      c.packetsIn.Load(),
		BytesIn:        c.bytesIn.Load(),
		PacketsOut:     c.packetsOut.Load(),
		BytesOut:       c.bytesOut.Load(),
		PacketsIgnored: c.ignored.Load(),
		PacketsForeign: c.foreign.Load(),
		SendErrors:     c.sendErrors.Load(),
		DigitsDropped:  c.digitsDropped.Load(),
		DTMFTimeouts:   c.dtmfTimeouts.Load(),
		Inband: InbandStats{
			Detected:         c.inband[0].Load(),
			TwistRejects:     c.inband[1].Load(),
			EnergyRejects:    c.inband[2].Load(),
			HarmonicRejects:  c.inband[3].Load(),
			FrequencyRejects: c.inband[4].Load(),
			DurationRejects:  c.inband[5].Load(),
		},
	}
}

// readLoop is the reader goroutine. A read deadline that passed is the silence watch's
// (silence.go), unless the session is stopping.
func (s *Session) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, maxPacket)
	s.checkSilence(time.Now())
	for {
		if err := s.readOne(buf); err != nil {
			select {
			case <-s.quit:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.checkSilence(time.Now())
			}
		}
	}
}

// readOne reads and handles one datagram into buf, reused for every packet.
func (s *Session) readOne(buf []byte) error {
	n, from, err := s.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return err
	}
	s.receive(buf[:n], from)
	return nil
}

// receive handles one datagram: admit its source, parse, latch, demultiplex
// by payload type. It must not allocate.
func (s *Session) receive(b []byte, from netip.AddrPort) {
	r := &s.rx
	from = unmap(from)
	if s.relatch.Load() && s.relatch.CompareAndSwap(true, false) {
		r.latched = false // a re-INVITE moved the far end: latch afresh
	}
	steady := r.latched && from == r.source
	viaSDP := false
	if !steady {
		var ok bool
		if ok, viaSDP = s.admit(from); !ok {
			s.stats.foreign.Add(1)
			s.stats.ignored.Add(1)
			return
		}
	}
	// RFC 3550 §5.1: version 2. The check also keeps junk away from
	// Unmarshal, whose errors allocate.
	if len(b) < rtpHeaderSize || b[0]>>6 != 2 {
		s.stats.ignored.Add(1)
		return
	}
	if err := r.pkt.Unmarshal(b); err != nil {
		s.stats.ignored.Add(1)
		return
	}
	if steady {
		r.heard++
	} else {
		r.latched, r.source, r.viaSDP, r.heard, r.quiet = true, from, viaSDP, 0, false
		s.mu.Lock()
		s.remote = from
		s.mu.Unlock()
	}
	s.stats.packetsIn.Add(1)
	s.stats.bytesIn.Add(uint64(len(b)))

	dtmfPT := uint8(s.dtmfPT.Load())
	switch pt := r.pkt.PayloadType; {
	case dtmfPT != 0 && pt == dtmfPT:
		now := s.now()
		key, ok := r.dtmf.Packet(r.pkt.SSRC, r.pkt.Timestamp, r.pkt.Payload, now)
		if ok {
			s.deliver(Digit{Key: key, Mode: ModeRFC4733, At: now})
		}
		if l := s.link.Load(); l != nil {
			l.in.event(r.pkt.SSRC, r.pkt.Timestamp, r.pkt.Payload, ok, now)
		}
		s.expire(now)
	case pt == s.cfg.Codec.PT:
		if s.cfg.OnAudio != nil {
			s.cfg.OnAudio(r.pkt.Payload)
		}
		if l := s.link.Load(); l != nil {
			l.in.push(r.pkt.Payload)
		}
		if s.inbandOn.Load() {
			if r.inband == nil {
				r.inband = NewInbandDetector() // turned on by a re-INVITE
			}
			s.detect(r.pkt.Payload)
		}
		if dtmfPT != 0 {
			if r.count++; r.count >= expireEvery {
				s.expire(s.now())
			}
		}
	default:
		s.stats.ignored.Add(1)
	}
}

// admit decides whether from, which is not the latched source, may be
// latched by a valid packet, and whether it is the SDP address: the rule of
// SessionConfig.Remote. It runs on the reader goroutine, for packets from a
// source other than the latched one only (it takes the lock).
func (s *Session) admit(from netip.AddrPort) (ok, viaSDP bool) {
	r := &s.rx
	s.mu.Lock()
	sdp := s.signalled
	s.mu.Unlock()
	switch ip := from.Addr(); {
	case sdp.IsValid() && from == sdp:
		return true, true // (a) the SDP address wins and stays
	case r.latched && r.viaSDP:
		return false, false
	case (sdp.IsValid() || s.peerIP.IsValid()) &&
		(!sdp.IsValid() || ip != sdp.Addr()) && (!s.peerIP.IsValid() || ip != s.peerIP):
		return false, false // (c) a stranger
	case !r.latched:
		return true, false // (b) a candidate, nothing latched
	}
	// (b) a candidate against a source latched by IP: it wins once that
	// source has sent nothing for latchHoldOff, counted from the first
	// candidate packet after its last one. The clock is read here only, so
	// the steady path just counts.
	now := s.now()
	if !r.quiet || r.heard != r.quietMark {
		r.quiet, r.quietSince, r.quietMark = true, now, r.heard
		return false, false
	}
	return now.Sub(r.quietSince) >= latchHoldOff, false
}

// deliver hands a key press to Digits without blocking. While bridged
// without the option to keep them, presses are only relayed.
func (s *Session) deliver(d Digit) {
	if l := s.link.Load(); l != nil && !l.report {
		return
	}
	select {
	case s.digits <- d:
	default:
		s.stats.digitsDropped.Add(1)
	}
}

// detect decodes an audio payload into the reused buffer and runs the
// in-band detector on it. It must not allocate.
func (s *Session) detect(payload []byte) {
	r := &s.rx
	for len(payload) > 0 {
		var n int
		if s.cfg.Codec.Name == PCMA {
			n = DecodePCMATo(r.pcm[:], payload)
		} else {
			n = DecodePCMUTo(r.pcm[:], payload)
		}
		payload = payload[n:]
		for key, ok := r.inband.Process(r.pcm[:n]); ok; key, ok = r.inband.Process(nil) {
			s.deliver(Digit{Key: key, Mode: ModeInband, At: s.now(), Delay: r.inband.Delay()})
		}
	}
	if st := r.inband.Stats(); st != r.inbandSeen {
		r.inbandSeen = st
		c := &s.stats.inband
		c[0].Store(st.Detected)
		c[1].Store(st.TwistRejects)
		c[2].Store(st.EnergyRejects)
		c[3].Store(st.HarmonicRejects)
		c[4].Store(st.FrequencyRejects)
		c[5].Store(st.DurationRejects)
	}
}

func (s *Session) expire(now time.Time) {
	s.rx.count = 0
	if n := s.rx.dtmf.Expire(now); n > 0 {
		s.stats.dtmfTimeouts.Add(uint64(n))
	}
}

// writeLoop is the writer goroutine: one packet now, then one per tick.
func (s *Session) writeLoop() {
	defer s.wg.Done()
	t := time.NewTicker(FrameDuration)
	defer t.Stop()
	s.tick()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.tick()
		}
	}
}

// tick sends the packets of one 20 ms slot: an event packet while a digit
// is being sent, and an audio packet unless that event replaces the audio:
// the next tone frame while a tone is being sent, else the next prompt
// frame, else, while bridged, the other leg's audio, else silence. The RTP
// clock advances by one frame per slot whatever is sent (RFC 3550 §5.1).
// Key presses relayed by a bridge go before those of SendDigit and
// SendTone. While muted, the slot runs the same but sends nothing. It must
// not allocate.
func (s *Session) tick() {
	w := &s.tx
	var q *relayQueue
	if l := s.link.Load(); l != nil {
		q = l.out
	}
	s.mu.Lock()
	if s.hasPending {
		w.play, w.pi, w.fi = s.pending, 0, 0
		s.pending, s.hasPending = nil, false
	}
	if w.evRelay && w.evQ != q {
		w.evSrcEnd = true // unbridged during the press: end it
	}
	var bridged []byte
	if q != nil {
		bridged = q.pull(w, s.cfg.Codec.Name)
	}
	if !w.event && w.tone == nil && len(s.sendQ) > 0 {
		r := s.sendQ[0]
		w.event, w.ev, w.evTS, w.evDur, w.evEnds, w.evStarted = r.event, r, w.ts, 0, 0, false
		w.evRelay, w.evQ = false, nil
		w.tone, w.ev.tone = r.tone, nil
		n := copy(s.sendQ, s.sendQ[1:])
		s.sendQ[n] = digitReq{} // drop the frames' reference
		s.sendQ = s.sendQ[:n]
	}
	remote := s.remote
	s.mu.Unlock()
	if w.muted = s.muted.Load(); w.muted {
		w.marker = true // the stream resumes with a new talkspurt
	}

	audio := !w.event || w.tone != nil
	if w.event {
		s.sendEvent(remote)
	}
	if audio {
		var frame []byte
		if len(w.tone) > 0 {
			frame, w.tone = w.tone[0], w.tone[1:]
			if len(w.tone) == 0 {
				w.tone = nil
			}
		} else {
			frame = s.nextFrame(bridged)
		}
		if s.send(remote, s.cfg.Codec.PT, w.marker, w.ts, frame) {
			w.marker = false
		}
	}
	w.ts += FrameSize
}

// nextFrame returns the next frame of the playback, else idle (the
// bridged audio) if not nil, else silence. A playback whose frames are all
// sent is reported on Done one slot later, when its last frame has had time
// to play; a loop starts again from its first frame (Loop keeps only
// prompts with frames, so this ends).
func (s *Session) nextFrame(idle []byte) []byte {
	w := &s.tx
	for w.play != nil {
		if w.pi >= len(w.play.prompts) {
			if w.play.loop {
				if len(w.play.prompts) == 0 {
					break
				}
				w.pi, w.fi = 0, 0
				continue
			}
			s.notifyDone(w.play.id)
			w.play = nil
			break
		}
		if f := w.play.prompts[w.pi].Frames(s.cfg.Codec.Name); w.fi < len(f) {
			w.fi++
			return f[w.fi-1]
		}
		w.pi, w.fi = w.pi+1, 0
	}
	if idle != nil {
		return idle
	}
	return w.silence[:]
}

// notifyDone reports a finished playback without blocking, dropping the
// oldest report if nobody reads them.
func (s *Session) notifyDone(id uint64) {
	for range 2 {
		select {
		case s.done <- id:
			return
		default:
		}
		select {
		case <-s.done:
		default:
		}
	}
}

// sendEvent sends one telephone-event packet (RFC 4733 §2.5.1): all packets
// of the event carry its start timestamp, the first has the marker bit
// (§2.5.1.1), the duration grows by one frame per packet (§2.5.1.2), and the
// final one, with the E bit, is sent three times (§2.5.1.4). Audio resumes
// afterwards with the marker bit (RFC 3551 §4.1).
//
// A relayed event (Bridge) grows by one frame per packet while the source
// press lasts (up to 0xFFFF samples: no segments) and then ends at the
// longer of what was sent and the source's duration.
func (s *Session) sendEvent(remote netip.AddrPort) {
	w := &s.tx
	end := false
	if w.evRelay && !w.evSrcEnd {
		w.evDur = uint16(min(uint32(w.evDur)+FrameSize, maxEventDuration))
	} else {
		if w.evRelay && w.ev.duration == 0 {
			w.ev.duration = max(w.evDur, w.evSrcDur, FrameSize)
		}
		if w.evDur < w.ev.duration {
			w.evDur = uint16(min(uint32(w.evDur)+FrameSize, uint32(w.ev.duration)))
		}
		end = w.evDur >= w.ev.duration
	}
	if end {
		w.evEnds++
	}
	var payload [eventPayloadSize]byte
	AppendEvent(payload[:0], w.ev.code, end, eventVolume, w.evDur)
	if s.send(remote, uint8(s.dtmfPT.Load()), !w.evStarted, w.evTS, payload[:]) {
		w.evStarted = true
	}
	if w.evEnds >= endRepeats {
		w.event, w.evRelay, w.evQ = false, false, nil
		// Audio resumes after a pause, unless a tone went on alongside.
		w.marker = w.marker || w.tone == nil
	}
}

// send writes one RTP packet, with the next sequence number (RFC 3550
// §5.1), to remote and reports whether it went out. Nothing is sent, and no
// sequence number used, before a remote is known or while muted.
func (s *Session) send(remote netip.AddrPort, pt uint8, marker bool, ts uint32, payload []byte) bool {
	w := &s.tx
	if !remote.IsValid() || w.muted {
		return false
	}
	w.hdr.PayloadType, w.hdr.Marker, w.hdr.Timestamp = pt, marker, ts
	n, err := w.hdr.MarshalTo(w.buf[:])
	if err != nil {
		s.stats.sendErrors.Add(1)
		return false
	}
	w.hdr.SequenceNumber++
	n += copy(w.buf[n:], payload)
	if _, err := s.conn.WriteToUDPAddrPort(w.buf[:n], remote); err != nil {
		s.stats.sendErrors.Add(1)
		return false
	}
	s.stats.packetsOut.Add(1)
	s.stats.bytesOut.Add(uint64(n))
	return true
}
