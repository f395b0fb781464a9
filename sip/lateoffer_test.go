package sip_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotline-ivr/hotline/sip"
)

const noAnswerReason = `SIP;cause=488;text="no usable answer"`

// ackWith sends the ACK for a 2xx with body as its SDP (the answer to the 2xx's offer).
func (u *rawUA) ackWith(callID, fromTag string, res *sipmsg.Response, body string) {
	u.t.Helper()
	toTag, _ := res.To().Params.Get("tag")
	m := rawMsg{method: "ACK", ruri: res.Contact().Address.String(), callID: callID,
		fromTag: fromTag, toTag: toTag, cseq: int(res.CSeq().SeqNo), body: body}
	if body != "" {
		m.extra = []string{"Content-Type: application/sdp"}
	}
	u.send(m)
}

// request returns the next request with the given method, skipping responses (such as
// 200 retransmissions), and answers it with 200.
func (u *rawUA) request(method string) *sipmsg.Request {
	u.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		req, ok := u.read(time.Until(deadline)).(*sipmsg.Request)
		if !ok || req.Method.String() != method {
			continue
		}
		res := sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
		if _, err := u.conn.Write([]byte(res.String())); err != nil {
			u.t.Fatal(err)
		}
		return req
	}
	u.t.Fatalf("no %s within %v", method, wait)
	return nil
}

// An INVITE without SDP (late offer): the handler answers with an offer, the 200 carries
// it, and AnswerOffer returns the answer the ACK carries. Without an answer in the ACK, the
// handler ends the call with a RejectError and the BYE says why (RFC 3326).
func TestServer_LateOffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ackBody    string
		wantAnswer string
	}{
		{"answer in the ACK", offerSDP, offerSDP},
		{"ACK without a body", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				answer []byte
				err    error
			}
			got := make(chan result, 1)
			srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
				if len(l.RemoteSDP()) != 0 {
					return errors.New("want no offer")
				}
				answer, err := l.AnswerOffer(ctx, []byte(answerSDP))
				got <- result{answer, err}
				if err != nil {
					return err
				}
				if len(answer) == 0 {
					return &sip.RejectError{Code: 488, Reason: "no usable answer"}
				}
				<-l.Done()
				return nil
			}))
			u := newRawUA(t, srv.udp)
			callID, fromTag := fmt.Sprintf("late-%x", rand.Uint64()), "latetag"
			u.send(rawMsg{method: "INVITE", callID: callID, fromTag: fromTag})
			res := u.final(1)
			if res.StatusCode != 200 || string(res.Body()) != answerSDP || header(res, "Content-Type") != "application/sdp" {
				t.Fatalf("INVITE without SDP: got %d %q body %q, want 200 with our offer", res.StatusCode, header(res, "Content-Type"), res.Body())
			}
			u.ackWith(callID, fromTag, res, tc.ackBody)
			r := recv(t, got, "AnswerOffer")
			if r.err != nil || string(r.answer) != tc.wantAnswer {
				t.Fatalf("AnswerOffer = %q, %v; want %q", r.answer, r.err, tc.wantAnswer)
			}
			if tc.ackBody == "" {
				bye := u.request("BYE")
				if reason := bye.GetHeader("Reason"); reason == nil || reason.Value() != noAnswerReason {
					t.Errorf("BYE Reason = %v, want %q", reason, noAnswerReason)
				}
				return
			}
			toTag, _ := res.To().Params.Get("tag")
			u.send(rawMsg{method: "BYE", ruri: res.Contact().Address.String(), callID: callID, fromTag: fromTag, toTag: toTag, cseq: 2})
			if bye := u.final(2); bye.StatusCode != 200 {
				t.Fatalf("BYE: got %d", bye.StatusCode)
			}
		})
	}
}

