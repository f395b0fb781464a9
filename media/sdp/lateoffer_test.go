package sdp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/hotline-ivr/hotline/media"
)

// answerWith is an answer from 192.0.2.10 with the given media lines.
func answerWith(lines ...string) []byte {
	return sdpText(append([]string{"v=0", "o=pbx 77 78 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0"}, lines...)...)
}

// A late offer: our Offer goes in the 200, the ACK's answer comes back through ParseAnswerTo.
func TestParseAnswerTo(t *testing.T) {
	t.Parallel()
	peer := netip.MustParseAddrPort("192.0.2.10:49170")
	both := Offer(OfferOptions{Addr: local, DTMF: true, SessionID: 1})
	pcmuNoDTMF := Offer(OfferOptions{Addr: local, Codecs: []media.CodecName{media.PCMU}, SessionID: 1})
	tests := []struct {
		name    string
		offer   []byte // default both
		answer  []byte
		want    Negotiated
		wantErr error
		sends   bool
	}{
		{
			name:   "pcmu with telephone-event",
			answer: answerWith("m=audio 49170 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv"),
			want:   Negotiated{Codec: media.CodecPCMU, DTMFPT: 101, Remote: peer, Ptime: 20},
			sends:  true,
		},
		{
			name:   "pcma chosen, answerer's telephone-event number and ptime",
			answer: answerWith("m=audio 49170 RTP/AVP 8 96", "a=rtpmap:8 PCMA/8000", "a=rtpmap:96 telephone-event/8000", "a=ptime:30"),
			want:   Negotiated{Codec: media.CodecPCMA, DTMFPT: 96, Remote: peer, Ptime: 30},
			sends:  true,
		},
		{
			name:   "a format we never offered is skipped",
			offer:  pcmuNoDTMF,
			answer: answerWith("m=audio 49170 RTP/AVP 8 0"),
			want:   Negotiated{Codec: media.CodecPCMU, Remote: peer, Ptime: 20},
			sends:  true,
		},
		{
			name:   "telephone-event we did not offer is ignored",
			offer:  pcmuNoDTMF,
			answer: answerWith("m=audio 49170 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"),
			want:   Negotiated{Codec: media.CodecPCMU, Remote: peer, Ptime: 20},
			sends:  true,
		},
		{
			name:   "sendonly answer holds us",
			answer: answerWith("m=audio 49170 RTP/AVP 0", "a=sendonly"),
			want:   Negotiated{Codec: media.CodecPCMU, Remote: peer, Ptime: 20, Direction: RecvOnly},
		},
		{
			name:   "inactive answer",
			answer: answerWith("a=inactive", "m=audio 49170 RTP/AVP 0"),
			want:   Negotiated{Codec: media.CodecPCMU, Remote: peer, Ptime: 20, Direction: Inactive},
		},
		{
			name:   "recvonly answer: we send",
			answer: answerWith("m=audio 49170 RTP/AVP 0", "a=recvonly"),
			want:   Negotiated{Codec: media.CodecPCMU, Remote: peer, Ptime: 20, Direction: SendOnly},
			sends:  true,
		},
		{name: "only a codec we did not offer", answer: answerWith("m=audio 49170 RTP/AVP 18"), wantErr: ErrNoCommonCodec},
		{name: "pcma when we offered pcmu only", offer: pcmuNoDTMF, answer: answerWith("m=audio 49170 RTP/AVP 8"), wantErr: ErrNoCommonCodec},
		{name: "audio rejected", answer: answerWith("m=audio 0 RTP/AVP 0"), wantErr: ErrNoCommonCodec},
		{name: "more m= lines than offered", answer: answerWith("m=audio 49170 RTP/AVP 0", "m=video 0 RTP/AVP 96"), wantErr: ErrMalformed},
		{name: "video in the audio's place", answer: answerWith("m=video 5000 RTP/AVP 96"), wantErr: ErrMalformed},
		{name: "SRTP", answer: answerWith("m=audio 49170 RTP/SAVP 0"), wantErr: ErrMalformed},
		{name: "hold address", answer: answerWith("m=audio 49170 RTP/AVP 0", "c=IN IP4 0.0.0.0"), wantErr: ErrMalformed},
		{name: "missing c=", answer: sdpText("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "t=0 0", "m=audio 49170 RTP/AVP 0"), wantErr: ErrMalformed},
		{name: "empty ACK body", answer: nil, wantErr: ErrMalformed},
		{name: "not SDP", answer: []byte("Signal=5\r\nDuration=160\r\n"), wantErr: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			offer := tc.offer
			if offer == nil {
				offer = both
			}
			got, err := ParseAnswerTo(offer, tc.answer)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseAnswerTo() error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAnswerTo() error = %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseAnswerTo() = %+v, want %+v", got, tc.want)
			}
			if got.Direction.Sends() != tc.sends {
				t.Errorf("Direction %v: Sends() = %v, want %v", got.Direction, got.Direction.Sends(), tc.sends)
			}
		})
	}
}

