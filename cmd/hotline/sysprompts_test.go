package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotline-ivr/hotline/cmd/hotline/defaults"
	"github.com/hotline-ivr/hotline/media"
)

// sysPromptFrames is how much of each system prompt the end-to-end tests play: 400 ms,
// enough to be recognised (phone.Recogniser wants 3 frames), where the embedded phrases
// take seconds each ("callback_confirmed" 4.5 s, "callback_offer" 6.3 s) and a test would
// wait through every one of them.
const sysPromptFrames = 20

// shortSysPrompts is the directory of the shortened system prompts (system_prompts in the
// queue tests' configs), written once by TestMain.
var shortSysPrompts string

// writeShortSystemPrompts writes every embedded system prompt to dir, at the same path,
// cut to its first sysPromptFrames frames: the same audio from the same start, as µ-law
// WAV, so that what the server plays is byte for byte what the test phones recognise.
func writeShortSystemPrompts(dir string) error {
	sys, err := fs.Sub(defaults.FS, "prompts")
	if err != nil {
		return err
	}
	return fs.WalkDir(sys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".wav") {
			return err
		}
		data, err := fs.ReadFile(sys, name)
		if err != nil {
			return err
		}
		p, err := media.DecodeWAV(name, data)
		if err != nil {
			return err
		}
		frames := p.Frames(media.PCMU)
		frames = frames[:min(len(frames), sysPromptFrames)]
		out := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, ulawWAV(bytes.Join(frames, nil)), 0o644)
	})
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

// loadShortSysPrompt decodes one of the shortened system prompts, by name ("moh",
// "queue/en/callback_offer").
func loadShortSysPrompt(name string) (*media.Prompt, error) {
	if shortSysPrompts == "" {
		return nil, fmt.Errorf("system prompt %s: not written (TestMain)", name)
	}
	return media.LoadWAV(name, filepath.Join(shortSysPrompts, filepath.FromSlash(name+".wav")))
}
