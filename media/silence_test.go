package media

import (
	"net/netip"
	"testing"
	"time"
)

// silentWithin waits for s.Silent up to d and returns how long it took, failing the test
// when it stays open.
func silentWithin(t *testing.T, s *Session, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-s.Silent():
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("Silent still open after %v", d)
		return 0
	}
}

// notSilentFor fails the test if s.Silent closes within d.
func notSilentFor(t *testing.T, s *Session, d time.Duration, why string) {
	t.Helper()
	select {
	case <-s.Silent():
		t.Fatalf("Silent closed %s", why)
	case <-time.After(d):
	}
}

// A far end that streams keeps the session alive for many timeouts; once it stops (its
// session closed: no BYE, no packet), Silent closes after the timeout and at most a
// quarter of it later.
func TestSilence_StoppedStreamIsReported(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	ca, cb := listen(t), listen(t)
	a := NewSession(ca, SessionConfig{Remote: addr(cb)})
	a.WatchSilence(timeout, 0)
	a.Start(t.Context())
	t.Cleanup(func() { a.Close() })
	b := startPeer(t, cb, SessionConfig{Remote: addr(ca)}) // sends a frame every 20 ms

	notSilentFor(t, a, 4*timeout, "while the far end streams")
	if a.Stats().PacketsIn == 0 {
		t.Fatal("nothing received")
	}
	b.Close() // gone without a word
	// Reported once the stream has stopped. When exactly is the scheduler's business (the
	// far end's last packet may have left well before Close on a loaded machine; about a
	// quarter timeout after the timeout when idle): STYLE.md keeps timing bounds out of unit
	// tests, and the streaming phase above shows it is not reported while packets come.
	silentWithin(t, a, 10*timeout)
	// Reported once; the session goes on until closed.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// A far end that never sends is reported a timeout after the watch starts; packets from a
// stranger (not the SDP address's IP nor the peer's) do not count.
func TestSilence_StrangersKeepNobodyAlive(t *testing.T) {
	t.Parallel()
	const timeout = 150 * time.Millisecond
	ca, stranger := listen(t), listenIP(t, netip.MustParseAddr("127.0.0.2"))
	a := NewSession(ca, SessionConfig{Remote: netip.MustParseAddrPort("127.0.0.1:9"), PeerIP: netip.MustParseAddr("127.0.0.1")})
	a.Start(t.Context())
	t.Cleanup(func() { a.Close() })
	a.WatchSilence(timeout, 0)
	done := make(chan struct{})
	go func() { // a stranger streams the whole time
		defer close(done)
		tick := time.NewTicker(FrameDuration)
		defer tick.Stop()
		frame := make([]byte, FrameSize)
		for i := 0; ; i++ {
			select {
			case <-a.Silent():
				return
			case <-tick.C:
				_, _ = stranger.WriteToUDPAddrPort(rtpPacket(0, uint16(i), uint32(i)*FrameSize, 7, i == 0, frame), addr(ca))
			}
		}
	}()
	took := silentWithin(t, a, 10*timeout) // a generous deadline: timing is not the point here
	<-done
	if took < timeout {
		t.Errorf("reported after %v, want at least %v", took, timeout)
	}
	if st := a.Stats(); st.PacketsForeign == 0 || st.PacketsIn != 0 {
		t.Errorf("stats %+v, want the stranger's packets refused", st)
	}
}

// A held stream (the far end's SDP says sendonly, recvonly or inactive) sends nothing and is
// judged by the hold timeout: not reported after the RTP timeout, reported after the hold
// timeout; resuming (unheld) gives it the RTP timeout again from the resume.
func TestSilence_HeldStreamJudgedByHoldTimeout(t *testing.T) {
	t.Parallel()
	const rtpTimeout, holdTimeout = 100 * time.Millisecond, 600 * time.Millisecond
	ca := listen(t)
	a := NewSession(ca, SessionConfig{Remote: netip.MustParseAddrPort("127.0.0.1:9")})
	a.SetHeld(true)
	a.WatchSilence(rtpTimeout, holdTimeout)
	a.Start(t.Context())
	t.Cleanup(func() { a.Close() })

	notSilentFor(t, a, 3*rtpTimeout, "on hold after the RTP timeout")
	a.SetHeld(false) // resumed: the RTP timeout, counted from now
	start := time.Now()
	select {
	case <-a.Silent():
	case <-time.After(holdTimeout):
		t.Fatal("not reported within the RTP timeout once resumed")
	}
	if took := time.Since(start); took < rtpTimeout {
		t.Errorf("reported %v after the resume, want at least %v", took, rtpTimeout)
	}

	b := NewSession(listen(t), SessionConfig{Remote: netip.MustParseAddrPort("127.0.0.1:9")})
	b.Start(t.Context())
	t.Cleanup(func() { b.Close() })
	b.WatchSilence(rtpTimeout, holdTimeout)
	b.SetHeld(true) // the watch was armed for the RTP timeout: the change applies at once
	took := silentWithin(t, b, 10*holdTimeout)
	if took < holdTimeout {
		t.Errorf("held stream reported after %v, want at least the hold timeout %v", took, holdTimeout)
	}

	c := NewSession(listen(t), SessionConfig{Remote: netip.MustParseAddrPort("127.0.0.1:9")})
	c.SetHeld(true)
	c.WatchSilence(rtpTimeout, 0) // held streams are never judged
	c.Start(t.Context())
	t.Cleanup(func() { c.Close() })
	notSilentFor(t, c, 3*rtpTimeout, "for a held stream without a hold timeout")
}

// Close returns at once although the reader's next check is a long way off, and the
// socket's deadline is cleared for its next user; watching nothing arms nothing.
func TestSilence_CloseIsPrompt(t *testing.T) {
	t.Parallel()
	conn := listen(t)
	s := NewSession(conn, SessionConfig{})
	s.WatchSilence(time.Hour, 2*time.Hour)
	s.Start(t.Context())
	start := time.Now()
	for range 50 { // a check due at once races every Close
		s.SetHeld(true)
		s.SetHeld(false)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second { // the next check is an hour away
		t.Errorf("Close took %v", took)
	}
	s.SetHeld(true) // after Close: no effect on the socket
	peer := listen(t)
	if _, err := peer.WriteToUDPAddrPort([]byte("x"), addr(conn)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
		t.Errorf("the socket kept a deadline after Close: %v", err)
	}
}

func TestSDPHolds(t *testing.T) {
	t.Parallel()
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	const audio = "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	tests := []struct {
		name string
		sdp  string
		want bool
	}{
		{"empty", "", false},
		{"no direction", head + audio, false},
		{"sendrecv", head + audio + "a=sendrecv\r\n", false},
		{"sendonly", head + audio + "a=sendonly\r\n", true},
		{"recvonly", head + audio + "a=recvonly\r\n", true},
		{"inactive", head + audio + "a=inactive\r\n", true},
		{"session level", head + "a=inactive\r\n" + audio, true},
		{"stream overrides session", head + "a=inactive\r\n" + audio + "a=sendrecv\r\n", false},
		{"video first", head + "m=video 4002 RTP/AVP 96\r\na=sendonly\r\n" + audio, false},
		{"second audio ignored", head + audio + "m=audio 4002 RTP/AVP 0\r\na=inactive\r\n", false},
		{"bare newlines", "v=0\nm=audio 4000 RTP/AVP 0\na=sendonly\n", true},
		{"no audio", head + "m=video 4002 RTP/AVP 96\r\na=inactive\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := SDPHolds([]byte(tc.sdp)); got != tc.want {
				t.Errorf("SDPHolds = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkSilenceCheck is the watch's whole cost: one check, which the reader runs four
// times per timeout (every 7.5 s for a 30 s media.rtp_timeout), never per packet.
func BenchmarkSilenceCheck(b *testing.B) {
	s := NewSession(listen(b), SessionConfig{})
	s.WatchSilence(30*time.Second, 2*time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		s.checkSilence(time.Now())
	}
}
