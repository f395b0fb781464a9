package ivr

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/sip"
)

// reinviter answers a caller's re-INVITE (RFC 3264 §8) on sipgo's goroutine: a new remote
// address, telephone-event added or removed (the call's DTMF policy is re-evaluated), hold
// and resume. The codec stays as negotiated: an offer without it is refused with 488 and
// the session goes on unchanged. A re-INVITE without an offer gets ours, and the answer in
// its ACK is applied the same way.
//
// Every SDP it sends carries the call's origin (sdp.Origin: one session id, the version up
// by one for each changed SDP, the same version for an unchanged one). Hold: while the far
// end's last word is sendonly or inactive (our side recvonly or inactive), our sender is
// muted; it runs again at sendrecv (or recvonly). Before the INVITE's ACK it stays muted
// whatever the SDP says (confirm).
type reinviter struct {
	mu        sync.Mutex
	local     netip.AddrPort
	codec     media.Codec
	mode      string
	sess      *media.Session
	origin    *sdp.Origin // the call's o= line, shared with the first answer or offer
	confirmed bool        // the INVITE's ACK is in
	sends     bool        // the far end does not hold us
	offer     []byte      // our offer in a re-INVITE's 200, its ACK awaited; nil when none
	policy    chan callDTMF
}

func newReinviter() *reinviter { return &reinviter{policy: make(chan callDTMF, 1)} }

// ready arms it once the call's media is up, with what the first offer/answer settled.
func (r *reinviter) ready(local netip.AddrPort, codec media.Codec, mode string, sess *media.Session, origin *sdp.Origin, dir sdp.Direction) {
	r.mu.Lock()
	r.local, r.codec, r.mode, r.sess, r.origin, r.sends = local, codec, mode, sess, origin, dir.Sends()
	r.mu.Unlock()
	sess.SetHeld(dir != sdp.SendRecv) // a held call is judged by media.hold_timeout
}

// confirm lets the call's sender run once the far end confirmed the session (the ACK),
// unless it holds us (dir, or a re-INVITE since). A call without a reinviter (nil) goes by
// dir alone.
func (r *reinviter) confirm(sess *media.Session, dir sdp.Direction) {
	if r == nil {
		sess.SetMuted(!dir.Sends())
		return
	}
	r.mu.Lock()
	r.confirmed = true
	r.muteLocked()
	r.mu.Unlock()
}

func (r *reinviter) muteLocked() { r.sess.SetMuted(!(r.confirmed && r.sends)) }

// answer is the sip.Leg OnReinvite hook.
func (r *reinviter) answer(offer []byte) ([]byte, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess == nil || r.offer != nil {
		// Request Pending: the first offer/answer, or one of ours, is not complete (RFC 3261 §14.2)
		return nil, 491
	}
	saved := *r.origin
	ans, neg, err := sdp.Answer(offer, sdp.AnswerOptions{Addr: r.local, Codecs: []media.CodecName{r.codec.Name}, Origin: r.origin})
	if err != nil || neg.Codec.PT != r.codec.PT {
		*r.origin = saved // not sent: the next SDP takes this version
		return nil, 488
	}
	r.applyLocked(neg)
	return ans, 200
}

// reoffer is the sip.Leg OnReoffer hook: a re-INVITE without an offer gets ours (the
// call's codec and telephone-event, sendrecv), and apply takes the answer from the ACK. An
// answer that is missing, unusable or changes the codec is an error: sip then ends the call
// with BYE and a Reason.
func (r *reinviter) reoffer() ([]byte, func(answer []byte) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess == nil || r.offer != nil {
		return nil, nil // 491
	}
	offer := sdp.Offer(sdp.OfferOptions{Addr: r.local, Codecs: []media.CodecName{r.codec.Name}, DTMF: true, Origin: r.origin})
	r.offer = offer
	return offer, func(answer []byte) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.offer = nil
		neg, err := sdp.ParseAnswerTo(offer, answer)
		switch {
		case err != nil:
			return err
		case neg.Codec.PT != r.codec.PT:
			return fmt.Errorf("answer changes the codec to %s/%d", neg.Codec.Name, neg.Codec.PT)
		}
		r.applyLocked(neg)
		return nil
	}
}

// applyLocked applies a new offer/answer to the running call: address, telephone-event and
// its DTMF policy, hold.
func (r *reinviter) applyLocked(neg sdp.Negotiated) {
	p := newCallDTMF(r.mode, neg.DTMFPT != 0)
	r.sess.Renegotiate(neg.Remote, neg.DTMFPT, p.inband)
	r.sends = neg.Direction.Sends()
	// Held or not, whichever way the SDP came: an offer, or the answer in an ACK (a late
	// offer, a re-INVITE without SDP), which the dead-media watch would not see otherwise.
	r.sess.SetHeld(neg.Direction != sdp.SendRecv)
	r.muteLocked()
	select {
	case <-r.policy: // replace a policy the call has not picked up yet
	default:
	}
	r.policy <- p
}

// errNoAnswer is why a late-offer call ends right after its ACK: the ACK had no usable
// answer to our offer. sip sends it as the BYE's Reason (RFC 3326).
var errNoAnswer = errors.New("no usable answer")

// lateOffer answers an INVITE without SDP: our offer (the configured codecs and
// telephone-event) in the 200, stamped with the call's origin, and the answer from the
// ACK. An answer that is missing or unusable is a *sip.RejectError 488 (the call was
// answered: sip hangs up with BYE and its Reason); a failure of AnswerOffer itself (no
// ACK, the caller hung up) is returned as it is.
func (e *Engine) lateOffer(ctx context.Context, leg offerer, id string, local netip.AddrPort, origin *sdp.Origin) (sdp.Negotiated, error) {
	offer := sdp.Offer(sdp.OfferOptions{Addr: local, Codecs: e.cfg.Media.CodecNames(), DTMF: true, Origin: origin})
	answer, err := leg.AnswerOffer(ctx, offer)
	if err != nil {
		return sdp.Negotiated{}, err // sip says "call <id>: answer offer: ..."
	}
	neg, err := sdp.ParseAnswerTo(offer, answer)
	if err != nil {
		return sdp.Negotiated{}, &sip.RejectError{Code: 488, Reason: errNoAnswer.Error(),
			Err: fmt.Errorf("call %s: late offer: %w: %w", id, errNoAnswer, err)}
	}
	return neg, nil
}
