package queue

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Strategy chooses which ready agent is offered the next caller.
type Strategy string

// Strategies.
const (
	// StrategyRingAll rings every ready agent at once; the first to
	// answer takes the caller and the others stop ringing.
	StrategyRingAll Strategy = "ring-all"
	// StrategyLongestIdle rings the agent who has been ready the longest
	// since their last call (or since logging in). The default.
	StrategyLongestIdle Strategy = "longest-idle"
	// StrategyRoundRobin rings agents in turn, in the order they first
	// appeared, starting after the agent rung last.
	StrategyRoundRobin Strategy = "round-robin"
	// StrategyFewestCalls rings the agent who has answered the fewest
	// calls from this queue; ties go to the longest idle.
	StrategyFewestCalls Strategy = "fewest-calls"
	// StrategyRandom rings a ready agent chosen uniformly at random from
	// the source given by WithRand.
	StrategyRandom Strategy = "random"
)

var strategies = []Strategy{StrategyRingAll, StrategyLongestIdle, StrategyRoundRobin, StrategyFewestCalls, StrategyRandom}

// CallbackMode orders the two legs of a callback.
type CallbackMode string

// Callback modes.
const (
	// CallbackAgentFirst reserves an agent (rings and gets an answer)
	// before the caller is dialled, so the caller never waits on hold
	// again. The default.
	CallbackAgentFirst CallbackMode = "agent-first"
	// CallbackCustomerFirst dials the caller when their turn is near and
	// puts them back in the queue, at their kept place, once they answer.
	CallbackCustomerFirst CallbackMode = "customer-first"
)

// NoAgentsPolicy says what a queue does while no agent is logged in (every
// agent is logged out; a paused agent is logged in).
type NoAgentsPolicy string

// No-agents policies.
const (
	// NoAgentsJoin lets callers join and wait. The default; the max wait
	// still offers them a callback.
	NoAgentsJoin NoAgentsPolicy = "join"
	// NoAgentsRefuse refuses new callers (Join returns ErrNoAgents);
	// callers already waiting stay.
	NoAgentsRefuse NoAgentsPolicy = "refuse"
	// NoAgentsLeaveWhenEmpty refuses new callers and, when the last agent
	// logs out, offers every waiting caller a callback
	// (ReasonNoAgents): the caller takes it or leaves.
	NoAgentsLeaveWhenEmpty NoAgentsPolicy = "leave-when-empty"
)

// Defaults applied by New (and assumed by Validate) when a field is zero.
const (
	DefaultStrategy         = StrategyLongestIdle
	DefaultRingTimeout      = 20 * time.Second
	DefaultMaxWait          = 5 * time.Minute
	DefaultServiceTime      = 3 * time.Minute
	DefaultAbandonWindow    = 5 * time.Minute
	DefaultAnnounceInterval = time.Minute
	DefaultCallbackMode     = CallbackAgentFirst
	DefaultCallbackAttempts = 3
	DefaultCallbackRetry    = 5 * time.Minute
	DefaultNoAgents         = NoAgentsJoin
	// DefaultCallbackPerNumber callbacks a day for one number; DefaultCallbackPerDay for
	// one queue.
	DefaultCallbackPerNumber = 3
	DefaultCallbackPerDay    = 1000
)

// pathPrefix is the configuration key under which cmd decodes the queues
// (a map from queue name to Config); every Problem path starts with it.
const pathPrefix = "queues"

// validKeys are the DTMF keys an exit key may be.
const validKeys = "0123456789*#"

