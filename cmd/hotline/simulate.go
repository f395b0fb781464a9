package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotline-ivr/hotline/menus"
)

func simulateCmd() *cobra.Command {
	var o simOptions
	var at string
	cmd := &cobra.Command{
		Use:   "simulate [FILE]",
		Short: "Walk the menu tree in the terminal, without SIP, and print the transcript",
		Long: "Walks the menus of FILE (the embedded default without one) as a caller would,\n" +
			"printing each prompt that would play (its ID and text), each node entered and each\n" +
			"decision. Keys come from --keys or from stdin, one step per line. Tokens, separated\n" +
			"by commas or spaces: keys 0-9 * # (\"123\" types three keys), t to let the pending\n" +
			"timer fire (a timeout), and ! before keys to press them during the prompt (barge-in);\n" +
			"otherwise the caller hears each prompt to its end before pressing.\n" +
			"Exit status as for validate: 1 the menus have problems, 2 the file cannot be read.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			o.at = time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("--at %q: want RFC 3339, e.g. 2026-11-21T10:00:00+08:00", at)
				}
				o.at = t
			}
			o.keysSet = cmd.Flags().Changed("keys")
			in := cmd.InOrStdin()
			if f, ok := in.(*os.File); ok && !o.keysSet {
				if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "keys: 0-9 * # (one step per line), t = timeout, !1 = press during the prompt; end with Ctrl-D")
				}
			}
			return simulate(cmd.OutOrStdout(), cmd.ErrOrStderr(), in, path, o)
		},
	}
	cmd.Flags().StringVar(&o.keys, "keys", "", `keys to press, e.g. "1,2,t,*" (default: read stdin)`)
	cmd.Flags().StringVar(&o.lang, "lang", "", "the caller's language, as a trunk would set it (e.g. zh-CN)")
	cmd.Flags().StringVar(&at, "at", "", "when the call starts, RFC 3339 (default now), for time-of-day routing")
	cmd.Flags().StringSliceVar(&o.enable, "enable", nil, "allow actions whose subsystem is not built yet: enqueue, freeze, transfer")
	return cmd
}

type simOptions struct {
	keys    string
	keysSet bool
	lang    string
	at      time.Time
	enable  []string
}

// loadTree reads a config file (path "" is the embedded default) and compiles its menus.
// Problems in the menus are printed to stderr as `hotline validate` prints them, and the
// error is an exitError with validate's exit codes. Prompt files are not read.
func loadTree(stderr io.Writer, path string, enable []string) (*loaded, *menus.Tree, error) {
	l, err := loadConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return nil, nil, exitError{exitUnusable}
	}
	// What the config enables (freeze.enabled, queues) is enabled here; --enable adds
	// the rest for previewing.
	opts := menus.CompileOptions{Enabled: map[string]bool{"freeze": l.Freeze.Enabled, "enqueue": len(l.Queues) > 0}}
	for _, a := range enable {
		opts.Enabled[strings.TrimSpace(a)] = true
	}
	var lines []string
	for _, line := range problemLines(errors.Join(l.Problems...)) {
		if strings.HasPrefix(line, "menus") {
			lines = append(lines, line)
		}
	}
	tree, err := menus.CompileWith(l.Menus, opts)
	lines = append(lines, problemLines(err)...)
	if len(lines) > 0 {
		loc := newLocator(path)
		if l.MenusFile != "" {
			loc.sub = map[string]*locator{"menus": newLocator(l.MenusFile)}
		}
		for _, line := range lines {
			fmt.Fprintln(stderr, loc.format(line))
		}
		return nil, nil, exitError{exitInvalid}
	}
	return l, tree, nil
}

// simulation walks one call through a tree, as ivr would, printing a transcript.
type simulation struct {
	out     io.Writer
	tree    *menus.Tree
	m       *menus.Machine
	playing bool
	timer   *menus.StartTimer // the armed timer
	over    string            // why the menu ended, once it has
}

