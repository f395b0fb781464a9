package menus

import (
	"cmp"
	"errors"
	"slices"
	"time"
)

// Defaults applied by Compile (and assumed by Validate) when a field is zero.
const (
	DefaultRoot              = "main"
	DefaultDigitTimeout      = 5 * time.Second
	DefaultInterDigitTimeout = 3 * time.Second
	// DefaultMaxRetries applies only where neither max_failures nor
	// max_timeouts is set (on the node or the tree).
	DefaultMaxRetries        = 3
	DefaultCollectMinDigits  = 1
	DefaultCollectMaxDigits  = 20
	DefaultCollectTerminator = "#"
	// DefaultTransferTimeout is how long a transfer's target rings.
	DefaultTransferTimeout = 30 * time.Second
	// MaxTransferTimeout bounds a transfer's timeout.
	MaxTransferTimeout = 5 * time.Minute
)

// Limits on lengths, so that a configuration cannot make a call buffer
// unbounded input.
const (
	MaxDigitLen     = 32 // longest digit_len and pattern
	MaxCollectDigit = 64 // largest collect max_digits
)

// Option actions: what a key, a pattern, a global key or an exceeded limit
// does.
const (
	ActionGoto        = "goto"         // enter node target
	ActionBack        = "back"         // return to the node the caller came from (the root if none)
	ActionTop         = "top"          // return to the root node, forgetting the history
	ActionRepeat      = "repeat"       // replay the node's long greeting
	ActionPlay        = "play"         // play prompt, then return to the node (short greeting)
	ActionCollect     = "collect"      // collect digits into a variable, then target or back to the node
	ActionSetLanguage = "set_language" // switch the call's prompt language, then target or replay
	ActionRouteTime   = "route_time"   // enter open or closed by schedule
	ActionEnqueue     = "enqueue"      // hand the call to a hold queue (needs CompileOptions.Enabled)
	ActionFreeze      = "freeze"       // hand the call to the account-freeze lane (needs CompileOptions.Enabled)
	ActionTransfer    = "transfer"     // bridge the call to a SIP URI or a trunk's number (needs CompileOptions.Enabled)
	ActionHangup      = "hangup"       // play prompt if any, then hang up
)

// actionNames lists every action, for messages.
var actionNames = []string{
	ActionGoto, ActionBack, ActionTop, ActionRepeat, ActionPlay, ActionCollect, ActionSetLanguage,
	ActionRouteTime, ActionEnqueue, ActionFreeze, ActionTransfer, ActionHangup,
}

// notBuilt says, for each action whose subsystem is not enabled, why
// validation refuses it unless CompileOptions.Enabled names it.
var notBuilt = map[string]string{
	ActionEnqueue:  "no hold queue is configured (add one under queues)",
	ActionFreeze:   "the account-freeze lane is off (set freeze.enabled: true)",
	ActionTransfer: "transfers dial out with the queues' dialler: configure a queue (queues)",
}

// pathPrefix is the configuration key under which cmd decodes a Config; every
// Problem path starts with it.
const pathPrefix = "menus"

// validKeys are the DTMF keys an option may be bound to.
const validKeys = "0123456789*#"

