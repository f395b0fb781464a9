package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/media"
)

func tonesCmd() *cobra.Command {
	var (
		out             string
		lead, tail, dur time.Duration
		gap             time.Duration
		level           float64
	)
	c := &cobra.Command{
		Use:   "tones SCRIPT",
		Short: "Write DTMF key tones as 8 kHz audio (raw µ-law, or WAV by extension)",
		Long: "Generates in-band DTMF tones for a key script, to stream from a test peer:\n" +
			"SCRIPT is a key script as for `hotline call --keys` (keys and p<duration> pauses).\n" +
			"Output: .wav → 8 kHz mono PCM16 WAV; anything else → raw µ-law (for sipp rtp_stream).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			steps, err := phone.ParseScript(args[0])
			if err != nil {
				return err
			}
			pcm := silence(nil, lead)
			for _, s := range steps {
				if s.Wait {
					return fmt.Errorf("tones: 'w' (wait for a prompt) has no meaning in a file; use p<duration>")
				}
				pcm = silence(pcm, s.Pause)
				for i := 0; i < len(s.Keys); i++ {
					pcm = media.AppendDTMFTone(pcm, s.Keys[i], dur, level)
					pcm = silence(pcm, gap)
				}
			}
			pcm = silence(pcm, tail)
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if strings.EqualFold(filepath.Ext(out), ".wav") {
				err = media.WriteWAV(f, pcm)
			} else {
				ulaw := make([]byte, len(pcm))
				media.EncodePCMUTo(ulaw, pcm)
				_, err = f.Write(ulaw)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %.2fs of audio\n", out, float64(len(pcm))/media.ClockRate)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "tones.ulaw", "output file")
	f.DurationVar(&dur, "duration", 100*time.Millisecond, "tone length per key")
	f.DurationVar(&gap, "gap", 100*time.Millisecond, "silence after each key")
	f.DurationVar(&lead, "lead", 0, "silence before the first key")
	f.DurationVar(&tail, "tail", 0, "silence after the last key")
	f.Float64Var(&level, "level", -10, "level of each of the two tones, dBm0")
	return c
}

func silence(pcm []int16, d time.Duration) []int16 {
	n := int(d * media.ClockRate / time.Second)
	return append(pcm, make([]int16, n)...)
}
