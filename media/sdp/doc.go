// Package sdp negotiates plain-RTP G.711 audio in SDP offer/answer
// (RFC 3264, SDP syntax RFC 4566) for Hotline's SIP legs: Answer for calls
// we receive, Offer and ParseAnswer for calls we place (the test phone),
// Offer and ParseAnswerTo for a call received without an offer (late offer:
// our offer in the 200, the answer in the ACK) and for our offer in a
// re-INVITE's 200. An Origin keeps one o= line per call: same session id,
// the version up by one for every changed SDP (RFC 3264 §8). Negotiated's
// Direction tells whether the far end holds us (sendonly or inactive).
//
// It parses with github.com/pion/sdp/v3 but negotiates each m= line on its
// own: pion's GetCodecMap merges rtpmap and fmtp across all m= lines, which
// mixes payload type numbers of different streams. Payload type numbers are
// the offerer's: a dynamic telephone-event (RFC 4733 §7) at 96, 101 or 126 is
// answered at that number.
//
// Package sdp belongs to media (STYLE.md rule P2): it imports
// github.com/hotline-ivr/hotline/media and pion/sdp, never sipgo nor the
// project's sip or ivr packages. SDP travels through sip as opaque bytes.
package sdp