// Config is the menu configuration, pure data decoded by viper (mapstructure
// tags) in cmd. The zero value of every field means its default. Viper reads
// map keys (node, prompt, language and schedule names) in lower case.
type Config struct {
	// Root is the node a call starts in; default DefaultRoot.
	Root string `mapstructure:"root"`
	// DigitTimeout is how long to wait for a first key after a prompt has
	// finished; default DefaultDigitTimeout. Nodes may override it.
	DigitTimeout time.Duration `mapstructure:"digit_timeout"`
	// InterDigitTimeout is how long to wait for the next key of a
	// multi-key entry (digit_len > 1, patterns, collect); default
	// DefaultInterDigitTimeout. Nodes may override it.
	InterDigitTimeout time.Duration `mapstructure:"inter_digit_timeout" json:",omitzero"`
	// MaxRetries is how many failures (digit timeouts plus invalid keys)
	// one visit of a node tolerates; the next failure plays the exit
	// prompt and hangs up. Default DefaultMaxRetries when neither
	// MaxFailures nor MaxTimeouts is set, else no combined limit.
	MaxRetries int `mapstructure:"max_retries"`
	// MaxFailures is how many invalid keys one visit tolerates; the next
	// one performs MaxFailuresAction. 0: no separate limit.
	MaxFailures int `mapstructure:"max_failures" json:",omitzero"`
	// MaxFailuresAction is done when MaxFailures is exceeded; zero: play
	// the exit prompt and hang up.
	MaxFailuresAction OptionConfig `mapstructure:"max_failures_action" json:",omitzero"`
	// MaxTimeouts is how many digit timeouts one visit tolerates; the next
	// one performs MaxTimeoutsAction. 0: no separate limit.
	MaxTimeouts int `mapstructure:"max_timeouts" json:",omitzero"`
	// MaxTimeoutsAction is done when MaxTimeouts is exceeded; zero: play
	// the exit prompt and hang up.
	MaxTimeoutsAction OptionConfig `mapstructure:"max_timeouts_action" json:",omitzero"`
	// InvalidPrompt names the prompt played after an invalid key, before
	// the node prompt replays. Optional; nodes may override it.
	InvalidPrompt string `mapstructure:"invalid_prompt"`
	// TimeoutPrompt names the prompt played after a digit timeout, before
	// the node prompt replays. Optional; nodes may override it.
	TimeoutPrompt string `mapstructure:"timeout_prompt"`
	// GoodbyePrompt names the exit prompt played before hanging up when a
	// limit is exceeded. Optional; nodes override it with exit_prompt.
	GoodbyePrompt string `mapstructure:"goodbye_prompt"`
	// ReadbackPrompt names the prompt that starts a collect read-back
	// ("you entered"); required by a collect with confirm unless the
	// option names its own.
	ReadbackPrompt string `mapstructure:"readback_prompt" json:",omitzero"`
	// ConfirmPrompt names the prompt that ends a collect read-back ("press
	// 1 if this is correct, 2 to enter it again").
	ConfirmPrompt string `mapstructure:"confirm_prompt" json:",omitzero"`
	// DigitPrompts maps each key ("0".."9", "*", "#") to the prompt that
	// says it, for read-backs. A collect with confirm needs 0-9.
	DigitPrompts map[string]string `mapstructure:"digit_prompts" json:",omitzero"`
	// DefaultLanguage names the language of Prompts (e.g. "en"), so that
	// set_language can switch back to it. Optional.
	DefaultLanguage string `mapstructure:"default_language" json:",omitzero"`
	// Prompts maps prompt names to their audio in the default language.
	Prompts map[string]PromptConfig `mapstructure:"prompts"`
	// Languages maps a language (e.g. "zh-cn") to prompts that replace
	// those of the same name in Prompts when the call uses it. A prompt a
	// language leaves out plays in the default language.
	Languages map[string]LanguageConfig `mapstructure:"languages" json:",omitzero"`
	// GlobalKeys maps a key to what it does at every node, also while a
	// prompt plays. A global key wins over the node's options.
	GlobalKeys map[string]OptionConfig `mapstructure:"global_keys" json:",omitzero"`
	// Schedules maps a schedule name to business hours, for route_time.
	Schedules map[string]ScheduleConfig `mapstructure:"schedules" json:",omitzero"`
	// Nodes maps node names to menu nodes.
	Nodes map[string]NodeConfig `mapstructure:"nodes"`
}

// PromptConfig is one prompt: an audio file and, for documentation and
// transcripts, the words it says.
type PromptConfig struct {
	File string `mapstructure:"file"`
	Text string `mapstructure:"text"`
}

// LanguageConfig is one prompt language.
type LanguageConfig struct {
	// Prompts replaces the default prompts of the same names.
	Prompts map[string]PromptConfig `mapstructure:"prompts"`
}

// ScheduleConfig is a set of business hours.
type ScheduleConfig struct {
	// TimeZone is an IANA time zone name such as "Asia/Shanghai"; default
	// UTC.
	TimeZone string `mapstructure:"time_zone"`
	// Hours maps a day ("mon".."sun", full names, or a range "mon-fri") to
	// its open periods, each "HH:MM-HH:MM" (end exclusive, "24:00" allowed).
	// A day not listed is closed.
	Hours map[string][]string `mapstructure:"hours"`
	// Holidays are dates ("2026-10-01", in TimeZone) closed all day.
	Holidays []string `mapstructure:"holidays"`
}

