package menus

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseMenu decodes fuzz input into a Config: one "key=value" per line, keys
// as viper flattens them ("nodes.main.options.1.action=goto"). A line
// "events=..." drives a Machine: S Started, P PlaybackDone, T TimerFired,
// anything else a Digit.
func parseMenu(data []byte) (c Config, events string) {
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		p := strings.Split(k, ".")
		switch {
		case len(p) == 1:
			switch p[0] {
			case "root":
				c.Root = v
			case "digit_timeout":
				c.DigitTimeout, _ = time.ParseDuration(v)
			case "max_retries":
				c.MaxRetries, _ = strconv.Atoi(v)
			case "invalid_prompt":
				c.InvalidPrompt = v
			case "timeout_prompt":
				c.TimeoutPrompt = v
			case "goodbye_prompt":
				c.GoodbyePrompt = v
			case "events":
				events = v
			}
		case len(p) == 3 && p[0] == "prompts":
			if c.Prompts == nil {
				c.Prompts = map[string]PromptConfig{}
			}
			pc := c.Prompts[p[1]]
			switch p[2] {
			case "file":
				pc.File = v
			case "text":
				pc.Text = v
			}
			c.Prompts[p[1]] = pc
		case len(p) == 3 && p[0] == "nodes":
			n := node0(&c, p[1])
			switch p[2] {
			case "prompt":
				n.Prompt = v
			case "digit_timeout":
				n.DigitTimeout, _ = time.ParseDuration(v)
			case "max_retries":
				n.MaxRetries, _ = strconv.Atoi(v)
			}
			c.Nodes[p[1]] = n
		case len(p) == 5 && p[0] == "nodes" && p[2] == "options":
			n := node0(&c, p[1])
			if n.Options == nil {
				n.Options = map[string]OptionConfig{}
			}
			o := n.Options[p[3]]
			switch p[4] {
			case "action":
				o.Action = v
			case "target":
				o.Target = v
			case "prompt":
				o.Prompt = v
			}
			n.Options[p[3]] = o
			c.Nodes[p[1]] = n
		}
	}
	return c, events
}

func node0(c *Config, name string) NodeConfig {
	if c.Nodes == nil {
		c.Nodes = map[string]NodeConfig{}
	}
	return c.Nodes[name]
}

// menuLines renders a Config in parseMenu's format, for seeds.
func menuLines(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "root=%s\ndigit_timeout=%v\nmax_retries=%d\n", c.Root, c.DigitTimeout, c.MaxRetries)
	fmt.Fprintf(&b, "invalid_prompt=%s\ntimeout_prompt=%s\ngoodbye_prompt=%s\n", c.InvalidPrompt, c.TimeoutPrompt, c.GoodbyePrompt)
	for name, p := range c.Prompts {
		fmt.Fprintf(&b, "prompts.%s.file=%s\nprompts.%s.text=%s\n", name, p.File, name, p.Text)
	}
	for name, n := range c.Nodes {
		fmt.Fprintf(&b, "nodes.%s.prompt=%s\nnodes.%s.digit_timeout=%v\nnodes.%s.max_retries=%d\n",
			name, n.Prompt, name, n.DigitTimeout, name, n.MaxRetries)
		for key, o := range n.Options {
			pre := "nodes." + name + ".options." + key
			fmt.Fprintf(&b, "%s.action=%s\n%s.target=%s\n%s.prompt=%s\n", pre, o.Action, pre, o.Target, pre, o.Prompt)
		}
	}
	return b.String()
}

func FuzzParseMenu(f *testing.F) {
	demo := menuLines(demoConfig())
	f.Add([]byte(demo + "events=S1P1P*P2x9"))
	f.Add([]byte(demo + "events=SPTPTPTPT"))
	f.Add([]byte(demo + "max_retries=-1\nnodes.main.options.a.action=jump\nevents=S"))
	f.Add([]byte("nodes.main.prompt=p\nprompts.p.file=p.wav\nevents=SP#T"))
	f.Add([]byte("root=x\nnodes..prompt=\nprompts..file=\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, events := parseMenu(data)
		verr := c.Validate()
		for _, p := range problems(verr) {
			if p.Path == "" || (p.Path != "menus" && !strings.HasPrefix(p.Path, "menus.")) {
				t.Fatalf("problem path %q does not start with menus: %v", p.Path, p)
			}
			if p.Msg == "" {
				t.Fatalf("problem %q has no message", p.Path)
			}
		}
		ps := problems(verr)
		if !slices.IsSortedFunc(ps, func(a, b *Problem) int { return strings.Compare(a.Path, b.Path) }) {
			t.Fatalf("problems not sorted by path: %v", verr)
		}
		tr, err := Compile(c)
		if (err == nil) != (verr == nil) {
			t.Fatalf("Compile error %v, Validate error %v", err, verr)
		}
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Compile error %v holds no *Problem", err)
			}
			return
		}
		if len(tr.Version()) != 12 {
			t.Fatalf("Version() = %q", tr.Version())
		}
		m := NewMachine(tr)
		ended := false
		for i := range len(events) {
			var ev Event
			switch events[i] {
			case 'S':
				ev = Started{}
			case 'P':
				ev = PlaybackDone{}
			case 'T':
				ev = TimerFired{ID: TimerDigit}
			default:
				ev = Digit{Key: events[i]}
			}
			acts := m.Step(ev)
			if ended && acts != nil {
				t.Fatalf("Step(%v) after Hangup = %v", ev, acts)
			}
			for _, a := range acts {
				switch a := a.(type) {
				case Hangup:
					ended = true
				case Play:
					for _, name := range a.Prompts {
						if _, ok := tr.prompts[name]; !ok {
							t.Fatalf("Play of unknown prompt %q", name)
						}
					}
				}
			}
			if _, ok := tr.nodes[m.Node()]; m.Node() != "" && !ok {
				t.Fatalf("Node() = %q, not in tree", m.Node())
			}
		}
	})
}
