package menus

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults applied by Compile (and assumed by Validate) when a field is zero.
const (
	DefaultRoot         = "main"
	DefaultDigitTimeout = 5 * time.Second
	DefaultMaxRetries   = 3
)

// Option actions.
const (
	ActionGoto   = "goto"
	ActionPlay   = "play"
	ActionHangup = "hangup"
)

// pathPrefix is the configuration key under which cmd decodes a Config; every
// Problem path starts with it.
const pathPrefix = "menus"

// validKeys are the DTMF keys an option may be bound to.
const validKeys = "0123456789*#"

// Config is the menu configuration, pure data decoded by viper (mapstructure
// tags) in cmd. The zero value of every field means its default.
type Config struct {
	// Root is the node a call starts in; default DefaultRoot.
	Root string `mapstructure:"root"`
	// DigitTimeout is how long to wait for a key after a node's prompt has
	// finished; default DefaultDigitTimeout.
	DigitTimeout time.Duration `mapstructure:"digit_timeout"`
	// MaxRetries is how many failures (digit timeouts plus invalid keys)
	// one visit of a node tolerates; the next failure ends the call.
	// Default DefaultMaxRetries.
	MaxRetries int `mapstructure:"max_retries"`
	// InvalidPrompt names the prompt played after an invalid key, before
	// the node prompt replays. Optional.
	InvalidPrompt string `mapstructure:"invalid_prompt"`
	// TimeoutPrompt names the prompt played after a digit timeout, before
	// the node prompt replays. Optional.
	TimeoutPrompt string `mapstructure:"timeout_prompt"`
	// GoodbyePrompt names the prompt played before hanging up when the
	// retries are exhausted. Optional.
	GoodbyePrompt string `mapstructure:"goodbye_prompt"`
	// Prompts maps prompt names to their audio.
	Prompts map[string]PromptConfig `mapstructure:"prompts"`
	// Nodes maps node names to menu nodes.
	Nodes map[string]NodeConfig `mapstructure:"nodes"`
}

// PromptConfig is one prompt: an audio file and, for documentation and
// transcripts, the words it says.
type PromptConfig struct {
	File string `mapstructure:"file"`
	Text string `mapstructure:"text"`
}

// NodeConfig is one menu node: a prompt and the options the caller may pick.
type NodeConfig struct {
	// Prompt names the prompt played on entering the node (required).
	Prompt string `mapstructure:"prompt"`
	// DigitTimeout overrides Config.DigitTimeout; 0 = tree default.
	DigitTimeout time.Duration `mapstructure:"digit_timeout"`
	// MaxRetries overrides Config.MaxRetries; 0 = tree default.
	MaxRetries int `mapstructure:"max_retries"`
	// Options maps a key ("0".."9", "*", "#") to what it does.
	Options map[string]OptionConfig `mapstructure:"options"`
}

// OptionConfig is what one key does in a node.
type OptionConfig struct {
	// Action is ActionGoto, ActionPlay or ActionHangup.
	Action string `mapstructure:"action"`
	// Target is the node a goto enters.
	Target string `mapstructure:"target"`
	// Prompt is, for play, the prompt played before the node prompt
	// replays (required); for hangup, the goodbye played before hanging
	// up (optional).
	Prompt string `mapstructure:"prompt"`
}

// Problem is one configuration error. Path is the configuration key at fault,
// such as "menus.nodes.main.options.7.target".
type Problem struct {
	Path string
	Msg  string
}

// Error implements error.
func (p *Problem) Error() string { return p.Path + ": " + p.Msg }

// Validate reports every problem in c as an errors.Join of *Problem, sorted
// by path and message, or nil when c compiles. Zero fields are read as their
// defaults.
func (c Config) Validate() error {
	var v validator
	v.config(c)
	if len(v.problems) == 0 {
		return nil
	}
	slices.SortFunc(v.problems, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Msg, b.Msg))
	})
	errs := make([]error, len(v.problems))
	for i, p := range v.problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