// Our answer's direction mirrors the offer's (RFC 3264 §6.1); Sends says whether we may
// send, i.e. whether the far end holds us.
func TestAnswer_DirectionAndHold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		offer   []byte
		attr    string
		want    Direction
		sending bool
	}{
		{"no attribute", offerWith("m=audio 49170 RTP/AVP 0"), "a=sendrecv", SendRecv, true},
		{"sendrecv", offerWith("m=audio 49170 RTP/AVP 0", "a=sendrecv"), "a=sendrecv", SendRecv, true},
		{"sendonly: we are held", offerWith("m=audio 49170 RTP/AVP 0", "a=sendonly"), "a=recvonly", RecvOnly, false},
		{"inactive", offerWith("m=audio 49170 RTP/AVP 0", "a=inactive"), "a=inactive", Inactive, false},
		{"recvonly: we send", offerWith("m=audio 49170 RTP/AVP 0", "a=recvonly"), "a=sendonly", SendOnly, true},
		{"session-level sendonly", offerWith("a=sendonly", "m=audio 49170 RTP/AVP 0"), "a=recvonly", RecvOnly, false},
		{"media level wins over session", offerWith("a=sendonly", "m=audio 49170 RTP/AVP 0", "a=sendrecv"), "a=sendrecv", SendRecv, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			answer, n, err := Answer(tc.offer, AnswerOptions{Addr: local})
			if err != nil {
				t.Fatal(err)
			}
			if n.Direction != tc.want || n.Direction.Sends() != tc.sending {
				t.Errorf("Direction = %v (sends %v), want %v (sends %v)", n.Direction, n.Direction.Sends(), tc.want, tc.sending)
			}
			if !strings.HasSuffix(string(answer), tc.attr+"\r\n") {
				t.Errorf("answer does not end with %q:\n%s", tc.attr, answer)
			}
		})
	}
}

// originLine returns the o= line of an SDP.
func originLine(t *testing.T, b []byte) string {
	t.Helper()
	for l := range strings.SplitSeq(string(b), "\r\n") {
		if strings.HasPrefix(l, "o=") {
			return l
		}
	}
	t.Fatalf("no o= line in\n%s", b)
	return ""
}

// One origin per call (RFC 3264 §8): the session id never changes, the version goes up by
// one with every changed SDP, and an unchanged SDP is sent again with the same version.
func TestOrigin_VersionPerChange(t *testing.T) {
	t.Parallel()
	o := &Origin{ID: 3900000000}
	sendrecv := offerWith("m=audio 49170 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000")
	hold := offerWith("m=audio 49170 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly")
	moved := offerWith("m=audio 49170 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "c=IN IP4 192.0.2.99")
	answer := func(offer []byte, addr netip.AddrPort) []byte {
		t.Helper()
		a, _, err := Answer(offer, AnswerOptions{Addr: addr, Origin: o})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	other := netip.MustParseAddrPort("127.0.0.2:40000")
	steps := []struct {
		name string
		sdp  func() []byte
		want string
	}{
		{"first answer: version = session id", func() []byte { return answer(sendrecv, local) }, "o=- 3900000000 3900000000 IN IP4 127.0.0.1"},
		{"session refresh with the same offer: same SDP, same version", func() []byte { return answer(sendrecv, local) }, "o=- 3900000000 3900000000 IN IP4 127.0.0.1"},
		{"hold: recvonly, version + 1", func() []byte { return answer(hold, local) }, "o=- 3900000000 3900000001 IN IP4 127.0.0.1"},
		{"held again: unchanged", func() []byte { return answer(hold, local) }, "o=- 3900000000 3900000001 IN IP4 127.0.0.1"},
		{"resume: version + 1", func() []byte { return answer(sendrecv, local) }, "o=- 3900000000 3900000002 IN IP4 127.0.0.1"},
		{"the peer moved: our answer is the same", func() []byte { return answer(moved, local) }, "o=- 3900000000 3900000002 IN IP4 127.0.0.1"},
		{"our offer, the same content as the last answer: unchanged", func() []byte {
			return Offer(OfferOptions{Addr: local, Codecs: []media.CodecName{media.PCMU}, DTMF: true, Origin: o})
		}, "o=- 3900000000 3900000002 IN IP4 127.0.0.1"},
		{"our offer with both codecs: version + 1", func() []byte {
			return Offer(OfferOptions{Addr: local, DTMF: true, Origin: o})
		}, "o=- 3900000000 3900000003 IN IP4 127.0.0.1"},
		{"the same offer again: unchanged", func() []byte {
			return Offer(OfferOptions{Addr: local, DTMF: true, Origin: o})
		}, "o=- 3900000000 3900000003 IN IP4 127.0.0.1"},
		{"a new address of ours (o= included): version + 1", func() []byte { return answer(sendrecv, other) }, "o=- 3900000000 3900000004 IN IP4 127.0.0.2"},
	}
	byVersion := map[string]string{} // one version, one SDP
	for i, st := range steps {
		got := st.sdp()
		l := originLine(t, got)
		if l != st.want {
			t.Errorf("step %d (%s): %q, want %q", i, st.name, l, st.want)
		}
		if seen, ok := byVersion[l]; ok && seen != string(got) {
			t.Errorf("step %d (%s): %q names two SDPs:\n%s\nand\n%s", i, st.name, l, seen, got)
		}
		byVersion[l] = string(got)
	}
	if o.Version != 3900000004 {
		t.Errorf("Origin.Version = %d, want 3900000004", o.Version)
	}
}

// An Origin copied before an SDP that is then not sent rolls back: the next SDP sent is
// the version after the last one sent (no gap).
func TestOrigin_RollBack(t *testing.T) {
	t.Parallel()
	o := &Origin{ID: 10}
	_ = Offer(OfferOptions{Addr: local, Origin: o}) // version 10, sent
	saved := *o
	_, _, err := Answer(offerWith("m=audio 49170 RTP/AVP 0", "a=sendonly"), AnswerOptions{Addr: local, Origin: o})
	if err != nil {
		t.Fatal(err)
	}
	*o = saved // refused after all, never sent
	a, _, err := Answer(offerWith("m=audio 49170 RTP/AVP 0", "a=inactive"), AnswerOptions{Addr: local, Origin: o})
	if err != nil {
		t.Fatal(err)
	}
	if l := originLine(t, a); l != "o=- 10 11 IN IP4 127.0.0.1" {
		t.Errorf("after a roll-back: %q, want version 11", l)
	}
}
