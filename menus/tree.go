package menus

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"time"
)

// Tree is a compiled, validated menu configuration with defaults applied. It
// is immutable and safe to share by any number of calls and goroutines.
type Tree struct {
	root    *node
	nodes   map[string]*node
	prompts map[string]PromptConfig
	invalid string
	timeout string
	goodbye string
	version string
}

type node struct {
	name         string
	prompt       string
	digitTimeout time.Duration
	maxRetries   int
	options      map[byte]option
}

type option struct {
	action string
	target *node  // goto
	prompt string // play, hangup
}

// Compile validates c (see Config.Validate, whose error it returns unchanged)
// and builds the immutable Tree, applying defaults: root "main", digit
// timeout 5s and 3 retries, and per node the tree's timeout and retries where
// the node leaves them zero.
func Compile(c Config) (*Tree, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = withDefaults(c)
	t := &Tree{
		nodes:   make(map[string]*node, len(c.Nodes)),
		prompts: maps.Clone(c.Prompts),
		invalid: c.InvalidPrompt,
		timeout: c.TimeoutPrompt,
		goodbye: c.GoodbyePrompt,
		version: version(c),
	}
	if t.prompts == nil {
		t.prompts = map[string]PromptConfig{}
	}
	for name, nc := range c.Nodes {
		t.nodes[name] = &node{
			name:         name,
			prompt:       nc.Prompt,
			digitTimeout: nc.DigitTimeout,
			maxRetries:   nc.MaxRetries,
			options:      make(map[byte]option, len(nc.Options)),
		}
	}
	for name, nc := range c.Nodes {
		n := t.nodes[name]
		for key, oc := range nc.Options {
			o := option{action: oc.Action, prompt: oc.Prompt}
			if oc.Action == ActionGoto {
				o.target = t.nodes[oc.Target]
			}
			n.options[key[0]] = o
		}
	}
	t.root = t.nodes[c.Root]
	return t, nil
}

// withDefaults returns a copy of a valid c with every default filled in.
func withDefaults(c Config) Config {
	c.Root = cmp.Or(c.Root, DefaultRoot)
	c.DigitTimeout = cmp.Or(c.DigitTimeout, DefaultDigitTimeout)
	c.MaxRetries = cmp.Or(c.MaxRetries, DefaultMaxRetries)
	nodes := make(map[string]NodeConfig, len(c.Nodes))
	for name, n := range c.Nodes {
		n.DigitTimeout = cmp.Or(n.DigitTimeout, c.DigitTimeout)
		n.MaxRetries = cmp.Or(n.MaxRetries, c.MaxRetries)
		nodes[name] = n
	}
	c.Nodes = nodes
	return c
}

// version hashes the canonical JSON form of c (encoding/json sorts map
// keys), so equal configurations, defaults included, share a version.
func version(c Config) string {
	b, err := json.Marshal(c)
	if err != nil {
		// Config holds only strings, ints, durations and maps of them.
		panic("menus: encode config: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// Version returns a short content hash of the configuration with defaults
// applied (12 hex digits), for logs and metrics across hot reloads.
func (t *Tree) Version() string { return t.version }

// Root returns the name of the node calls start in.
func (t *Tree) Root() string { return t.root.name }

// Prompts returns a copy of the prompt table, so the caller can load each
// prompt's audio once per tree.
func (t *Tree) Prompts() map[string]PromptConfig { return maps.Clone(t.prompts) }
