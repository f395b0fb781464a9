package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hotline-ivr/hotline/cmd/hotline/defaults"
	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/media"
)

// The end-to-end tests wait through every prompt the server plays to its end before the
// next step: the hang-up after "callback_confirmed" (4.5 s embedded), a reference read back
// digit by digit in each freeze. So they play shortened copies of the prompts, written
// once by TestMain: the same audio from the same start, as µ-law WAV, so that what the
// server plays is byte for byte what the test phones recognise (phone.Recogniser wants 3
// frames of a prompt).
const (
	// sysPromptFrames: a system prompt over sysPromptWhole frames (the phrases, the
	// music) is cut to its first 200 ms (each keeps at least 8 frames no other prompt
	// has); the shorter ones (digits, numbers) stay whole, as their first frames alone do
	// not tell some apart ("sixteen", "sixty").
	sysPromptFrames = 10
	sysPromptWhole  = 40
	// lanePromptFrames: the freeze lane's prompts and digits (testdata/prompts, silence
	// trimmed) are cut to their first 80 ms.
	lanePromptFrames = 4
	// menuPromptFrames: the e2e menu's prompts (testdata/prompts) cut to their first
	// 120 ms, for a walk that hears each to its end.
	menuPromptFrames = 6
)

// menuPrompts are the prompts of the e2e menu (testdata/menus/e2e.yaml).
var menuPrompts = []string{"main", "sub", "info", "invalid", "timeout", "goodbye"}

// shortPrompts is the directory of the shortened prompts, written by TestMain: system/
// (system_prompts in the queue tests' configs), lane/ (the freeze lane's) and menu/ (the
// e2e menu's).
var shortPrompts string

// writeShortPrompts writes the shortened system prompts (the embedded music, digits,
// numbers and queue phrases) to dir/system, the freeze lane's prompts to dir/lane and the
// e2e menu's to dir/menu.
func writeShortPrompts(dir string) error {
	sys, err := fs.Sub(defaults.FS, "prompts")
	if err != nil {
		return err
	}
	err = fs.WalkDir(sys, ".", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() || !strings.HasSuffix(name, ".wav"):
			return nil
		case !strings.Contains(name, "/") && name != "moh.wav":
			return nil // the default menu's prompts, not system prompts
		}
		return cutPrompt(sys, name, filepath.Join(dir, "system"), func(n int) int {
			if n > sysPromptWhole {
				return sysPromptFrames
			}
			return n
		})
	})
	if err != nil {
		return err
	}
	testdata := os.DirFS("../../testdata/prompts")
	for _, name := range append(ivr.LanePrompts(), "freeze_offer_agent") {
		if err := cutPrompt(testdata, name+".wav", filepath.Join(dir, "lane"), cutUnlessLast(name, lanePromptFrames)); err != nil {
			return err
		}
	}
	for _, name := range menuPrompts {
		if err := cutPrompt(testdata, name+".wav", filepath.Join(dir, "menu"), cutUnlessLast(name, menuPromptFrames)); err != nil {
			return err
		}
	}
	return nil
}

// cutUnlessLast keeps frames of a prompt, or all of it when it is the last a call plays
// before Hotline hangs up (a goodbye): its BYE follows its last frame at once, and on a
// loaded machine the phone could read the BYE before the few frames it needs to recognise
// a cut prompt.
func cutUnlessLast(name string, frames int) func(n int) int {
	return func(n int) int {
		if strings.HasSuffix(name, "goodbye") {
			return n
		}
		return min(n, frames)
	}
}

// cutPrompt writes src's WAV file name to dst at the same path, keeping keep(n) of its n
// frames.
func cutPrompt(src fs.FS, name, dst string, keep func(n int) int) error {
	data, err := fs.ReadFile(src, name)
	if err != nil {
		return err
	}
	p, err := media.DecodeWAV(name, data)
	if err != nil {
		return err
	}
	frames := p.Frames(media.PCMU)
	frames = frames[:keep(len(frames))]
	out := filepath.Join(dst, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, ulawWAV(bytes.Join(frames, nil)), 0o644)
}

// ulawWAV is a RIFF WAVE file of 8 kHz mono µ-law (format 7) samples.
func ulawWAV(samples []byte) []byte {
	b := make([]byte, 0, 44+len(samples))
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(36+len(samples)))
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 7) // µ-law
	b = binary.LittleEndian.AppendUint16(b, 1) // mono
	b = binary.LittleEndian.AppendUint32(b, media.ClockRate)
	b = binary.LittleEndian.AppendUint32(b, media.ClockRate) // bytes per second
	b = binary.LittleEndian.AppendUint16(b, 1)               // block align
	b = binary.LittleEndian.AppendUint16(b, 8)               // bits per sample
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(samples)))
	return append(b, samples...)
}

// shortPromptDir is the directory of a set of shortened prompts: "system", "lane" or
// "menu".
func shortPromptDir(set string) string { return filepath.Join(shortPrompts, set) }

// loadShortPrompt decodes one of the shortened prompts of a set, by name ("moh",
// "queue/en/callback_offer").
func loadShortPrompt(set, name string) (*media.Prompt, error) {
	if shortPrompts == "" {
		return nil, fmt.Errorf("prompt %s: the short prompts are not written (TestMain)", name)
	}
	return media.LoadWAV(name, filepath.Join(shortPromptDir(set), filepath.FromSlash(path.Clean(name)+".wav")))
}
