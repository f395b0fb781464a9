package sdp

import (
	"errors"
	"net/netip"
	"testing"

	pionsdp "github.com/pion/sdp/v3"

	"github.com/hotline-ivr/hotline/media"
)

func FuzzSDPAnswer(f *testing.F) {
	f.Add(offerWith("m=audio 49170 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"))
	f.Add(offerWith("m=video 5000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 49170 RTP/AVP 97 126",
		"c=IN IP4 192.0.2.99", "a=rtpmap:97 PCMA/8000", "a=rtpmap:126 telephone-event/8000", "a=sendonly"))
	f.Add(sdpText("v=0", "o=- 1 1 IN IP6 ::1", "s=-", "c=IN IP6 2001:db8::1", "t=0 0", "m=audio 4000 RTP/AVP 18"))
	f.Add(offerWith("m=audio 49170 RTP/SAVP 0", "m=audio 0 RTP/AVP 0"))
	f.Add(Offer(OfferOptions{Addr: netip.MustParseAddrPort("127.0.0.1:30000"), DTMF: true}))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, offer []byte) {
		opts := AnswerOptions{Addr: netip.MustParseAddrPort("127.0.0.1:40000"), SessionID: 1}
		answer, n, err := Answer(offer, opts)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("Answer() error %v wraps neither sentinel", err)
			}
			return
		}
		if n.Codec.Name != media.PCMU && n.Codec.Name != media.PCMA || !n.Remote.IsValid() || n.Remote.Port() == 0 {
			t.Fatalf("Answer() negotiated %+v", n)
		}
		var ans pionsdp.SessionDescription
		if err := ans.Unmarshal(answer); err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, answer)
		}
		back, err := ParseAnswer(answer)
		if err != nil {
			t.Fatalf("ParseAnswer(our answer) error = %v\n%s", err, answer)
		}
		if back.Codec != n.Codec || back.DTMFPT != n.DTMFPT || back.Remote != opts.Addr {
			t.Fatalf("ParseAnswer(our answer) = %+v, Answer negotiated %+v\n%s", back, n, answer)
		}
		// ParseAnswer and ParseAnswerTo must not panic on arbitrary input either.
		_, _ = ParseAnswer(offer)
		_, _ = ParseAnswerTo(Offer(OfferOptions{Addr: opts.Addr, DTMF: true}), offer)
	})
}
