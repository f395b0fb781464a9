package ivr

import (
	"net"
	"net/netip"
	"testing"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
)

// A re-INVITE that drops telephone-event switches an auto-mode call to in-band detection
// (and back when it returns); one that offers only another codec is refused, changing nothing.
func TestReinviter_ReevaluatesDTMF(t *testing.T) {
	t.Parallel()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := netip.MustParseAddrPort(conn.LocalAddr().String())
	sess := media.NewSession(conn, media.SessionConfig{Codec: media.CodecPCMU, DTMFPT: 101})
	r := newReinviter()
	if _, code := r.answer([]byte("v=0")); code != 491 {
		t.Errorf("before the media is up: %d, want 491", code)
	}
	r.ready(local, media.CodecPCMU, DTMFAuto, sess, &sdp.Origin{ID: 1}, sdp.SendRecv)
	peer := netip.MustParseAddrPort("127.0.0.1:40000")
	offer := func(codecs []media.CodecName, dtmf bool) []byte {
		return sdp.Offer(sdp.OfferOptions{Addr: peer, Codecs: codecs, DTMF: dtmf})
	}

	ans, code := r.answer(offer([]media.CodecName{media.PCMU}, false))
	if code != 200 || len(ans) == 0 {
		t.Fatalf("re-INVITE without telephone-event: %d", code)
	}
	if p := <-r.policy; p.rfc4733 || !p.inband {
		t.Errorf("policy %+v after telephone-event went away, want in-band", p)
	}
	if neg, err := sdp.ParseAnswer(ans); err != nil || neg.DTMFPT != 0 || neg.Codec.Name != media.PCMU {
		t.Errorf("answer %+v %v, want PCMU without telephone-event", neg, err)
	}
	if _, code := r.answer(offer([]media.CodecName{media.PCMU}, true)); code != 200 {
		t.Fatalf("re-INVITE with telephone-event again: %d", code)
	}
	if p := <-r.policy; !p.rfc4733 || p.inband {
		t.Errorf("policy %+v with telephone-event back, want RFC 4733", p)
	}
	if _, code := r.answer(offer([]media.CodecName{media.PCMA}, true)); code != 488 {
		t.Errorf("re-INVITE with only another codec: %d, want 488", code)
	}
	select {
	case p := <-r.policy:
		t.Errorf("a refused re-INVITE changed the policy to %+v", p)
	default:
	}
	if got := sess.Remote(); got != peer {
		t.Errorf("session sends to %v, want the re-INVITE's %v", got, peer)
	}
}