// Config is one queue's configuration, pure data decoded by viper
// (mapstructure tags) in cmd. The zero value of every field means its
// default. Under the "queues" section the map key is the queue's name;
// cmd copies it into Name when the file leaves name out.
type Config struct {
	// Name identifies the queue in the configuration, the admin API and
	// the store (required).
	Name string `mapstructure:"name"`
	// Strategy chooses the agent; default DefaultStrategy.
	Strategy Strategy `mapstructure:"strategy"`
	// RingTimeout is how long an agent rings before the caller is offered
	// to the next agent; default DefaultRingTimeout.
	RingTimeout time.Duration `mapstructure:"ring_timeout"`
	// WrapUp is how long an agent stays in wrap-up after a call before
	// being offered another; default 0 (none).
	WrapUp time.Duration `mapstructure:"wrap_up"`
	// MaxLength caps the callers waiting on the line (callbacks do not
	// count); Join returns ErrFull beyond it. 0 means no cap.
	MaxLength int `mapstructure:"max_length"`
	// MaxWait is how long a caller waits on the line before being offered
	// a callback (and again every MaxWait after a refusal); a caller whose
	// estimate already exceeds it is offered one on joining. Default
	// DefaultMaxWait.
	MaxWait time.Duration `mapstructure:"max_wait"`
	// ServiceTime is the handling time assumed for the estimate until
	// calls have been served; default DefaultServiceTime.
	ServiceTime time.Duration `mapstructure:"service_time"`
	// AbandonWindow is how long the place of a caller who hung up while
	// waiting is kept: calling again from the same number within it
	// resumes the old place. Default DefaultAbandonWindow.
	AbandonWindow time.Duration `mapstructure:"abandon_window"`
	// NoAgents is the policy while no agent is logged in; default
	// DefaultNoAgents.
	NoAgents NoAgentsPolicy `mapstructure:"no_agents"`
	// ExitKey is a key ("0"-"9", "*", "#") that takes a waiting caller out
	// of the queue with a callback offer; "" for none. The queue only
	// carries it; ivr listens for it.
	ExitKey string `mapstructure:"exit_key"`
	// AnnounceInterval is how often a waiting caller hears their position
	// and estimated wait; default DefaultAnnounceInterval.
	AnnounceInterval time.Duration `mapstructure:"announce_interval"`
	// Callback is the callback policy.
	Callback CallbackConfig `mapstructure:"callback"`
}

// CallbackConfig is a queue's callback policy.
type CallbackConfig struct {
	// Mode orders the agent and caller legs; default DefaultCallbackMode.
	Mode CallbackMode `mapstructure:"mode"`
	// InitialDelay is how long after the caller accepts a callback it
	// becomes due; default 0.
	InitialDelay time.Duration `mapstructure:"initial_delay"`
	// MaxAttempts is how many times the caller is dialled before the
	// callback fails; default DefaultCallbackAttempts.
	MaxAttempts int `mapstructure:"max_attempts"`
	// RetryDelay is the pause after an unanswered attempt; default
	// DefaultCallbackRetry.
	RetryDelay time.Duration `mapstructure:"retry_delay"`
	// CallerID is the number presented to the caller on the callback;
	// "" uses the trunk's default.
	CallerID string `mapstructure:"caller_id"`
	// Allow lists the numbers callbacks may dial (DialPlan patterns). Empty: callbacks
	// through a trunk dial nothing, and callbacks without a trunk reach only phones
	// registered with Hotline.
	Allow []string `mapstructure:"allow"`
	// Deny lists numbers never dialled, checked before Allow, besides DefaultCallbackDeny.
	Deny []string `mapstructure:"deny"`
	// DropDefaultDeny leaves DefaultCallbackDeny out (where national numbering makes it
	// wrong); Deny then stands alone.
	DropDefaultDeny bool `mapstructure:"drop_default_deny"`
	// MaxPerNumber caps the callbacks stored for one number in a day (across queues);
	// default DefaultCallbackPerNumber.
	MaxPerNumber int `mapstructure:"max_per_number"`
	// MaxPerDay caps the callbacks this queue stores in a day; default
	// DefaultCallbackPerDay.
	MaxPerDay int `mapstructure:"max_per_day"`
}

// DialPlan compiles Allow and Deny (checked by Validate).
func (c CallbackConfig) DialPlan() DialPlan {
	p, _ := CompileDialPlan(c.Allow, c.Deny, c.DropDefaultDeny)
	return p
}

// Limits returns the per-number and per-day caps with their defaults.
func (c CallbackConfig) Limits() (perNumber, perDay int) {
	perNumber, perDay = c.MaxPerNumber, c.MaxPerDay
	if perNumber == 0 {
		perNumber = DefaultCallbackPerNumber
	}
	if perDay == 0 {
		perDay = DefaultCallbackPerDay
	}
	return perNumber, perDay
}

// Problem is one configuration error. Path is the configuration key at
// fault, such as "queues.billing.strategy".
type Problem struct {
	Path string
	Msg  string
}

// Error implements error.
func (p *Problem) Error() string { return p.Path + ": " + p.Msg }

