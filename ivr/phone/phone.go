// Package phone is Hotline's test softphone: a SIP UAC (package sip) with an RTP session
// (package media) that dials, presses keys by RFC 4733, records what it hears and
// recognises which prompts played, frame by frame. `hotline call` and the end-to-end tests
// both use it, so what the tests prove is what a user can run by hand.
//
// It must not import cmd or viper.
package phone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/sip"
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
	// DTMFMode is how Press sends keys: rfc4733 (default), inband (tones in the audio),
	// info (SIP INFO, application/dtmf-relay), or leak (RFC 4733 events on their own SSRC
	// while the tone also plays in the audio, as many gateways do).
	DTMFMode string
}

// Heard is one prompt recognised in the received audio, from its first frames.
type Heard struct {
	Prompt string    `json:"prompt"`
	At     time.Time `json:"at"`
	// Offset is the prompt's frame index where hearing began (0 = from the start).
	Offset int `json:"offset"`
}

// Phone is one call in progress.
type Phone struct {
	client *sip.Client
	call   *sip.Call
	conn   *net.UDPConn
	sess   *media.Session
	codec  media.Codec
	dtmfPT uint8
	opts   Options
	index  map[[media.FrameSize]byte]frameRef

	heardC chan Heard

	mu       sync.Mutex
	heard    []Heard
	injected int // RFC 4733 events injected (leak mode)
	pcm      []int16
	cur      struct {
		prompt   string
		last     int
		run      int
		reported bool
	}
}

type frameRef struct {
	prompt string
	idx    int
}

// recogniseRun is how many consecutive frames of one prompt make it "heard" (60 ms).
const recogniseRun = 3

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
	if o.FromUser == "" {
		o.FromUser = "phone"
	}
	p := &Phone{opts: o, heardC: make(chan Heard, 1024)}
	p.index = buildIndex(o.Prompts, o.Codec)

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

	client, err := sip.NewClient(sip.ClientConfig{UserAgent: "Hotline-phone", Host: o.RTPAddress.String()})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("phone: %w", err)
	}
	p.client = client
	call, err := client.Dial(ctx, uri, offer, sip.DialOptions{FromUser: o.FromUser, FromDisplay: o.FromDisplay, Transport: o.Transport})
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
	if neg.Codec.Name != o.Codec {
		p.index = buildIndex(o.Prompts, neg.Codec.Name)
	}
	p.sess = media.NewSession(conn, media.SessionConfig{
		Codec:   neg.Codec,
		DTMFPT:  neg.DTMFPT,
		Remote:  neg.Remote,
		OnAudio: p.onAudio,
	})
	p.sess.Start(context.WithoutCancel(ctx))
	return p, nil
}

// buildIndex maps each frame that belongs to exactly one place in one prompt to that place.
// Frames seen twice (silence, repeated sounds) are left out: they identify nothing.
func buildIndex(prompts map[string]*media.Prompt, codec media.CodecName) map[[media.FrameSize]byte]frameRef {
	idx := make(map[[media.FrameSize]byte]frameRef)
	dup := make(map[[media.FrameSize]byte]bool)
	for name, p := range prompts {
		for i, f := range p.Frames(codec) {
			var k [media.FrameSize]byte
			copy(k[:], f)
			if _, seen := idx[k]; seen || dup[k] {
				delete(idx, k)
				dup[k] = true
				continue
			}
			idx[k] = frameRef{prompt: name, idx: i}
		}
	}
	return idx
}

// onAudio runs on the media reader goroutine for every received audio payload.
func (p *Phone) onAudio(payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range payload {
		if p.codec.Name == media.PCMA {
			p.pcm = append(p.pcm, g711.DecodeAlawFrame(b))
		} else {
			p.pcm = append(p.pcm, g711.DecodeUlawFrame(b))
		}
	}
	if len(payload) != media.FrameSize || len(p.index) == 0 {
		return
	}
	var k [media.FrameSize]byte
	copy(k[:], payload)
	ref, ok := p.index[k]
	if !ok {
		return
	}
	c := &p.cur
	switch {
	case ref.prompt == c.prompt && ref.idx > c.last:
		c.run++ // the same playback going on (silent or repeated frames are not indexed)
	default: // another prompt, or the same one starting again
		c.prompt, c.run, c.reported = ref.prompt, 1, false
	}
	c.last = ref.idx
	if !c.reported && c.run >= recogniseRun {
		c.reported = true
		h := Heard{Prompt: ref.prompt, At: time.Now(), Offset: ref.idx - (recogniseRun - 1)}
		p.heard = append(p.heard, h)
		select {
		case p.heardC <- h:
		default:
		}
	}
}