// RouteTimeConfig chooses a node by schedule.
type RouteTimeConfig struct {
	Schedule string `mapstructure:"schedule"`
	Open     string `mapstructure:"open"`
	Closed   string `mapstructure:"closed"`
}

// NodeConfig is one menu node: a greeting and the options the caller may
// pick. A node with route_time is a routing node instead: it plays nothing
// and passes the call on at once. A node with neither options nor patterns
// is an announcement: it plays its greeting and hangs up.
type NodeConfig struct {
	// Greeting names the prompt played on entering the node (required
	// unless RouteTime is set).
	Greeting string `mapstructure:"greeting" json:",omitzero"`
	// Prompt is an alias of Greeting, kept for older files.
	Prompt string `mapstructure:"prompt"`
	// ShortGreeting names the prompt replayed after an invalid key, a
	// timeout or a play option; default Greeting.
	ShortGreeting string `mapstructure:"short_greeting" json:",omitzero"`
	// InvalidPrompt, TimeoutPrompt and ExitPrompt override the tree's
	// invalid_prompt, timeout_prompt and goodbye_prompt.
	InvalidPrompt string `mapstructure:"invalid_prompt" json:",omitzero"`
	TimeoutPrompt string `mapstructure:"timeout_prompt" json:",omitzero"`
	ExitPrompt    string `mapstructure:"exit_prompt" json:",omitzero"`
	// DigitTimeout overrides Config.DigitTimeout; 0 = tree default.
	DigitTimeout time.Duration `mapstructure:"digit_timeout"`
	// InterDigitTimeout overrides Config.InterDigitTimeout.
	InterDigitTimeout time.Duration `mapstructure:"inter_digit_timeout" json:",omitzero"`
	// MaxRetries, MaxFailures, MaxTimeouts and their actions override the
	// tree's; 0 = tree default.
	MaxRetries        int          `mapstructure:"max_retries"`
	MaxFailures       int          `mapstructure:"max_failures" json:",omitzero"`
	MaxFailuresAction OptionConfig `mapstructure:"max_failures_action" json:",omitzero"`
	MaxTimeouts       int          `mapstructure:"max_timeouts" json:",omitzero"`
	MaxTimeoutsAction OptionConfig `mapstructure:"max_timeouts_action" json:",omitzero"`
	// DigitLen is the most keys one entry may have; default the longest
	// pattern (1 without patterns).
	DigitLen int `mapstructure:"digit_len" json:",omitzero"`
	// Terminator is a key ("#" or "*") that ends a multi-key entry early.
	// Default none: an entry ends when it matches, when it is DigitLen
	// long, or after the inter-digit timeout.
	Terminator string `mapstructure:"terminator" json:",omitzero"`
	// Options maps a key ("0".."9", "*", "#") to what it does.
	Options map[string]OptionConfig `mapstructure:"options"`
	// Patterns match multi-key entries, first match wins (see
	// PatternConfig). Options win over patterns.
	Patterns []PatternConfig `mapstructure:"patterns" json:",omitzero"`
	// RouteTime makes this a routing node.
	RouteTime RouteTimeConfig `mapstructure:"route_time" json:",omitzero"`
}

// PatternConfig binds an action to multi-key entries. Match is a sequence
// of key matchers, one per key: a key ("0".."9", "*", "#") or a class in
// brackets of keys and ranges ("[0-9]", "[1-5*]"). A pattern matches entries
// of exactly its length: "1[0-9][0-9]" matches 100 to 199.
type PatternConfig struct {
	Match        string `mapstructure:"match"`
	OptionConfig `mapstructure:",squash"`
}

