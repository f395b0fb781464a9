package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/media"
)

func callCmd() *cobra.Command {
	var (
		cfgPath, keys, record, from, transport, codec string
		dtmfMode                                      string
		listen, timeout                               time.Duration
		noDTMF                                        bool
	)
	c := &cobra.Command{
		Use:   "call URI",
		Short: "A test softphone: dial, press keys, record and name the prompts heard",
		Long: "Dials URI (e.g. sip:hotline@127.0.0.1:5060), presses keys by RFC 4733 following\n" +
			"--keys, records what it hears to --record (WAV), and prints each prompt it\n" +
			"recognises, using the prompts of --config (default: the embedded demo).\n\n" +
			"Key script: steps separated by commas; in a step each character is a key\n" +
			"(0-9 * # A-D) or 'w' (wait for the next prompt); 'p<duration>' pauses.\n" +
			"Example: --keys 'w1,w2,w*' waits for the greeting, presses 1, waits, presses 2, ...",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			steps, err := phone.ParseScript(keys)
			if err != nil {
				return err
			}
			l, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			menu, err := buildMenu(l)
			if err != nil {
				return fmt.Errorf("%s: %w", l.Source, err)
			}
			texts := menu.Tree.Prompts()
			out := cmd.OutOrStdout()
			start := time.Now()
			p, err := phone.Dial(ctx, args[0], phone.Options{
				FromUser: from, Transport: transport, Codec: media.CodecName(codec),
				NoDTMF: noDTMF, Prompts: menu.Prompts, DTMFMode: dtmfMode,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "answered: call-id %s, codec %s\n", p.ID(), p.Codec().Name)
			printed := 0
			printHeard := func() {
				for _, h := range p.Heard()[printed:] {
					fmt.Fprintf(out, "%7.2fs  heard %-18s %s\n", h.At.Sub(start).Seconds(), h.Prompt, texts[h.Prompt].Text)
					printed++
				}
			}
			runErr := p.Run(ctx, steps)
			// Listen on after the script, until the far end hangs up or --listen passes.
			t := time.NewTimer(listen)
			tick := time.NewTicker(100 * time.Millisecond)
		loop:
			for {
				select {
				case <-p.Done():
					fmt.Fprintln(out, "remote hung up")
					break loop
				case <-t.C:
					break loop
				case <-ctx.Done():
					break loop
				case <-tick.C:
					printHeard()
				}
			}
			tick.Stop()
			t.Stop()
			printHeard()
			if err := p.Hangup(context.Background()); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "hangup:", err)
			}
			if record != "" {
				f, err := os.Create(record)
				if err != nil {
					return err
				}
				if err := media.WriteWAV(f, p.PCM()); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(out, "recorded %s\n", record)
			}
			if runErr != nil && runErr != phone.ErrRemoteHangup {
				return fmt.Errorf("key script: %w", runErr)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", "", "config whose prompts to recognise (default: the embedded demo)")
	f.StringVar(&keys, "keys", "", "key script, e.g. 'w1,w2,w#'")
	f.StringVar(&record, "record", "", "write what was heard to this WAV file (8 kHz mono PCM16)")
	f.StringVar(&from, "from", "phone", "From user")
	f.StringVar(&transport, "transport", "udp", "udp or tcp")
	f.StringVar(&codec, "codec", "PCMU", "codec offered first (PCMU or PCMA)")
	f.BoolVar(&noDTMF, "no-dtmf", false, "leave telephone-event out of the offer")
	f.StringVar(&dtmfMode, "dtmf-mode", "rfc4733", "how keys are sent: rfc4733, inband (tones in the audio), info (SIP INFO), leak (RFC 4733 and the tone)")
	f.DurationVar(&listen, "listen", 5*time.Second, "keep listening this long after the key script")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return c
}