// ID returns the call's Call-ID.
func (p *Phone) ID() string { return p.call.ID() }

// Codec returns the negotiated audio codec.
func (p *Phone) Codec() media.Codec { return p.codec }

// NextPrompt waits for the next prompt to be heard.
func (p *Phone) NextPrompt(ctx context.Context) (Heard, error) {
	select {
	case h := <-p.heardC:
		return h, nil
	case <-p.call.Done():
		return Heard{}, ErrRemoteHangup
	case <-ctx.Done():
		return Heard{}, fmt.Errorf("phone: waiting for a prompt: %w", context.Cause(ctx))
	}
}

// ErrRemoteHangup reports that the far end hung up.
var ErrRemoteHangup = errors.New("phone: remote hung up")

// WaitPrompt waits until prompt name is heard, skipping others; it returns them in order.
func (p *Phone) WaitPrompt(ctx context.Context, name string) ([]Heard, error) {
	var skipped []Heard
	for {
		h, err := p.NextPrompt(ctx)
		if err != nil {
			return skipped, fmt.Errorf("waiting for %q: %w", name, err)
		}
		if h.Prompt == name {
			return skipped, nil
		}
		skipped = append(skipped, h)
	}
}

// Press sends keys (0-9 * # A-D) the phone's DTMF way, one after another with a 60 ms gap.
func (p *Phone) Press(ctx context.Context, keys string) error {
	for i := 0; i < len(keys); i++ {
		switch p.opts.DTMFMode {
		case "", "rfc4733":
			p.sess.SendDigit(keys[i], p.opts.DigitDuration)
		case "inband":
			p.sess.SendTone(keys[i], p.opts.DigitDuration)
		case "leak":
			p.sess.SendTone(keys[i], p.opts.DigitDuration)
			go p.injectEvent(keys[i], p.opts.DigitDuration)
		case "info":
			body := fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", keys[i], p.opts.DigitDuration.Milliseconds())
			if err := p.call.SendInfo(ctx, "application/dtmf-relay", []byte(body)); err != nil {
				return fmt.Errorf("phone: INFO %c: %w", keys[i], err)
			}
		default:
			return fmt.Errorf("phone: unknown DTMF mode %q (rfc4733, inband, info, leak)", p.opts.DTMFMode)
		}
		t := time.NewTimer(p.opts.DigitDuration + 60*time.Millisecond + 3*media.FrameDuration)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
	return nil
}

// Heard returns every prompt recognised so far, in order.
func (p *Phone) Heard() []Heard {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Heard(nil), p.heard...)
}

// PCM returns everything heard so far as 8 kHz 16-bit samples.
func (p *Phone) PCM() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.pcm...)
}

// Done is closed when the far end hangs up.
func (p *Phone) Done() <-chan struct{} { return p.call.Done() }

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
	p.sess.Close()
	p.conn.Close()
	p.client.Close()
}

// injectEvent sends one RFC 4733 event (RFC 4733 §2.5) as a second RTP stream with its own
// SSRC from the phone's RTP socket, beside the voice stream that carries the tone: what a
// gateway that both relays the event and leaves the tone in the audio puts on the wire.
func (p *Phone) injectEvent(key byte, d time.Duration) {
	code, ok := media.EventCode(key)
	if !ok || p.dtmfPT == 0 {
		return
	}
	remote := p.sess.Remote()
	// Each press is a new event: a new timestamp (RFC 4733 §2.5.1.2), continuing the sequence.
	p.mu.Lock()
	p.injected++
	n := p.injected
	p.mu.Unlock()
	hdr := rtp.Header{Version: 2, PayloadType: p.dtmfPT, SSRC: 0x4c45414b, Timestamp: uint32(n) * 16000, SequenceNumber: uint16(n) * 64}
	first := hdr.SequenceNumber
	buf := make([]byte, 0, 32)
	packets := int(d / media.FrameDuration)
	send := func(end bool, dur uint16) {
		hdr.Marker = hdr.SequenceNumber == first
		b, err := hdr.Marshal()
		if err != nil {
			return
		}
		buf = media.AppendEvent(append(buf[:0], b...), code, end, 10, dur)
		p.conn.WriteToUDPAddrPort(buf, remote)
		hdr.SequenceNumber++
	}
	tick := time.NewTicker(media.FrameDuration)
	defer tick.Stop()
	for i := 1; i <= packets; i++ {
		send(false, uint16(i*media.FrameSize))
		<-tick.C
	}
	for range 3 {
		send(true, uint16(packets*media.FrameSize))
	}
}