// OptionConfig is what one key, pattern, global key or exceeded limit does.
// Which fields apply depends on Action (see the Action* constants); a field
// set for an action that does not use it is a Problem.
type OptionConfig struct {
	// Action is one of the Action* constants.
	Action string `mapstructure:"action"`
	// Target is the node entered by goto, and optionally after collect
	// and set_language.
	Target string `mapstructure:"target"`
	// Prompt is, for play, the prompt played before the node's short
	// greeting (required); for collect, the request ("enter your account
	// number, then hash"; required); for hangup, enqueue, freeze and
	// transfer, a prompt played first (optional).
	Prompt string `mapstructure:"prompt"`

	// Variable names the variable collect fills (letters, digits, _).
	Variable string `mapstructure:"variable" json:",omitzero"`
	// MinDigits and MaxDigits bound a collect (defaults
	// DefaultCollectMinDigits and DefaultCollectMaxDigits).
	MinDigits int `mapstructure:"min_digits" json:",omitzero"`
	MaxDigits int `mapstructure:"max_digits" json:",omitzero"`
	// Terminator ends a collect early ("#" or "*"; default "#").
	Terminator string `mapstructure:"terminator" json:",omitzero"`
	// Confirm reads the digits back and asks for 1 (correct) or 2 (enter
	// again).
	Confirm bool `mapstructure:"confirm" json:",omitzero"`
	// ReadbackPrompt and ConfirmPrompt override the tree's for this
	// collect.
	ReadbackPrompt string `mapstructure:"readback_prompt" json:",omitzero"`
	ConfirmPrompt  string `mapstructure:"confirm_prompt" json:",omitzero"`

	// Queue and Priority are enqueue's hold queue and caller priority
	// (higher first).
	Queue    string `mapstructure:"queue" json:",omitzero"`
	Priority int    `mapstructure:"priority" json:",omitzero"`
	// URI is transfer's destination, a sip: or sips: URI; ${input} is
	// replaced by the multi-key entry that chose the option and ${name} by
	// a collected variable.
	URI string `mapstructure:"uri" json:",omitzero"`
	// Trunk and Number are transfer's other form: Number (digits, an
	// optional leading +, no expansion) dialled through sip.trunks entry
	// Trunk. A transfer has either URI or both of these.
	Trunk  string `mapstructure:"trunk" json:",omitzero"`
	Number string `mapstructure:"number" json:",omitzero"`
	// Timeout is how long a transfer's target rings (default
	// DefaultTransferTimeout, at most MaxTransferTimeout).
	Timeout time.Duration `mapstructure:"timeout" json:",omitzero"`
	// FailedPrompt is played when a transfer's target is busy, does not
	// answer or cannot be reached, before the node's short greeting;
	// default the node's invalid prompt.
	FailedPrompt string `mapstructure:"failed_prompt" json:",omitzero"`
	// Language is set_language's language.
	Language string `mapstructure:"language" json:",omitzero"`
	// Schedule, Open and Closed are route_time's schedule and nodes.
	Schedule string `mapstructure:"schedule" json:",omitzero"`
	Open     string `mapstructure:"open" json:",omitzero"`
	Closed   string `mapstructure:"closed" json:",omitzero"`
}

// CompileOptions are the engine's capabilities, which decide what a
// configuration may use.
type CompileOptions struct {
	// Enabled names the actions whose subsystems the engine has built
	// (ActionEnqueue, ActionFreeze, ActionTransfer). Any other of these
	// actions fails validation.
	Enabled map[string]bool
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
// by path and message, or nil when c compiles with zero CompileOptions.
// Zero fields are read as their defaults.
func (c Config) Validate() error { return c.ValidateWith(CompileOptions{}) }

// ValidateWith is Validate for an engine with the capabilities in o.
func (c Config) ValidateWith(o CompileOptions) error {
	_, err := build(c, o)
	return err
}

// joinProblems sorts ps and joins them into one error.
func joinProblems(ps []*Problem) error {
	if len(ps) == 0 {
		return nil
	}
	slices.SortFunc(ps, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Msg, b.Msg))
	})
	ps = slices.CompactFunc(ps, func(a, b *Problem) bool { return *a == *b })
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// actionList renders the action names for messages.
func actionList() string {
	s := ""
	for i, a := range actionNames {
		switch {
		case i == 0:
		case i == len(actionNames)-1:
			s += " or "
		default:
			s += ", "
		}
		s += a
	}
	return s
}

func keyIndex(k byte) int {
	for i := range len(validKeys) {
		if validKeys[i] == k {
			return i
		}
	}
	return -1
}

func validKey(key string) bool { return len(key) == 1 && keyIndex(key[0]) >= 0 }

func isDigit(k byte) bool { return k >= '0' && k <= '9' }