// Validate reports every problem in c as an errors.Join of *Problem, sorted
// by path and message, or nil when c is usable. Zero fields are read as
// their defaults.
func (c Config) Validate() error {
	var ps []*Problem
	base := pathPrefix + "." + c.Name
	add := func(key, format string, args ...any) {
		ps = append(ps, &Problem{Path: base + "." + key, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Name == "":
		base = pathPrefix + ".(unnamed)"
		add("name", "name is required")
	case strings.ContainsAny(c.Name, ". \t\r\n"):
		add("name", "must not contain dots or spaces (got %q)", c.Name)
	}
	if c.Strategy != "" && !slices.Contains(strategies, c.Strategy) {
		add("strategy", "unknown strategy %q (want one of %s)", c.Strategy, joinNames(strategies))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"ring_timeout", c.RingTimeout},
		{"wrap_up", c.WrapUp},
		{"max_wait", c.MaxWait},
		{"service_time", c.ServiceTime},
		{"abandon_window", c.AbandonWindow},
		{"announce_interval", c.AnnounceInterval},
		{"callback.initial_delay", c.Callback.InitialDelay},
		{"callback.retry_delay", c.Callback.RetryDelay},
	} {
		if d.v < 0 {
			add(d.key, "must not be negative (got %v)", d.v)
		}
	}
	if c.MaxLength < 0 {
		add("max_length", "must not be negative (got %d)", c.MaxLength)
	}
	if c.Callback.MaxAttempts < 0 {
		add("callback.max_attempts", "must not be negative (got %d)", c.Callback.MaxAttempts)
	}
	if c.Callback.MaxPerNumber < 0 {
		add("callback.max_per_number", "must not be negative (got %d)", c.Callback.MaxPerNumber)
	}
	if c.Callback.MaxPerDay < 0 {
		add("callback.max_per_day", "must not be negative (got %d)", c.Callback.MaxPerDay)
	}
	for key, pats := range map[string][]string{"callback.allow": c.Callback.Allow, "callback.deny": c.Callback.Deny} {
		for i, src := range pats {
			if _, err := compilePattern(src); err != nil {
				add(fmt.Sprintf("%s.%d", key, i), "%v", err)
			}
		}
	}
	switch c.NoAgents {
	case "", NoAgentsJoin, NoAgentsRefuse, NoAgentsLeaveWhenEmpty:
	default:
		add("no_agents", "unknown policy %q (want one of %s)", c.NoAgents,
			joinNames([]NoAgentsPolicy{NoAgentsJoin, NoAgentsRefuse, NoAgentsLeaveWhenEmpty}))
	}
	switch c.Callback.Mode {
	case "", CallbackAgentFirst, CallbackCustomerFirst:
	default:
		add("callback.mode", "unknown mode %q (want one of %s)", c.Callback.Mode,
			joinNames([]CallbackMode{CallbackAgentFirst, CallbackCustomerFirst}))
	}
	if k := c.ExitKey; k != "" && (len(k) != 1 || !strings.Contains(validKeys, k)) {
		add("exit_key", "invalid key %q (want one of 0-9, * or #)", k)
	}
	if strings.ContainsFunc(c.Callback.CallerID, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		add("callback.caller_id", "must not contain control characters")
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortFunc(ps, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Msg, b.Msg))
	})
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Strategy = cmp.Or(c.Strategy, DefaultStrategy)
	c.RingTimeout = cmp.Or(c.RingTimeout, DefaultRingTimeout)
	c.MaxWait = cmp.Or(c.MaxWait, DefaultMaxWait)
	c.ServiceTime = cmp.Or(c.ServiceTime, DefaultServiceTime)
	c.AbandonWindow = cmp.Or(c.AbandonWindow, DefaultAbandonWindow)
	c.AnnounceInterval = cmp.Or(c.AnnounceInterval, DefaultAnnounceInterval)
	c.NoAgents = cmp.Or(c.NoAgents, DefaultNoAgents)
	c.Callback.Mode = cmp.Or(c.Callback.Mode, DefaultCallbackMode)
	c.Callback.MaxAttempts = cmp.Or(c.Callback.MaxAttempts, DefaultCallbackAttempts)
	c.Callback.RetryDelay = cmp.Or(c.Callback.RetryDelay, DefaultCallbackRetry)
	return c
}

func joinNames[S ~string](vs []S) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = string(v)
	}
	return strings.Join(q, ", ")
}
