package media

import (
	"bytes"
	"sync/atomic"
	"time"
)

// Dead-stream detection: a far end that vanished without a word (a lost BYE, a dead
// gateway, a NAT binding that timed out) stops sending RTP, and that is all there is to
// notice. The reader goroutine already owns the socket, so it watches with the socket's
// read deadline: it arms one a quarter of the timeout ahead, and when it passes compares
// the count of accepted packets with the count at the last check. Nothing is added to the
// per-packet path (no clock read, no system call, no allocation) and no goroutine or
// ticker is started; a watched session wakes its reader four times per timeout.

// silenceWatch is a Session's watch for a far end gone silent.
type silenceWatch struct {
	rtp, hold atomic.Int64 // the timeouts (time.Duration); 0: never silent
	held      atomic.Bool  // the far end holds the call: hold applies instead of rtp
	// poke says the timeouts or the hold state changed: the reader counts afresh with the
	// new ones from its next check, which is due at once. Set under Session.dlMu.
	poke   atomic.Bool
	silent chan struct{} // closed once, when the far end fell silent

	// Owned by the reader goroutine.
	mark     uint64    // PacketsIn at the last check
	since    time.Time // nothing has been heard since (at the latest)
	reported bool
}

// limit is the silence allowed now: the hold timeout while held, else the RTP timeout.
func (w *silenceWatch) limit() time.Duration {
	if w.held.Load() {
		return time.Duration(w.hold.Load())
	}
	return time.Duration(w.rtp.Load())
}

// silenceChecks is how many checks one timeout spans: the far end is reported at most a
// quarter of the timeout after it has been silent for the timeout.
const silenceChecks = 4

// WatchSilence arms (or changes) the session's watch for a far end gone silent: Silent is
// closed once no valid RTP has come from the far end for rtp, or for hold while the far end
// holds the call (SetHeld; a held stream legitimately sends nothing). Zero means never:
// with both zero nothing is watched, as before the first call. Silence is counted from
// this call (or from Start, if later) and from each change of the hold state, and noticed
// within a quarter of the timeout. Only accepted packets count (see SessionConfig.Remote):
// a stranger's packets keep nobody alive. WatchSilence never blocks.
func (s *Session) WatchSilence(rtp, hold time.Duration) {
	s.sw.rtp.Store(int64(max(rtp, 0)))
	s.sw.hold.Store(int64(max(hold, 0)))
	s.kick()
}

// SetHeld says whether the far end holds the call (its SDP says sendonly, recvonly or
// inactive; see SDPHolds): while it does, silence is judged by WatchSilence's hold timeout.
// Each change restarts the count. It never blocks.
func (s *Session) SetHeld(held bool) {
	if s.sw.held.Swap(held) != held {
		s.kick()
	}
}

// Silent is closed once the far end has been silent for the timeout WatchSilence set. It
// is closed at most once and stays closed; the session goes on (Close it).
func (s *Session) Silent() <-chan struct{} { return s.sw.silent }

// kick makes the reader check the watch at once with its new settings.
func (s *Session) kick() {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.sw.poke.Store(true)
	if !s.reading.Load() || s.quitting() {
		return // Start's first check sees the poke; after Close nothing is watched
	}
	_ = s.conn.SetReadDeadline(time.Unix(1, 0))
}

// quitting reports whether shutdown has begun.
func (s *Session) quitting() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// checkSilence runs on the reader when it starts and whenever its read deadline passed:
// it compares the packet count with the last check's, reports a far end silent for the
// limit, and arms the next deadline (or none).
func (s *Session) checkSilence(now time.Time) {
	w := &s.sw
	n := s.stats.packetsIn.Load()
	if w.poke.Swap(false) || n != w.mark || w.since.IsZero() {
		w.mark, w.since = n, now
	}
	var next time.Time // zero: no deadline
	limit := w.limit()
	switch {
	case w.reported || limit <= 0:
	case now.Sub(w.since) >= limit:
		w.reported = true
		close(w.silent)
	default:
		next = now.Add(max(limit/silenceChecks, time.Millisecond))
	}
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	switch {
	case s.quitting(): // shutdown's deadline stays: the reader must see it
	case w.poke.Load(): // changed meanwhile: check again at once
		_ = s.conn.SetReadDeadline(time.Unix(1, 0))
	default:
		_ = s.conn.SetReadDeadline(next)
	}
}

// SDPHolds reports whether an SDP offer or answer from the far end puts the audio on hold,
// so that it may legitimately send no RTP: the direction of its first audio stream (the
// session-level attribute when the stream has none, RFC 4566 §6) is sendonly (hold, RFC
// 3264 §8.4: many phones then send nothing), recvonly or inactive. An empty or audio-less
// SDP does not hold.
func SDPHolds(sdp []byte) bool {
	session, media := "", ""
	inMedia, inAudio, seenAudio := false, false, false
	for line := range bytes.Lines(sdp) {
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.HasPrefix(line, []byte("m=")):
			if inAudio {
				return holds(session, media) // the first audio stream ended
			}
			inMedia, inAudio = true, bytes.HasPrefix(line, []byte("m=audio "))
			seenAudio = seenAudio || inAudio
		case bytes.HasPrefix(line, []byte("a=")):
			switch dir := string(line[2:]); {
			case dir != "sendrecv" && dir != "sendonly" && dir != "recvonly" && dir != "inactive":
			case !inMedia:
				session = dir
			case inAudio:
				media = dir
			}
		}
	}
	return seenAudio && holds(session, media)
}

func holds(session, media string) bool {
	dir := media
	if dir == "" {
		dir = session
	}
	return dir == "sendonly" || dir == "recvonly" || dir == "inactive"
}