// AnswerOffer refuses an INVITE that has an offer: that one needs an answer.
func TestLeg_AnswerOfferRefusesAnOffer(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		_, err := l.AnswerOffer(ctx, []byte(answerSDP))
		got <- err
		return &sip.RejectError{Code: 488}
	}))
	u := newRawUA(t, srv.udp)
	u.send(rawMsg{method: "INVITE", callID: fmt.Sprintf("lo-%x", rand.Uint64()),
		extra: []string{"Content-Type: application/sdp"}, body: offerSDP})
	res := u.final(1)
	if res.StatusCode != 488 {
		t.Errorf("got %d, want 488 (nothing answered)", res.StatusCode)
	}
	// ACK the 488 on the INVITE's branch (RFC 3261 §17.1.1.3), or the server waits for it.
	ack := fmt.Sprintf("ACK %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
		"sip:ivr@"+srv.udp, res.Via().Value(), res.From().Value(), res.To().Value(), res.CallID().Value())
	if _, err := u.conn.Write([]byte(ack)); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, got, "AnswerOffer"); err == nil {
		t.Error("AnswerOffer answered an INVITE that had an offer")
	}
}

// A re-INVITE without SDP is answered with the OnReoffer hook's offer and its answer comes
// from the ACK; a re-INVITE with SDP still goes to OnReinvite. An ACK without the answer
// ends the call with BYE and a Reason.
func TestServer_ReinviteWithoutOffer(t *testing.T) {
	t.Parallel()
	const reoffer = "v=0\r\no=- 5 6 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0 8 101\r\n"
	applied := make(chan string, 4)
	out := make(chan error, 1)
	answered := make(chan error, 1)
	srv := startServer(t, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		l.OnReinvite(func(offer []byte) ([]byte, int) { return []byte(answerSDP), 200 })
		l.OnReoffer(func() ([]byte, func([]byte) error) {
			return []byte(reoffer), func(answer []byte) error {
				applied <- string(answer)
				if len(answer) == 0 {
					return errors.New("no answer")
				}
				return nil
			}
		})
		err := l.Answer(ctx, []byte(answerSDP))
		answered <- err
		if err != nil {
			return err
		}
		<-l.Done()
		out <- context.Cause(ctx)
		return nil
	}))
	u := newRawUA(t, srv.udp)
	callID, fromTag := fmt.Sprintf("reo-%x", rand.Uint64()), "reotag"
	sdpHdr := []string{"Content-Type: application/sdp"}
	u.send(rawMsg{method: "INVITE", callID: callID, fromTag: fromTag, extra: sdpHdr, body: offerSDP})
	res := u.final(1)
	u.ack(callID, fromTag, res)
	if err := recv(t, answered, "Answer"); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	toTag, _ := res.To().Params.Get("tag")
	target := res.Contact().Address.String()

	// Without SDP: our offer in the 200, the answer in the ACK.
	u.send(rawMsg{method: "INVITE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag, cseq: 2})
	re := u.final(2)
	if re.StatusCode != 200 || string(re.Body()) != reoffer {
		t.Fatalf("re-INVITE without SDP: got %d body %q, want the hook's offer", re.StatusCode, re.Body())
	}
	u.ackWith(callID, fromTag, re, offerSDP)
	if got := recv(t, applied, "apply"); got != offerSDP {
		t.Errorf("apply got %q, want the ACK's answer", got)
	}
	// With SDP: OnReinvite as before.
	u.send(rawMsg{method: "INVITE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag, cseq: 3, extra: sdpHdr, body: offerSDP})
	if re := u.final(3); re.StatusCode != 200 || string(re.Body()) != answerSDP {
		t.Fatalf("re-INVITE with SDP: got %d body %q", re.StatusCode, re.Body())
	} else {
		u.ack(callID, fromTag, re)
	}
	// Without SDP, and the ACK brings no answer: BYE with a Reason.
	u.send(rawMsg{method: "INVITE", ruri: target, callID: callID, fromTag: fromTag, toTag: toTag, cseq: 4})
	re = u.final(4)
	if re.StatusCode != 200 {
		t.Fatalf("second re-INVITE without SDP: got %d", re.StatusCode)
	}
	u.ackWith(callID, fromTag, re, "")
	if got := recv(t, applied, "apply"); got != "" {
		t.Errorf("apply got %q, want nothing", got)
	}
	bye := u.request("BYE")
	if reason := bye.GetHeader("Reason"); reason == nil || reason.Value() != noAnswerReason {
		t.Errorf("BYE Reason = %v, want %q", reason, noAnswerReason)
	}
	var re2 *sip.RejectError
	if cause := recv(t, out, "handler"); !errors.As(cause, &re2) || re2.Code != 488 || !strings.Contains(cause.Error(), "no usable answer") {
		t.Errorf("cause = %v, want the 488 no usable answer", cause)
	}
}
