package menus

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Tree is a compiled, validated menu configuration with defaults applied. It
// is immutable and safe to share by any number of calls and goroutines.
type Tree struct {
	root         *node
	nodes        map[string]*node
	names        []string                // node names, sorted
	prompts      map[string]PromptConfig // by prompt ID
	refs         []PromptRef             // sorted by ID
	langs        map[string]*language
	defaultLang  string
	globals      map[byte]*option
	digitPrompts map[byte]string
	schedules    map[string]*schedule
	version      string
}

// language is a compiled LanguageConfig: prompt name to prompt ID.
type language struct {
	name string
	ids  map[string]string
}

type node struct {
	name          string
	greeting      string // prompt names
	short         string
	invalid       string
	timeout       string
	exit          string
	digitTimeout  time.Duration
	interDigit    time.Duration
	maxRetries    int // 0: no limit
	maxFailures   int
	maxTimeouts   int
	failAction    *option // nil: exit prompt and hang up
	timeoutAction *option
	digitLen      int
	terminator    byte // 0: none
	options       map[byte]*option
	patterns      []*pattern
	route         *route // a routing node
	announce      bool   // no options and no patterns: play and hang up
	looped        bool   // a route_time loop (only while validating)
	unsure        bool   // an option did not compile (only while validating)
}

type option struct {
	key           string // the key or pattern, for graphs
	action        string
	target        *node
	prompt        string
	variable      string // collect
	minDigits     int
	maxDigits     int
	terminator    byte
	confirm       bool
	readback      string
	confirmPrompt string
	queue         string // enqueue
	priority      int
	uri           string // transfer: a URI, or a trunk and a number
	trunk         string
	number        string
	timeout       time.Duration
	failed        string // the prompt played when the transfer failed
	language      string // set_language; "" = default
	route         *route // route_time
	broken        bool   // a target did not resolve (only while validating)
}

type route struct {
	sched        *schedule
	open, closed *node
}

// choose returns the node r routes to at time at, and whether it is open.
func (r *route) choose(at time.Time) (*node, bool) {
	if r.sched.open(at) {
		return r.open, true
	}
	return r.closed, false
}

// Compile validates c (see Config.Validate, whose error it returns unchanged)
// and builds the immutable Tree, applying defaults: root "main", digit
// timeout 5s, inter-digit timeout 3s and 3 retries, and per node the tree's
// settings where the node leaves them zero. Actions of subsystems not built
// (enqueue, freeze, transfer) are refused; see CompileWith.
func Compile(c Config) (*Tree, error) { return build(c, CompileOptions{}) }

// CompileWith is Compile for an engine with the capabilities in o.
func CompileWith(c Config, o CompileOptions) (*Tree, error) { return build(c, o) }

// version hashes the canonical JSON form of c with its defaults applied
// (encoding/json sorts map keys, and fields added after the first release
// are omitted when zero), so equal configurations share a version.
func version(c Config) string {
	c.Root = cmp.Or(c.Root, DefaultRoot)
	c.DigitTimeout = cmp.Or(c.DigitTimeout, DefaultDigitTimeout)
	if c.MaxFailures == 0 && c.MaxTimeouts == 0 {
		c.MaxRetries = cmp.Or(c.MaxRetries, DefaultMaxRetries)
	}
	nodes := make(map[string]NodeConfig, len(c.Nodes))
	for name, n := range c.Nodes {
		n.DigitTimeout = cmp.Or(n.DigitTimeout, c.DigitTimeout)
		n.MaxRetries = cmp.Or(n.MaxRetries, c.MaxRetries)
		n.Prompt, n.Greeting = cmp.Or(n.Prompt, n.Greeting), ""
		nodes[name] = n
	}
	c.Nodes = nodes
	b, err := json.Marshal(c)
	if err != nil {
		// Config holds only strings, numbers, durations, slices and maps.
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

// Nodes returns the names of every node, sorted.
func (t *Tree) Nodes() []string { return slices.Clone(t.names) }

// PromptRef is one prompt a tree may play.
type PromptRef struct {
	// ID is how Play names it: the prompt name for menus.prompts, and
	// "<language>/<name>" (e.g. "zh-cn/main") for a language's.
	ID string
	// Name is the prompt name in the configuration ("main").
	Name string
	// Language is "" for menus.prompts, else the language (lower case).
	Language string
	// Path is its configuration key, e.g. "menus.languages.zh-cn.prompts.main",
	// for messages about its file.
	Path string
	PromptConfig
}

// PromptRefs lists every prompt of every language, sorted by ID, so that the
// caller can load each file once per tree and map Play's IDs to audio.
func (t *Tree) PromptRefs() []PromptRef { return slices.Clone(t.refs) }

// Prompts returns a copy of the prompt table by prompt ID (see PromptRef),
// every language included.
func (t *Tree) Prompts() map[string]PromptConfig { return maps.Clone(t.prompts) }

// Prompt returns the prompt with the given ID.
func (t *Tree) Prompt(id string) (PromptConfig, bool) {
	p, ok := t.prompts[id]
	return p, ok
}

// Languages returns the languages with prompts of their own (lower case,
// sorted); the default language is not among them.
func (t *Tree) Languages() []string { return slices.Sorted(maps.Keys(t.langs)) }

// DefaultLanguage returns the language of menus.prompts, "" if unnamed.
func (t *Tree) DefaultLanguage() string { return t.defaultLang }

// GlobalAction returns the action of the tree-level global key k ("freeze", ...), for callers
// that have left the menu but keep its global keys (a caller on hold).
func (t *Tree) GlobalAction(k byte) (string, bool) {
	o, ok := t.globals[k]
	if !ok {
		return "", false
	}
	return o.action, true
}
