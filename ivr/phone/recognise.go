package phone

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zaf/g711"

	"github.com/hotline-ivr/hotline/media"
)

// Heard is one prompt recognised in the received audio, from its first frames.
type Heard struct {
	Prompt string    `json:"prompt"`
	At     time.Time `json:"at"`
	// Offset is the prompt's frame index where hearing began (0 = from the start).
	Offset int `json:"offset"`
}

// ErrRemoteHangup reports that the far end hung up.
var ErrRemoteHangup = errors.New("phone: remote hung up")

// recogniseRun is how many consecutive frames of one prompt make it "heard" (60 ms).
const recogniseRun = 3

// heardBuffer is how many recognised prompts NextPrompt can fall behind by; beyond it
// they are still in Heard but not delivered.
const heardBuffer = 1024

// Recogniser names the prompts in a stream of received G.711 payloads, frame by frame,
// and keeps the decoded audio. The phone, the agent and tests that hold the far end's
// media.Session all use it: pass Feed as media.SessionConfig.OnAudio. A prompt is heard
// once per playback, when recogniseRun of its frames arrive in order, however long its
// silent stretches. Its methods are safe for concurrent use.
type Recogniser struct {
	codec  media.CodecName
	index  map[[media.FrameSize]byte]frameRef
	heardC chan Heard

	mu    sync.Mutex
	heard []Heard
	pcm   []int16
	cur   struct {
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

// NewRecogniser returns a Recogniser of prompts as sent in codec (PCMU or PCMA; empty
// means PCMU). With no prompts it only keeps the audio.
func NewRecogniser(prompts map[string]*media.Prompt, codec media.CodecName) *Recogniser {
	if codec == "" {
		codec = media.PCMU
	}
	return &Recogniser{codec: codec, index: buildIndex(prompts, codec), heardC: make(chan Heard, heardBuffer)}
}

// buildIndex maps each frame that belongs to exactly one place in one prompt to that place.
// Frames seen twice (silence, repeated sounds) are left out: they identify nothing.
func buildIndex(prompts map[string]*media.Prompt, codec media.CodecName) map[[media.FrameSize]byte]frameRef {
	idx := make(map[[media.FrameSize]byte]frameRef)
	dup := make(map[[media.FrameSize]byte]bool)
	for name, p := range prompts {
		if p == nil {
			continue
		}
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

// Knows reports whether any prompt can be recognised.
func (r *Recogniser) Knows() bool { return len(r.index) > 0 }

// Feed takes one received audio payload. It has media.SessionConfig.OnAudio's signature
// and contract: it keeps no reference to payload and returns quickly.
func (r *Recogniser) Feed(payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range payload {
		if r.codec == media.PCMA {
			r.pcm = append(r.pcm, g711.DecodeAlawFrame(b))
		} else {
			r.pcm = append(r.pcm, g711.DecodeUlawFrame(b))
		}
	}
	if len(payload) != media.FrameSize || len(r.index) == 0 {
		return
	}
	var k [media.FrameSize]byte
	copy(k[:], payload)
	ref, ok := r.index[k]
	if !ok {
		return
	}
	c := &r.cur
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
		r.heard = append(r.heard, h)
		select {
		case r.heardC <- h:
		default:
		}
	}
}

// Next waits for the next prompt to be heard. Prompts already heard are delivered first;
// then, once ended is closed (the call is over), Next returns ErrRemoteHangup.
func (r *Recogniser) Next(ctx context.Context, ended <-chan struct{}) (Heard, error) {
	select {
	case h := <-r.heardC:
		return h, nil
	default:
	}
	select {
	case h := <-r.heardC:
		return h, nil
	case <-ended:
		select {
		case h := <-r.heardC: // heard just before the end
			return h, nil
		default:
		}
		return Heard{}, ErrRemoteHangup
	case <-ctx.Done():
		return Heard{}, fmt.Errorf("phone: waiting for a prompt: %w", context.Cause(ctx))
	}
}

// Wait waits until prompt name is heard, skipping others; it returns the skipped ones in
// order. Its errors are Next's.
func (r *Recogniser) Wait(ctx context.Context, ended <-chan struct{}, name string) ([]Heard, error) {
	var skipped []Heard
	for {
		h, err := r.Next(ctx, ended)
		if err != nil {
			return skipped, fmt.Errorf("waiting for %q: %w", name, err)
		}
		if h.Prompt == name {
			return skipped, nil
		}
		skipped = append(skipped, h)
	}
}

// Heard returns every prompt recognised so far, in order.
func (r *Recogniser) Heard() []Heard {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Heard(nil), r.heard...)
}

// PCM returns everything received so far as 8 kHz 16-bit samples.
func (r *Recogniser) PCM() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.pcm...)
}
