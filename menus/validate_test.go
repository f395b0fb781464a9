package menus

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConfig_ValidateFeatures checks the problems of the features beyond
// the first release, on featureConfig (each call builds fresh maps, so a
// change may mutate them).
func TestConfig_ValidateFeatures(t *testing.T) {
	t.Parallel()
	nodeOpt := func(c *Config, node, key string, o OptionConfig) {
		c.Nodes[node].Options[key] = o
	}
	setNode := func(c *Config, name string, f func(n *NodeConfig)) {
		n := c.Nodes[name]
		f(&n)
		c.Nodes[name] = n
	}
	addPattern := func(c *Config, match string, o OptionConfig) {
		setNode(c, "ext", func(n *NodeConfig) {
			n.Patterns = append(n.Patterns, PatternConfig{Match: match, OptionConfig: o})
		})
	}
	hours := OptionConfig{Action: ActionPlay, Prompt: "hours"}
	tests := []struct {
		name   string
		change func(c *Config)
		opts   CompileOptions
		want   []Problem
	}{
		{name: "valid", change: func(*Config) {}},
		{
			name:   "pattern unclosed class",
			change: func(c *Config) { addPattern(c, "3[0-9", hours) },
			want:   []Problem{{"menus.nodes.ext.patterns.3.match", `pattern "3[0-9": unclosed [`}},
		},
		{
			name:   "pattern bad key",
			change: func(c *Config) { addPattern(c, "3x", hours) },
			want:   []Problem{{"menus.nodes.ext.patterns.3.match", `pattern "3x": "x" is not a key or a [class] (want 0-9, *, # or [...])`}},
		},
		{
			name:   "pattern bad range",
			change: func(c *Config) { addPattern(c, "[5-3]", hours) },
			want:   []Problem{{"menus.nodes.ext.patterns.3.match", `pattern "[5-3]": bad range "5-3"`}},
		},
		{
			name:   "pattern missing match",
			change: func(c *Config) { addPattern(c, "", hours) },
			want:   []Problem{{"menus.nodes.ext.patterns.3.match", `match is required (keys and [classes], e.g. "1[0-9][0-9]")`}},
		},
		{
			name:   "pattern shadowed",
			change: func(c *Config) { addPattern(c, "1[2-3]5", hours) },
			want:   []Problem{{"menus.nodes.ext.patterns.3.match", `pattern "1[2-3]5" never matches: patterns.1 ("1[0-9][0-9]") matches every entry it does (first match wins)`}},
		},
		{
			name: "pattern duplicates an option key",
			change: func(c *Config) {
				nodeOpt(c, "ext", "5", hours)
				addPattern(c, "[4-6]", hours)
			},
			want: []Problem{{"menus.nodes.ext.patterns.3.match", `pattern "[4-6]" matches key 5, which options.5 already binds (duplicate key)`}},
		},
		{
			name:   "pattern starts with a global key",
			change: func(c *Config) { addPattern(c, "[0-3]1", hours) },
			want:   []Problem{{"menus.nodes.ext.patterns.3.match", `pattern "[0-3]1" can start with global key 0 (menus.global_keys.0), which always wins: leave 0 out of its first key`}},
		},
		{
			name:   "pattern uses the terminator",
			change: func(c *Config) { addPattern(c, "3#", hours) },
			want:   []Problem{{"menus.nodes.ext.patterns.3.match", `pattern "3#" uses the node's terminator #`}},
		},
		{
			name:   "pattern longer than digit_len",
			change: func(c *Config) { setNode(c, "ext", func(n *NodeConfig) { n.DigitLen = 2 }) },
			want: []Problem{
				{"menus.nodes.ext.patterns.0.match", `pattern "100" is 3 keys long, but digit_len is 2`},
				{"menus.nodes.ext.patterns.1.match", `pattern "1[0-9][0-9]" is 3 keys long, but digit_len is 2`},
			},
		},
		{
			name:   "option on a global key",
			change: func(c *Config) { nodeOpt(c, "main", "0", hours) },
			want:   []Problem{{"menus.nodes.main.options.0", "key 0 is a global key (menus.global_keys.0), which wins at every node: this option is never chosen"}},
		},
		{
			name:   "terminator on a one-key node",
			change: func(c *Config) { setNode(c, "open", func(n *NodeConfig) { n.Terminator = "#" }) },
			want:   []Problem{{"menus.nodes.open.terminator", "not used: the node takes one key per entry (set digit_len or patterns)"}},
		},
		{
			name:   "terminator is a global key",
			change: func(c *Config) { c.GlobalKeys["#"] = OptionConfig{Action: ActionTop} },
			want: []Problem{
				{"menus.nodes.ext.terminator", `terminator "#" is a global key (menus.global_keys.#), which wins on an entry's first key`},
				{"menus.nodes.main.options.2.terminator", `terminator "#" is a global key (menus.global_keys.#), which always wins`},
				{"menus.nodes.main.options.8.terminator", `terminator "#" is a global key (menus.global_keys.#), which always wins`},
			},
		},
		{
			name: "collect fields",
			change: func(c *Config) {
				nodeOpt(c, "main", "8", OptionConfig{Action: ActionCollect, Variable: "1pin", MinDigits: 5, MaxDigits: 4, Terminator: "5"})
			},
			want: []Problem{
				{"menus.nodes.main.options.8.min_digits", "5 is more than max_digits 4"},
				{"menus.nodes.main.options.8.prompt", "prompt is required"},
				{"menus.nodes.main.options.8.terminator", `invalid terminator "5" (want * or #: digits are input)`},
				{"menus.nodes.main.options.8.variable", `"1pin" is not a variable name (letters, digits and _, not starting with a digit)`},
			},
		},
		{
			name: "collect limits",
			change: func(c *Config) {
				nodeOpt(c, "main", "8", OptionConfig{Action: ActionCollect, Prompt: "account_ask", MaxDigits: 65})
			},
			want: []Problem{
				{"menus.nodes.main.options.8.max_digits", "at most 64 (got 65)"},
				{"menus.nodes.main.options.8.variable", "collect needs a variable name"},
			},
		},
		{
			name: "confirm needs digit prompts and read-back prompts",
			change: func(c *Config) {
				delete(c.DigitPrompts, "3")
				delete(c.DigitPrompts, "7")
				c.ReadbackPrompt, c.ConfirmPrompt = "", ""
			},
			want: []Problem{
				{"menus.nodes.main.options.2.confirm", "read-back needs menus.digit_prompts for every digit (missing 3, 7)"},
				{"menus.nodes.main.options.2.confirm_prompt", `confirm needs a confirm prompt ("press 1 if correct, 2 to enter again"): set it here or menus.confirm_prompt`},
				{"menus.nodes.main.options.2.readback_prompt", `confirm needs a read-back prompt ("you entered"): set it here or menus.readback_prompt`},
			},
		},
		{
			name: "confirm keys taken by a global key",
			change: func(c *Config) {
				c.GlobalKeys["2"] = OptionConfig{Action: ActionTop}
				delete(c.Nodes["main"].Options, "2")
				nodeOpt(c, "main", "3", OptionConfig{Action: ActionCollect, Variable: "v", Prompt: "account_ask", Confirm: true})
			},
			want: []Problem{
				{"menus.nodes.ext.patterns.2.match", `pattern "2[0-9]" can start with global key 2 (menus.global_keys.2), which always wins: leave 2 out of its first key`},
				{"menus.nodes.main.options.3.confirm", "the read-back answers with 1 (correct) and 2 (enter again), but 2 is a global key (menus.global_keys.2)"},
			},
		},
		{
			name:   "unknown language",
			change: func(c *Config) { nodeOpt(c, "main", "4", OptionConfig{Action: ActionSetLanguage, Language: "fr"}) },
			want:   []Problem{{"menus.nodes.main.options.4.language", `unknown language "fr" (defined: en (default), zh-cn)`}},
		},
		{
			name: "language problems",
			change: func(c *Config) {
				c.Languages["en"] = LanguageConfig{Prompts: map[string]PromptConfig{"main": {File: "x.wav"}}}
				c.Languages["fr"] = LanguageConfig{Prompts: map[string]PromptConfig{"mian": {File: "x.wav"}, "main": {Text: "menu"}}}
				c.Languages["de"] = LanguageConfig{}
			},
			want: []Problem{
				{"menus.languages.de.prompts", "no prompts: a language replaces at least one prompt of menus.prompts"},
				{"menus.languages.en", `"en" is the default language (menus.default_language): its prompts belong in menus.prompts`},
				{"menus.languages.fr.prompts.main.file", "file is required"},
				{"menus.languages.fr.prompts.mian", `unknown prompt "mian": a language only replaces prompts defined in menus.prompts`},
			},
		},
		{
			name: "route_time option problems",
			change: func(c *Config) {
				nodeOpt(c, "main", "3", OptionConfig{Action: ActionRouteTime, Schedule: "Office", Open: "open"})
			},
			want: []Problem{
				{"menus.nodes.main.options.3.closed", "route_time closed needs a target node"},
				{"menus.nodes.main.options.3.schedule", `unknown schedule "Office" (did you mean "office"? configuration keys are case-insensitive and read in lower case)`},
			},
		},
		{
			name: "schedule problems",
			change: func(c *Config) {
				c.Schedules["office"] = ScheduleConfig{
					TimeZone: "Mars/Olympus",
					Hours:    map[string][]string{"funday": {"09:00-17:00"}, "mon": {"18:00-09:00", "9-17", "08:00-24:00"}},
					Holidays: []string{"2026-13-01"},
				}
				c.Schedules["night"] = ScheduleConfig{TimeZone: "Local"}
			},
			want: []Problem{
				{"menus.schedules.night.hours", "no business hours: the schedule would always be closed"},
				{"menus.schedules.night.time_zone", `"Local" depends on the server: name a zone such as Asia/Shanghai`},
				{"menus.schedules.office.holidays.0", `bad date "2026-13-01" (want YYYY-MM-DD)`},
				{"menus.schedules.office.hours.funday", `unknown day "funday" (want mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)`},
				{"menus.schedules.office.hours.mon.0", `period "18:00-09:00": ends before it starts (split a period past midnight across two days)`},
				{"menus.schedules.office.hours.mon.1", `period "9-17": bad time "9" (want HH:MM)`},
				{"menus.schedules.office.time_zone", `unknown time zone "Mars/Olympus" (want an IANA name such as Asia/Shanghai)`},
			},
		},
		{
			name:   "enqueue not built",
			change: func(c *Config) { nodeOpt(c, "main", "8", OptionConfig{Action: ActionEnqueue, Queue: "sales"}) },
			want:   []Problem{{"menus.nodes.main.options.8.action", "action enqueue: no hold queue is configured (add one under queues)"}},
		},
		{
			name: "freeze not built",
			change: func(c *Config) {
				c.GlobalKeys["#"] = OptionConfig{Action: ActionFreeze}
				setNode(c, "ext", func(n *NodeConfig) { n.Terminator = "" })
			},
			want: []Problem{
				{"menus.global_keys.#.action", "action freeze: the account-freeze lane is off (set freeze.enabled: true)"},
				{"menus.nodes.main.options.2.terminator", `terminator "#" is a global key (menus.global_keys.#), which always wins`},
				{"menus.nodes.main.options.8.terminator", `terminator "#" is a global key (menus.global_keys.#), which always wins`},
			},
		},
		{
			name:   "transfer without a dialler",
			change: func(c *Config) { nodeOpt(c, "main", "8", OptionConfig{Action: ActionTransfer, URI: "sip:desk@pbx"}) },
			want:   []Problem{{"menus.nodes.main.options.8.action", "action transfer: transfers dial out with the queues' dialler: configure a queue (queues)"}},
		},
		{
			name: "transfer targets",
			change: func(c *Config) {
				nodeOpt(c, "main", "2", OptionConfig{Action: ActionTransfer, Trunk: "carrier", Number: "+4930123", Timeout: 10 * time.Second, FailedPrompt: "hours"})
				nodeOpt(c, "main", "4", OptionConfig{Action: ActionTransfer, URI: "sip:desk@pbx", Trunk: "carrier", Number: "123"})
				nodeOpt(c, "main", "5", OptionConfig{Action: ActionTransfer, Number: "123"})
				nodeOpt(c, "main", "6", OptionConfig{Action: ActionTransfer, Trunk: "carrier"})
				nodeOpt(c, "main", "8", OptionConfig{Action: ActionTransfer, Trunk: "carrier", Number: "${input}"})
				nodeOpt(c, "main", "9", OptionConfig{Action: ActionTransfer, URI: "sip:desk <x>@pbx"})
				nodeOpt(c, "main", "*", OptionConfig{Action: ActionTransfer, URI: "sip:desk@pbx", Timeout: -time.Second, FailedPrompt: "nope"})
				nodeOpt(c, "main", "#", OptionConfig{Action: ActionTransfer})
			},
			opts: enableAll,
			want: []Problem{
				{"menus.nodes.main.options.#.uri", "transfer needs a SIP URI (sip:user@host), or a trunk and a number"},
				{"menus.nodes.main.options.*.failed_prompt", `unknown prompt "nope"`},
				{"menus.nodes.main.options.*.timeout", "must be between 0 (default 30s) and 5m0s (got -1s)"},
				{"menus.nodes.main.options.4.uri", "transfer takes a uri or a trunk and a number, not both"},
				{"menus.nodes.main.options.5.trunk", "a transfer to a number needs the trunk (a sip.trunks name) to dial it through"},
				{"menus.nodes.main.options.6.number", "a transfer through a trunk needs the number to dial"},
				{"menus.nodes.main.options.8.number", `"${input}" is not a number (want digits with an optional leading +)`},
				{"menus.nodes.main.options.9.uri", `"sip:desk <x>@pbx" is not a SIP URI (want sip:user@host or sips:user@host)`},
			},
		},
		{
			name: "enabled subsystems still check their fields",
			change: func(c *Config) {
				nodeOpt(c, "main", "8", OptionConfig{Action: ActionEnqueue, Priority: -1})
				nodeOpt(c, "main", "6", OptionConfig{Action: ActionTransfer, URI: "tel:+123"})
				nodeOpt(c, "main", "5", OptionConfig{Action: ActionTransfer, URI: "sip:${input@x"})
			},
			opts: enableAll,
			want: []Problem{
				{"menus.nodes.main.options.5.uri", `"sip:${input@x": unclosed ${`},
				{"menus.nodes.main.options.6.uri", `"tel:+123" is not a SIP URI (want sip:user@host or sips:user@host)`},
				{"menus.nodes.main.options.8.priority", "must not be negative (got -1)"},
				{"menus.nodes.main.options.8.queue", "enqueue needs a queue name"},
			},
		},
		{
			name: "fields an action does not use",
			change: func(c *Config) {
				nodeOpt(c, "main", "5", OptionConfig{Action: ActionRepeat, Queue: "x", Confirm: true})
				nodeOpt(c, "main", "6", OptionConfig{Action: ActionPlay, Prompt: "hours", Variable: "v", Open: "open"})
			},
			want: []Problem{
				{"menus.nodes.main.options.5.confirm", "not used by repeat"},
				{"menus.nodes.main.options.5.queue", "not used by repeat"},
				{"menus.nodes.main.options.6.open", "not used by play"},
				{"menus.nodes.main.options.6.variable", "not used by play"},
			},
		},
		{
			name: "limit actions",
			change: func(c *Config) {
				setNode(c, "main", func(n *NodeConfig) { n.MaxFailuresAction = OptionConfig{Action: ActionPlay, Prompt: "hours"} })
				setNode(c, "open", func(n *NodeConfig) { n.MaxTimeoutsAction = OptionConfig{Action: ActionHangup} })
				setNode(c, "account", func(n *NodeConfig) {
					n.MaxTimeouts = 1
					n.MaxTimeoutsAction = OptionConfig{Action: ActionGoto, Target: "account"}
				})
			},
			want: []Problem{
				{"menus.nodes.account", "max_timeouts_action (menus.nodes.account.max_timeouts_action) enters this node again, so the caller could never leave it"},
				{"menus.nodes.main.max_failures_action.action", "play cannot end a limit: the caller would stay in the node (want goto, back, top, route_time, hangup, enqueue, freeze or transfer)"},
				{"menus.nodes.open.max_timeouts_action", "not used: max_timeouts is not set"},
				{"menus.nodes.operator", `unreachable from root node "main"`},
			},
		},
		{
			name: "greeting and its alias disagree",
			change: func(c *Config) {
				setNode(c, "open", func(n *NodeConfig) { n.Prompt = "hours" })
			},
			want: []Problem{{"menus.nodes.open.prompt", "prompt is an alias of greeting: set one of them"}},
		},
		{
			name: "route node with menu fields",
			change: func(c *Config) {
				setNode(c, "router", func(n *NodeConfig) {
					n.Greeting = "hours"
					n.Options = map[string]OptionConfig{"1": hours}
				})
			},
			want: []Problem{
				{"menus.nodes.router.greeting", "not used by a route_time node (it passes the call on at once)"},
				{"menus.nodes.router.options", "not used by a route_time node (it passes the call on at once)"},
			},
		},
		{
			name: "route nodes in a loop",
			change: func(c *Config) {
				c.Nodes["r2"] = NodeConfig{RouteTime: RouteTimeConfig{Schedule: "office", Open: "router", Closed: "closed"}}
				setNode(c, "router", func(n *NodeConfig) { n.RouteTime.Closed = "r2" })
			},
			want: []Problem{{"menus.nodes.r2.route_time", "route_time nodes route in a loop: r2 → router → r2"}},
		},
		{
			name: "no way forward",
			change: func(c *Config) {
				c.GlobalKeys = nil
				nodeOpt(c, "main", "5", OptionConfig{Action: ActionGoto, Target: "stuck"})
				c.Nodes["stuck"] = NodeConfig{Greeting: "hours", Options: map[string]OptionConfig{"1": hours, "2": {Action: ActionRepeat}}}
			},
			want: []Problem{{"menus.nodes.stuck", "no way forward: no option, pattern or global key leaves this node (add a goto, back, top or hangup option)"}},
		},
		{
			name: "cycle with no exit",
			change: func(c *Config) {
				c.GlobalKeys = nil
				nodeOpt(c, "main", "5", OptionConfig{Action: ActionGoto, Target: "a"})
				c.Nodes["a"] = NodeConfig{Greeting: "hours", Options: map[string]OptionConfig{"1": {Action: ActionGoto, Target: "b"}}}
				c.Nodes["b"] = NodeConfig{Greeting: "hours", Options: map[string]OptionConfig{"1": {Action: ActionGoto, Target: "a"}, "2": hours}}
			},
			want: []Problem{
				{"menus.nodes.a", "every path from here loops without an end: no hangup, enqueue, freeze or transfer is reachable by keys (through a, b)"},
				{"menus.nodes.b", "every path from here loops without an end: no hangup, enqueue, freeze or transfer is reachable by keys (through b, a)"},
			},
		},
		{
			name: "back leads out of a cycle",
			change: func(c *Config) {
				c.GlobalKeys = nil
				nodeOpt(c, "main", "5", OptionConfig{Action: ActionGoto, Target: "a"})
				c.Nodes["a"] = NodeConfig{Greeting: "hours", Options: map[string]OptionConfig{"1": {Action: ActionGoto, Target: "b"}, "*": {Action: ActionBack}}}
				c.Nodes["b"] = NodeConfig{Greeting: "hours", Options: map[string]OptionConfig{"1": {Action: ActionGoto, Target: "a"}}}
			},
		},
		{
			name: "digit prompts",
			change: func(c *Config) {
				c.DigitPrompts["x"] = "d1"
				c.DigitPrompts["*"] = "star"
			},
			want: []Problem{
				{"menus.digit_prompts.*", `unknown prompt "star"`},
				{"menus.digit_prompts.x", `invalid key "x" (want one of 0-9, * or #)`},
			},
		},
		{
			name: "prompt name with a slash",
			change: func(c *Config) {
				c.Prompts["zh/main"] = PromptConfig{File: "x.wav"}
			},
			want: []Problem{{"menus.prompts.zh/main", `prompt names must not contain "/" (it separates a language from a prompt in prompt IDs)`}},
		},
		{
			name: "negative new limits",
			change: func(c *Config) {
				c.InterDigitTimeout = -1
				c.MaxTimeouts = -1
				setNode(c, "open", func(n *NodeConfig) { n.DigitLen = -2; n.MaxFailures = -3 })
			},
			want: []Problem{
				{"menus.inter_digit_timeout", "must not be negative (got -1ns)"},
				{"menus.max_timeouts", "must not be negative (got -1)"},
				{"menus.nodes.open.digit_len", "must not be negative (got -2)"},
				{"menus.nodes.open.max_failures", "must not be negative (got -3)"},
			},
		},
		{
			name: "global key problems",
			change: func(c *Config) {
				c.GlobalKeys["a"] = OptionConfig{Action: ActionTop}
				c.GlobalKeys["*"] = OptionConfig{Action: ActionGoto, Target: "nowhere"}
			},
			want: []Problem{
				{"menus.global_keys.*.target", `unknown node "nowhere"`},
				{"menus.global_keys.a", `invalid key "a" (want one of 0-9, * or #)`},
				{"menus.nodes.account.options.*", "key * is a global key (menus.global_keys.*), which wins at every node: this option is never chosen"},
				{"menus.nodes.ext.options.*", "key * is a global key (menus.global_keys.*), which wins at every node: this option is never chosen"},
				{"menus.nodes.open.options.*", "key * is a global key (menus.global_keys.*), which wins at every node: this option is never chosen"},
				{"menus.nodes.operator.options.*", "key * is a global key (menus.global_keys.*), which wins at every node: this option is never chosen"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := featureConfig()
			tc.change(&c)
			err := c.ValidateWith(tc.opts)
			var got []Problem
			for _, p := range problems(err) {
				got = append(got, *p)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tc.want)
			}
			if _, cerr := CompileWith(c, tc.opts); (cerr == nil) != (err == nil) {
				t.Errorf("CompileWith error %v, ValidateWith %v", cerr, err)
			}
		})
	}
}

func TestCompile_EnabledSubsystems(t *testing.T) {
	t.Parallel()
	c := enabledConfig()
	if _, err := Compile(c); err == nil {
		t.Fatal("Compile accepted enqueue, freeze and transfer with no subsystem enabled")
	}
	if _, err := CompileWith(c, enableAll); err != nil {
		t.Fatal(err)
	}
	only := CompileOptions{Enabled: map[string]bool{ActionFreeze: true, ActionTransfer: true}}
	err := c.ValidateWith(only)
	if ps := problems(err); len(ps) != 1 || !strings.Contains(ps[0].Msg, "no hold queue is configured") {
		t.Errorf("with enqueue disabled: %v", err)
	}
}