func simulate(stdout, stderr io.Writer, stdin io.Reader, path string, o simOptions) error {
	l, tree, err := loadTree(stderr, path, o.enable)
	if err != nil {
		return err
	}
	s := &simulation{out: stdout, tree: tree, m: menus.NewMachine(tree)}
	lang := o.lang
	if lang == "" {
		lang = "default"
	}
	fmt.Fprintf(stdout, "# hotline simulate %s: root %s\n", l.Source, tree.Root())
	fmt.Fprintf(stdout, "# at %s, language %s\n", o.at.Format(time.RFC3339), lang)
	fmt.Fprintln(stdout, "> call starts")
	s.step(menus.Started{At: o.at, Language: o.lang})

	if o.keysSet {
		if err := s.line(o.keys); err != nil {
			return err
		}
	} else {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() && s.over == "" {
			if err := s.line(sc.Text()); err != nil {
				fmt.Fprintln(stderr, err)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("simulate: read keys: %w", err)
		}
	}
	s.finish()
	return nil
}

// line plays one step: its tokens in order.
func (s *simulation) line(text string) error {
	tokens := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	for _, tok := range tokens {
		if err := checkToken(tok); err != nil {
			return err
		}
	}
	for _, tok := range tokens {
		if s.over != "" {
			fmt.Fprintf(s.out, "  (call over: %q not pressed)\n", tok)
			continue
		}
		s.token(tok)
	}
	return nil
}

func checkToken(tok string) error {
	if tok == "t" {
		return nil
	}
	keys := strings.TrimPrefix(tok, "!")
	if keys == "" {
		return fmt.Errorf("simulate: bad token %q (want keys 0-9 * #, t for a timeout, ! before keys to barge in)", tok)
	}
	for _, k := range keys {
		if !strings.ContainsRune("0123456789*#", k) {
			return fmt.Errorf("simulate: bad token %q (want keys 0-9 * #, t for a timeout, ! before keys to barge in)", tok)
		}
	}
	return nil
}

func (s *simulation) token(tok string) {
	if tok == "t" {
		s.listen()
		if s.timer == nil {
			fmt.Fprintln(s.out, "> t: no timer is running")
			return
		}
		what := "a key"
		if s.timer.ID == menus.TimerInterDigit {
			what = "the next key"
		}
		fmt.Fprintf(s.out, "> t: %v pass without %s\n", s.timer.After, what)
		s.step(menus.TimerFired{ID: s.timer.ID})
		return
	}
	barge := strings.HasPrefix(tok, "!")
	for _, k := range []byte(strings.TrimPrefix(tok, "!")) {
		if s.over != "" {
			fmt.Fprintf(s.out, "  (call over: %c not pressed)\n", k)
			continue
		}
		if barge && s.playing {
			fmt.Fprintf(s.out, "> key %c, during the prompt\n", k)
		} else {
			s.listen()
			if s.over != "" {
				fmt.Fprintf(s.out, "  (call over: %c not pressed)\n", k)
				continue
			}
			fmt.Fprintf(s.out, "> key %c\n", k)
		}
		barge = false
		s.step(menus.Digit{Key: k})
	}
}

// listen lets the prompt that plays run to its end.
func (s *simulation) listen() {
	if s.playing {
		fmt.Fprintln(s.out, "> prompt ends")
		s.step(menus.PlaybackDone{})
	}
}

// finish plays out the last prompt and says where the call stands.
func (s *simulation) finish() {
	if s.over == "" {
		s.listen()
	}
	if s.over != "" {
		fmt.Fprintf(s.out, "= call over at node %s: %s\n", s.m.Node(), s.over)
		return
	}
	fmt.Fprintf(s.out, "= end of keys: the caller waits at node %s\n", s.m.Node())
}

func (s *simulation) step(ev menus.Event) {
	acts := s.m.Step(ev)
	switch ev.(type) {
	case menus.PlaybackDone:
		s.playing = false
	case menus.TimerFired:
		s.timer = nil
	}
	if acts == nil {
		fmt.Fprintln(s.out, "  (ignored)")
		return
	}
	for _, a := range acts {
		s.action(a)
	}
}

func (s *simulation) action(a menus.Action) {
	w := s.out
	switch a := a.(type) {
	case menus.EnterNode:
		fmt.Fprintf(w, "  enter %s\n", a.Node)
	case menus.Play:
		s.playing = true
		for _, id := range a.Prompts {
			if p, _ := s.tree.Prompt(id); p.Text != "" {
				fmt.Fprintf(w, "  play %s: %q\n", id, p.Text)
			} else {
				fmt.Fprintf(w, "  play %s\n", id)
			}
		}
	case menus.StopPlayback:
		s.playing = false
		fmt.Fprintln(w, "  stop the prompt")
	case menus.StartTimer:
		s.timer = &a
		if a.ID == menus.TimerInterDigit {
			fmt.Fprintf(w, "  wait up to %v for the next key\n", a.After)
		} else {
			fmt.Fprintf(w, "  wait up to %v for a key\n", a.After)
		}
	case menus.StopTimer:
		s.timer = nil
	case menus.Invalid:
		if a.Entry != "" {
			fmt.Fprintf(w, "  invalid entry %s\n", a.Entry)
		} else {
			fmt.Fprintf(w, "  invalid key %c\n", a.Key)
		}
	case menus.Timeout:
		fmt.Fprintln(w, "  timeout")
	case menus.SetVariable:
		fmt.Fprintf(w, "  set %s = %s\n", a.Name, a.Value)
	case menus.SetLanguage:
		fmt.Fprintf(w, "  language %s\n", a.Language)
	case menus.TimeRouted:
		state := "closed"
		if a.Open {
			state = "open"
		}
		fmt.Fprintf(w, "  schedule %s: %s\n", a.Schedule, state)
	case menus.Hangup:
		s.end(fmt.Sprintf("hang up (%s)", a.Reason))
	case menus.Enqueue:
		s.end(fmt.Sprintf("enqueue to %s, priority %d", a.Queue, a.Priority))
	case menus.Freeze:
		s.end("hand over to the freeze lane")
	case menus.Transfer:
		s.end("transfer to " + a.Target())
	default:
		fmt.Fprintf(w, "  %v\n", a)
	}
}

func (s *simulation) end(what string) {
	if s.playing {
		fmt.Fprintln(s.out, "  (the prompt plays to its end)")
		s.playing = false
	}
	fmt.Fprintf(s.out, "  %s\n", what)
	s.timer, s.over = nil, what
}
