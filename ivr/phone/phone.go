// Package phone is Hotline's test softphone: a SIP UAC (package sip/siptest) with an RTP session
// (package media) that dials, presses keys by RFC 4733, records what it hears and
// recognises which prompts played, frame by frame. `hotline call` and the end-to-end tests
// both use it, so what the tests prove is what a user can run by hand.
//
// It must not import cmd or viper.
package phone

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// Options configures a call.
type Options struct {
	FromUser    string
	FromDisplay string
	Transport   string          // "udp" (default) or "tcp"
	Codec       media.CodecName // offered first; default PCMU
	// NoDTMF leaves telephone-event out of the offer.
	NoDTMF bool
	// RTPAddress is the local address for RTP; default 127.0.0.1.
	RTPAddress netip.Addr
	// Prompts, when given, are recognised in the received audio (see Heard).
	Prompts map[string]*media.Prompt
	// DigitDuration is how long each key press lasts; default 100 ms.
	DigitDuration time.Duration
	// KeyGap is the pause between two keys of one Press; default 60 ms.
	KeyGap time.Duration
	// AssertedIdentity, when set, is sent as P-Asserted-Identity, as a carrier would.
	AssertedIdentity string
	// DTMFMode is how Press sends keys: rfc4733 (default), inband (tones in the audio),
	// info (SIP INFO, application/dtmf-relay), or leak (RFC 4733 events on their own SSRC
	// while the tone also plays in the audio, as many gateways do).
	DTMFMode string
}

// Phone is one call in progress. Its call methods (ID, Codec, NextPrompt, WaitPrompt,
// Heard, PCM, Done, Play, Press, Run) are shared with AgentCall.
type Phone struct {
	line
	client *siptest.Client
	opts   Options
}

// Dial calls uri and returns once the call is answered.
func Dial(ctx context.Context, uri string, o Options) (*Phone, error) {
	if o.Codec == "" {
		o.Codec = media.PCMU
	}
	if !o.RTPAddress.IsValid() {
		o.RTPAddress = netip.MustParseAddr("127.0.0.1")
	}
	if o.DigitDuration == 0 {
		o.DigitDuration = 100 * time.Millisecond
	}
	if o.KeyGap == 0 {
		o.KeyGap = defaultKeyGap
	}
	if o.FromUser == "" {
		o.FromUser = "phone"
	}
	p := &Phone{opts: o}
	p.dtmfMode, p.digitDur, p.keyGap = o.DTMFMode, o.DigitDuration, o.KeyGap

	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.RTPAddress, 0)))
	if err != nil {
		return nil, fmt.Errorf("phone: rtp socket: %w", err)
	}
	p.conn = conn
	local := netip.AddrPortFrom(o.RTPAddress, uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	codecs := []media.CodecName{o.Codec}
	if o.Codec == media.PCMU {
		codecs = append(codecs, media.PCMA)
	} else {
		codecs = append(codecs, media.PCMU)
	}
	offer := sdp.Offer(sdp.OfferOptions{Addr: local, Codecs: codecs, DTMF: !o.NoDTMF, SessionID: uint64(time.Now().UnixNano())})

	client, err := siptest.NewClient(siptest.ClientConfig{UserAgent: "Hotline-phone", Host: o.RTPAddress.String()})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("phone: %w", err)
	}
	p.client = client
	call, err := client.Dial(ctx, uri, offer, sip.DialOptions{FromUser: o.FromUser, FromDisplay: o.FromDisplay, Transport: o.Transport, AssertedIdentity: o.AssertedIdentity})
	if err != nil {
		client.Close()
		conn.Close()
		return nil, fmt.Errorf("phone: dial %s: %w", uri, err)
	}
	p.call = call
	neg, err := sdp.ParseAnswer(call.RemoteSDP())
	if err != nil {
		call.Hangup(context.WithoutCancel(ctx))
		client.Close()
		conn.Close()
		return nil, fmt.Errorf("phone: answer sdp: %w", err)
	}
	p.codec, p.dtmfPT = neg.Codec, neg.DTMFPT
	p.rec = NewRecogniser(o.Prompts, neg.Codec.Name)
	p.sess = media.NewSession(conn, media.SessionConfig{
		Codec:   neg.Codec,
		DTMFPT:  neg.DTMFPT,
		Remote:  neg.Remote,
		OnAudio: p.rec.Feed,
	})
	p.sess.Start(context.WithoutCancel(ctx))
	return p, nil
}

// Hangup sends BYE (unless the far end already hung up) and releases everything.
func (p *Phone) Hangup(ctx context.Context) error {
	var err error
	select {
	case <-p.call.Done():
	default:
		err = p.call.Hangup(ctx)
	}
	p.Close()
	return err
}

// Close stops media and the SIP client without signalling.
func (p *Phone) Close() {
	p.closeMedia()
	p.client.Close()
}
