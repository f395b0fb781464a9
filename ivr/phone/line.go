package phone

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// line is the media half of one established call, shared by Phone (calls it placed) and
// AgentCall (calls an Agent answered): the RTP session on its own socket, the recogniser
// fed by it, and how keys are sent.
type line struct {
	call     *siptest.Call
	conn     *net.UDPConn
	sess     *media.Session
	codec    media.Codec
	dtmfPT   uint8
	rec      *Recogniser
	dtmfMode string
	digitDur time.Duration
	keyGap   time.Duration

	mu       sync.Mutex
	injected int // RFC 4733 events injected (leak mode)
}

// ID returns the call's Call-ID.
func (l *line) ID() string { return l.call.ID() }

// Codec returns the negotiated audio codec.
func (l *line) Codec() media.Codec { return l.codec }

// NextPrompt waits for the next prompt to be heard. Prompts heard before the far end hung
// up are still delivered; then it returns ErrRemoteHangup.
func (l *line) NextPrompt(ctx context.Context) (Heard, error) {
	return l.rec.Next(ctx, l.call.Done())
}

// WaitPrompt waits until prompt name is heard, skipping others; it returns them in order.
func (l *line) WaitPrompt(ctx context.Context, name string) ([]Heard, error) {
	return l.rec.Wait(ctx, l.call.Done(), name)
}

// Heard returns every prompt recognised so far, in order.
func (l *line) Heard() []Heard { return l.rec.Heard() }

// PCM returns everything heard so far as 8 kHz 16-bit samples.
func (l *line) PCM() []int16 { return l.rec.PCM() }

// Done is closed when the call ends: the far end hung up, or Hangup was called.
func (l *line) Done() <-chan struct{} { return l.call.Done() }

// Play speaks prompts into the call, back to back from the next 20 ms frame, replacing
// whatever was playing (silence otherwise). It never blocks: wait for the far end to hear
// them, or for their duration.
func (l *line) Play(prompts ...*media.Prompt) { l.sess.Play(prompts...) }

// defaultKeyGap is the pause between two keys of one Press, unless the phone says otherwise.
const defaultKeyGap = 60 * time.Millisecond

// Press sends keys (0-9 * # A-D) the phone's DTMF way, one after another with a pause
// between them (60 ms unless the phone's KeyGap says otherwise), and returns once the last
// one has been sent.
func (l *line) Press(ctx context.Context, keys string) error {
	for i := 0; i < len(keys); i++ {
		switch l.dtmfMode {
		case "", "rfc4733":
			l.sess.SendDigit(keys[i], l.digitDur)
		case "inband":
			l.sess.SendTone(keys[i], l.digitDur)
		case "leak":
			l.sess.SendTone(keys[i], l.digitDur)
			go l.injectEvent(keys[i], l.digitDur)
		case "info":
			body := fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", keys[i], l.digitDur.Milliseconds())
			if err := l.call.SendInfo(ctx, "application/dtmf-relay", []byte(body)); err != nil {
				return fmt.Errorf("phone: INFO %c: %w", keys[i], err)
			}
		default:
			return fmt.Errorf("phone: unknown DTMF mode %q (rfc4733, inband, info, leak)", l.dtmfMode)
		}
		// The press, then RFC 4733's repeated end packets (§2.5.1.4); the gap only between keys.
		wait := l.digitDur + 3*media.FrameDuration
		if i < len(keys)-1 {
			wait += cmp.Or(l.keyGap, defaultKeyGap)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	return nil
}

// Run performs a parsed key script.
func (l *line) Run(ctx context.Context, steps []Step) error {
	for _, s := range steps {
		if s.Pause > 0 {
			if err := sleep(ctx, s.Pause); err != nil {
				return err
			}
		}
		if s.Wait {
			if !l.rec.Knows() {
				if err := sleep(ctx, time.Second); err != nil {
					return err
				}
			} else if _, err := l.NextPrompt(ctx); err != nil {
				return err
			}
		}
		if s.Keys != "" {
			if err := l.Press(ctx, s.Keys); err != nil {
				return err
			}
		}
	}
	return nil
}

// closeMedia stops the RTP session and releases its socket.
func (l *line) closeMedia() {
	l.sess.Close()
	l.conn.Close()
}

// injectEvent sends one RFC 4733 event (RFC 4733 §2.5) as a second RTP stream with its own
// SSRC from the phone's RTP socket, beside the voice stream that carries the tone: what a
// gateway that both relays the event and leaves the tone in the audio puts on the wire.
func (l *line) injectEvent(key byte, d time.Duration) {
	code, ok := media.EventCode(key)
	if !ok || l.dtmfPT == 0 {
		return
	}
	remote := l.sess.Remote()
	// Each press is a new event: a new timestamp (RFC 4733 §2.5.1.2), continuing the sequence.
	l.mu.Lock()
	l.injected++
	n := l.injected
	l.mu.Unlock()
	hdr := rtp.Header{Version: 2, PayloadType: l.dtmfPT, SSRC: 0x4c45414b, Timestamp: uint32(n) * 16000, SequenceNumber: uint16(n) * 64}
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
		l.conn.WriteToUDPAddrPort(buf, remote)
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
