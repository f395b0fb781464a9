package phone

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/sip"
)

func TestRecogniser(t *testing.T) {
	t.Parallel()
	a := noise("a", 10, 200*time.Millisecond) // 10 frames
	b := noise("b", 11, 200*time.Millisecond)
	prompts := map[string]*media.Prompt{"a": a, "b": b}
	silence := make([]byte, media.FrameSize)
	for i := range silence {
		silence[i] = media.SilencePCMU
	}
	unknown := noise("x", 12, 100*time.Millisecond).Frames(media.PCMU)
	type span struct {
		p        *media.Prompt
		from, to int // frames [from, to); p nil: silence×to
	}
	tests := []struct {
		name  string
		spans []span
		want  []Heard // Prompt and Offset
	}{
		{"one prompt", []span{{a, 0, 10}}, []Heard{{Prompt: "a"}}},
		{"two in a row", []span{{a, 0, 10}, {b, 0, 10}}, []Heard{{Prompt: "a"}, {Prompt: "b"}}},
		{"same prompt twice", []span{{a, 0, 10}, {a, 0, 10}}, []Heard{{Prompt: "a"}, {Prompt: "a"}}},
		{"silence inside one playback", []span{{a, 0, 4}, {nil, 0, 20}, {a, 4, 10}}, []Heard{{Prompt: "a"}}},
		{"joined mid-prompt", []span{{b, 5, 10}}, []Heard{{Prompt: "b", Offset: 5}}},
		{"too short to tell", []span{{a, 0, 2}, {b, 0, 2}}, nil},
		{"barge-in", []span{{a, 0, 3}, {b, 0, 10}}, []Heard{{Prompt: "a"}, {Prompt: "b"}}},
		{"unknown audio", []span{{nil, 0, 5}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewRecogniser(prompts, media.PCMU)
			frames := 0
			for _, s := range tc.spans {
				if s.p == nil {
					for i := range s.to {
						if tc.name == "unknown audio" {
							r.Feed(unknown[i])
						} else {
							r.Feed(silence)
						}
						frames++
					}
					continue
				}
				for _, f := range s.p.Frames(media.PCMU)[s.from:s.to] {
					r.Feed(f)
					frames++
				}
			}
			got := r.Heard()
			if len(got) != len(tc.want) {
				t.Fatalf("heard %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Prompt != tc.want[i].Prompt || got[i].Offset != tc.want[i].Offset {
					t.Errorf("heard[%d] = %s@%d, want %s@%d", i, got[i].Prompt, got[i].Offset, tc.want[i].Prompt, tc.want[i].Offset)
				}
			}
			if n := len(r.PCM()); n != frames*media.FrameSize {
				t.Errorf("PCM has %d samples, want %d", n, frames*media.FrameSize)
			}
			// Next delivers what Heard lists, then reports the end.
			ended := make(chan struct{})
			close(ended)
			for i := range got {
				if h, err := r.Next(context.Background(), ended); err != nil || h.Prompt != got[i].Prompt {
					t.Fatalf("Next #%d = %v, %v", i, h, err)
				}
			}
			if _, err := r.Next(context.Background(), ended); !errors.Is(err, ErrRemoteHangup) {
				t.Errorf("Next after the end = %v, want ErrRemoteHangup", err)
			}
		})
	}
}

func TestRecogniser_PCMA(t *testing.T) {
	t.Parallel()
	a := noise("a", 20, 100*time.Millisecond)
	r := NewRecogniser(map[string]*media.Prompt{"a": a}, media.PCMA)
	for _, f := range a.Frames(media.PCMA) {
		r.Feed(f)
	}
	if _, err := r.Wait(testCtx(t), nil, "a"); err != nil {
		t.Fatalf("PCMA prompt not heard: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Next(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled ctx = %v", err)
	}
}

// TestPhone_PlayAndHear has the phone call an answering sip.Server: the server plays a
// prompt the phone recognises, the phone plays one the server's Recogniser recognises and
// presses a key the server receives.
func TestPhone_PlayAndHear(t *testing.T) {
	t.Parallel()
	type result struct {
		heard bool
		key   byte
		err   error
	}
	out := make(chan result, 1)
	heard := make(chan struct{})
	srv, err := sip.NewServer(sip.Config{UserAgent: "IVR-Test"}, sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			out <- result{err: err}
			return err
		}
		defer conn.Close()
		local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(conn.LocalAddr().(*net.UDPAddr).Port))
		answer, neg, err := sdp.Answer(l.RemoteSDP(), sdp.AnswerOptions{Addr: local})
		if err != nil {
			out <- result{err: err}
			return err
		}
		rec := NewRecogniser(map[string]*media.Prompt{promptHello.Name(): promptHello}, neg.Codec.Name)
		sess := media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote, OnAudio: rec.Feed})
		sess.Start(ctx)
		defer sess.Close()
		if err := l.Answer(ctx, answer); err != nil {
			out <- result{err: err}
			return err
		}
		sess.Play(promptIntro)
		var res result
		if _, res.err = rec.Wait(ctx, l.Done(), promptHello.Name()); res.err == nil {
			res.heard = true
			close(heard)
			select {
			case d := <-sess.Digits():
				res.key = d.Key
			case <-l.Done():
				res.err = errors.New("hung up before the key")
			case <-ctx.Done():
				res.err = context.Cause(ctx)
			}
		}
		out <- res
		<-l.Done()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.ServeUDP(sctx, pc) })
	t.Cleanup(func() { stop(); wg.Wait() })

	ctx := testCtx(t)
	p, err := Dial(ctx, "sip:ivr@"+pc.LocalAddr().String(), Options{Prompts: map[string]*media.Prompt{promptIntro.Name(): promptIntro}})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer p.Hangup(ctx)
	if _, err := p.WaitPrompt(ctx, promptIntro.Name()); err != nil {
		t.Fatalf("phone: %v", err)
	}
	p.Play(promptHello)
	select { // speak before pressing: the key's events would pause the audio
	case <-heard:
	case res := <-out:
		t.Fatalf("server: %+v", res)
	case <-ctx.Done():
		t.Fatal("server did not hear the phone")
	}
	if err := p.Press(ctx, "7"); err != nil {
		t.Fatalf("Press: %v", err)
	}
	res := recv(t, out, "the server's result")
	if res.err != nil || !res.heard || res.key != '7' {
		t.Errorf("server: heard %v, key %q, err %v", res.heard, res.key, res.err)
	}
	if err := p.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}