type validator struct {
	c        Config
	problems []*Problem
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) config(c Config) {
	v.c = c
	root := cmp.Or(c.Root, DefaultRoot)
	if c.DigitTimeout < 0 {
		v.add(pathPrefix+".digit_timeout", "must not be negative (got %v)", c.DigitTimeout)
	}
	if c.MaxRetries < 0 {
		v.add(pathPrefix+".max_retries", "must not be negative (got %d)", c.MaxRetries)
	}
	v.promptRef(pathPrefix+".invalid_prompt", c.InvalidPrompt, false)
	v.promptRef(pathPrefix+".timeout_prompt", c.TimeoutPrompt, false)
	v.promptRef(pathPrefix+".goodbye_prompt", c.GoodbyePrompt, false)

	for name, p := range c.Prompts {
		if name == "" {
			v.add(pathPrefix+".prompts", "prompt with an empty name")
			continue
		}
		if strings.TrimSpace(p.File) == "" {
			v.add(pathPrefix+".prompts."+name+".file", "file is required")
		}
	}

	if len(c.Nodes) == 0 {
		v.add(pathPrefix+".nodes", "no nodes defined")
	}
	if _, ok := c.Nodes[root]; !ok {
		v.add(pathPrefix+".root", "unknown node %q%s", root, v.nodeHint(root))
	}
	for name, n := range c.Nodes {
		if name == "" {
			v.add(pathPrefix+".nodes", "node with an empty name")
			continue
		}
		v.node(pathPrefix+".nodes."+name, n)
	}
	if _, ok := c.Nodes[root]; ok {
		v.reachable(root)
	}
}

func (v *validator) node(path string, n NodeConfig) {
	v.promptRef(path+".prompt", n.Prompt, true)
	if n.DigitTimeout < 0 {
		v.add(path+".digit_timeout", "must not be negative (got %v)", n.DigitTimeout)
	}
	if n.MaxRetries < 0 {
		v.add(path+".max_retries", "must not be negative (got %d)", n.MaxRetries)
	}
	for key, o := range n.Options {
		op := path + ".options." + key
		if !validKey(key) {
			v.add(op, "invalid key %q (want one of 0-9, * or #)", key)
		}
		switch o.Action {
		case ActionGoto:
			if o.Target == "" {
				v.add(op+".target", "goto needs a target node")
			} else if _, ok := v.c.Nodes[o.Target]; !ok {
				v.add(op+".target", "unknown node %q%s", o.Target, v.nodeHint(o.Target))
			}
			if o.Prompt != "" {
				v.add(op+".prompt", "not used by goto (the target node plays its own prompt)")
			}
		case ActionPlay:
			v.promptRef(op+".prompt", o.Prompt, true)
			if o.Target != "" {
				v.add(op+".target", "not used by play")
			}
		case ActionHangup:
			v.promptRef(op+".prompt", o.Prompt, false)
			if o.Target != "" {
				v.add(op+".target", "not used by hangup")
			}
		case "":
			v.add(op+".action", "action is required (goto, play or hangup)")
		default:
			v.add(op+".action", "unknown action %q (want goto, play or hangup)", o.Action)
		}
	}
}

// promptRef checks a reference to a prompt by name.
func (v *validator) promptRef(path, name string, required bool) {
	if name == "" {
		if required {
			v.add(path, "prompt is required")
		}
		return
	}
	if _, ok := v.c.Prompts[name]; !ok {
		v.add(path, "unknown prompt %q%s", name, hint(name, v.c.Prompts))
	}
}

func (v *validator) nodeHint(name string) string { return hint(name, v.c.Nodes) }

// hint suggests the defined name that differs from name only in case: viper
// lower-cases map keys but not values, so "Billing" never matches a node
// declared as "billing:" in YAML.
func hint[V any](name string, defined map[string]V) string {
	var found []string
	for k := range defined {
		if k != name && strings.EqualFold(k, name) {
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return ""
	}
	slices.Sort(found)
	return fmt.Sprintf(" (did you mean %q? configuration keys are case-insensitive and read in lower case)", found[0])
}

// reachable reports every node that no chain of goto options leads to from
// root.
func (v *validator) reachable(root string) {
	seen := map[string]bool{root: true}
	queue := []string{root}
	for len(queue) > 0 {
		n := v.c.Nodes[queue[0]]
		queue = queue[1:]
		for _, o := range n.Options {
			if o.Action != ActionGoto || seen[o.Target] {
				continue
			}
			if _, ok := v.c.Nodes[o.Target]; ok {
				seen[o.Target] = true
				queue = append(queue, o.Target)
			}
		}
	}
	for name := range v.c.Nodes {
		if name != "" && !seen[name] {
			v.add(pathPrefix+".nodes."+name, "unreachable from root node %q", root)
		}
	}
}

func validKey(key string) bool {
	return len(key) == 1 && strings.IndexByte(validKeys, key[0]) >= 0
}
