package ivr

import (
	"net/netip"
	"sync"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
)

// reinviter answers a caller's re-INVITE (RFC 3264 §8) on sipgo's goroutine: a new remote
// address, telephone-event added or removed (the call's DTMF policy is re-evaluated), hold
// and resume. The codec stays as negotiated: an offer without it is refused with 488 and
// the session goes on unchanged.
type reinviter struct {
	mu     sync.Mutex
	local  netip.AddrPort
	codec  media.Codec
	mode   string
	sess   *media.Session
	policy chan callDTMF // to the call goroutine; the newest policy wins
}

func newReinviter() *reinviter { return &reinviter{policy: make(chan callDTMF, 1)} }

// ready arms it once the call's media is up.
func (r *reinviter) ready(local netip.AddrPort, codec media.Codec, mode string, sess *media.Session) {
	r.mu.Lock()
	r.local, r.codec, r.mode, r.sess = local, codec, mode, sess
	r.mu.Unlock()
}

// answer is the sip.Leg OnReinvite hook.
func (r *reinviter) answer(offer []byte) ([]byte, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess == nil {
		return nil, 491 // Request Pending: the first offer/answer is not complete (RFC 3261 §14.2)
	}
	ans, neg, err := sdp.Answer(offer, sdp.AnswerOptions{Addr: r.local, Codecs: []media.CodecName{r.codec.Name}})
	if err != nil || neg.Codec.PT != r.codec.PT {
		return nil, 488
	}
	p := newCallDTMF(r.mode, neg.DTMFPT != 0)
	r.sess.Renegotiate(neg.Remote, neg.DTMFPT, p.inband)
	select {
	case <-r.policy: // replace a policy the call has not picked up yet
	default:
	}
	r.policy <- p
	return ans, 200
}
