package menus

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

const allActions = "goto, back, top, repeat, play, collect, set_language, route_time, enqueue, freeze, transfer or hangup"

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	type change func(c *Config)
	node := func(name string, f func(n *NodeConfig)) change {
		return func(c *Config) {
			n := c.Nodes[name]
			n.Options = maps.Clone(n.Options)
			f(&n)
			c.Nodes[name] = n
		}
	}
	option := func(nodeName, key string, o OptionConfig) change {
		return node(nodeName, func(n *NodeConfig) { n.Options[key] = o })
	}
	tests := []struct {
		name   string
		change change
		want   []Problem
	}{
		{name: "valid", change: func(*Config) {}},
		{
			name:   "root unknown",
			change: func(c *Config) { c.Root = "start" },
			want:   []Problem{{"menus.root", `unknown node "start"`}},
		},
		{
			name: "default root missing",
			change: func(c *Config) {
				c.Nodes["start"] = c.Nodes["main"]
				delete(c.Nodes, "main")
				c.Nodes["billing"] = NodeConfig{Prompt: "billing_menu"}
				c.Nodes["support"] = NodeConfig{Prompt: "support_menu"}
			},
			want: []Problem{{"menus.root", `unknown node "main"`}},
		},
		{
			name:   "no nodes",
			change: func(c *Config) { c.Nodes = nil },
			want: []Problem{
				{"menus.nodes", "no nodes defined"},
				{"menus.root", `unknown node "main"`},
			},
		},
		{
			name:   "node without prompt",
			change: node("support", func(n *NodeConfig) { n.Prompt = "" }),
			want:   []Problem{{"menus.nodes.support.greeting", "greeting is required (or its alias prompt)"}},
		},
		{
			name:   "unknown node prompt",
			change: node("support", func(n *NodeConfig) { n.Prompt = "nope" }),
			want:   []Problem{{"menus.nodes.support.prompt", `unknown prompt "nope"`}},
		},
		{
			name:   "unknown option prompt",
			change: option("main", "2", OptionConfig{Action: ActionPlay, Prompt: "nope"}),
			want:   []Problem{{"menus.nodes.main.options.2.prompt", `unknown prompt "nope"`}},
		},
		{
			name:   "unknown hangup prompt",
			change: option("main", "9", OptionConfig{Action: ActionHangup, Prompt: "nope"}),
			want:   []Problem{{"menus.nodes.main.options.9.prompt", `unknown prompt "nope"`}},
		},
		{
			name: "unknown tree prompts",
			change: func(c *Config) {
				c.InvalidPrompt, c.TimeoutPrompt, c.GoodbyePrompt = "a", "b", "c"
			},
			want: []Problem{
				{"menus.goodbye_prompt", `unknown prompt "c"`},
				{"menus.invalid_prompt", `unknown prompt "a"`},
				{"menus.timeout_prompt", `unknown prompt "b"`},
			},
		},
		{
			name:   "unknown goto target",
			change: option("billing", "3", OptionConfig{Action: ActionGoto, Target: "sales"}),
			want:   []Problem{{"menus.nodes.billing.options.3.target", `unknown node "sales"`}},
		},
		{
			name:   "goto target differs in case",
			change: option("billing", "3", OptionConfig{Action: ActionGoto, Target: "Support"}),
			want: []Problem{{"menus.nodes.billing.options.3.target",
				`unknown node "Support" (did you mean "support"? configuration keys are case-insensitive and read in lower case)`}},
		},
		{
			name:   "goto missing target",
			change: option("main", "1", OptionConfig{Action: ActionGoto}),
			// billing is unreachable too, but that follows from the broken goto.
			want: []Problem{{"menus.nodes.main.options.1.target", "goto needs a target node"}},
		},
		{
			name:   "goto with prompt",
			change: option("main", "1", OptionConfig{Action: ActionGoto, Target: "billing", Prompt: "hours"}),
			want:   []Problem{{"menus.nodes.main.options.1.prompt", "not used by goto (the target node plays its own prompt)"}},
		},
		{
			name:   "play missing prompt",
			change: option("main", "2", OptionConfig{Action: ActionPlay}),
			want:   []Problem{{"menus.nodes.main.options.2.prompt", "prompt is required"}},
		},
		{
			name:   "play with target",
			change: option("main", "2", OptionConfig{Action: ActionPlay, Prompt: "hours", Target: "main"}),
			want:   []Problem{{"menus.nodes.main.options.2.target", "not used by play"}},
		},
		{
			name:   "hangup with target",
			change: option("main", "0", OptionConfig{Action: ActionHangup, Target: "main"}),
			want:   []Problem{{"menus.nodes.main.options.0.target", "not used by hangup"}},
		},
		{
			name:   "unknown action",
			change: option("main", "5", OptionConfig{Action: "jump"}),
			want:   []Problem{{"menus.nodes.main.options.5.action", `unknown action "jump" (want ` + allActions + `)`}},
		},
		{
			name:   "missing action",
			change: option("main", "5", OptionConfig{}),
			want:   []Problem{{"menus.nodes.main.options.5.action", "action is required (" + allActions + ")"}},
		},
		{
			name:   "invalid key letter",
			change: option("main", "a", OptionConfig{Action: ActionHangup}),
			want:   []Problem{{"menus.nodes.main.options.a", `invalid key "a" (want one of 0-9, * or #)`}},
		},
		{
			name:   "invalid key two digits",
			change: option("main", "12", OptionConfig{Action: ActionHangup}),
			want:   []Problem{{"menus.nodes.main.options.12", `invalid key "12" (want one of 0-9, * or #)`}},
		},
		{
			name:   "prompt with empty file",
			change: func(c *Config) { c.Prompts["hours"] = PromptConfig{File: " ", Text: "x"} },
			want:   []Problem{{"menus.prompts.hours.file", "file is required"}},
		},
		{
			name:   "empty names",
			change: func(c *Config) { c.Prompts[""] = PromptConfig{File: "x.wav"}; c.Nodes[""] = NodeConfig{} },
			want: []Problem{
				{"menus.nodes", "node with an empty name"},
				{"menus.prompts", "prompt with an empty name"},
			},
		},
		{
			name: "negative timeouts and retries",
			change: func(c *Config) {
				c.DigitTimeout = -time.Second
				c.MaxRetries = -1
				n := c.Nodes["support"]
				n.DigitTimeout = -time.Millisecond
				n.MaxRetries = -2
				c.Nodes["support"] = n
			},
			want: []Problem{
				{"menus.digit_timeout", "must not be negative (got -1s)"},
				{"menus.max_retries", "must not be negative (got -1)"},
				{"menus.nodes.support.digit_timeout", "must not be negative (got -1ms)"},
				{"menus.nodes.support.max_retries", "must not be negative (got -2)"},
			},
		},
		{
			name:   "unreachable node",
			change: func(c *Config) { c.Nodes["orphan"] = NodeConfig{Prompt: "hours"} },
			want:   []Problem{{"menus.nodes.orphan", `unreachable from root node "main"`}},
		},
		{
			name: "unreachable cycle",
			change: func(c *Config) {
				c.Nodes["a"] = NodeConfig{Prompt: "hours", Options: map[string]OptionConfig{"1": {Action: ActionGoto, Target: "b"}}}
				c.Nodes["b"] = NodeConfig{Prompt: "hours", Options: map[string]OptionConfig{"1": {Action: ActionGoto, Target: "a"}}}
			},
			want: []Problem{
				{"menus.nodes.a", `unreachable from root node "main"`},
				{"menus.nodes.b", `unreachable from root node "main"`},
			},
		},
		{
			name: "many problems sorted",
			change: func(c *Config) {
				c.Nodes["support"] = NodeConfig{Options: map[string]OptionConfig{
					"x": {Action: "jump"},
					"#": {Action: ActionGoto, Target: "zzz"},
					"1": {Action: ActionPlay},
				}}
			},
			want: []Problem{
				{"menus.nodes.support.greeting", "greeting is required (or its alias prompt)"},
				{"menus.nodes.support.options.#.target", `unknown node "zzz"`},
				{"menus.nodes.support.options.1.prompt", "prompt is required"},
				{"menus.nodes.support.options.x", `invalid key "x" (want one of 0-9, * or #)`},
				{"menus.nodes.support.options.x.action", `unknown action "jump" (want ` + allActions + `)`},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := demoConfig()
			tc.change(&c)
			err := c.Validate()
			var got []Problem
			for _, p := range problems(err) {
				got = append(got, *p)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate() problems:\n got %q\nwant %q", got, tc.want)
			}
			if _, cerr := Compile(c); (cerr == nil) != (err == nil) || (err != nil && cerr.Error() != err.Error()) {
				t.Errorf("Compile() error = %v, want Validate's %v", cerr, err)
			}
		})
	}
}

func TestProblem_Error(t *testing.T) {
	t.Parallel()
	p := &Problem{Path: "menus.nodes.main.options.7.target", Msg: `unknown node "x"`}
	if got, want := p.Error(), `menus.nodes.main.options.7.target: unknown node "x"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestCompile_Defaults(t *testing.T) {
	t.Parallel()
	c := demoConfig()
	c.MaxRetries = 0
	tr, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Root(); got != DefaultRoot {
		t.Errorf("Root() = %q, want %q", got, DefaultRoot)
	}
	main, billing := tr.nodes["main"], tr.nodes["billing"]
	if main.digitTimeout != DefaultDigitTimeout || main.maxRetries != DefaultMaxRetries {
		t.Errorf("main: timeout %v retries %d, want tree defaults %v %d",
			main.digitTimeout, main.maxRetries, DefaultDigitTimeout, DefaultMaxRetries)
	}
	if billing.digitTimeout != 3*time.Second || billing.maxRetries != 1 {
		t.Errorf("billing: timeout %v retries %d, want node overrides 3s 1", billing.digitTimeout, billing.maxRetries)
	}
}

func TestTree_Version(t *testing.T) {
	t.Parallel()
	version := func(c Config) string {
		t.Helper()
		tr, err := Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		return tr.Version()
	}
	base := version(demoConfig())
	if len(base) != 12 {
		t.Errorf("Version() = %q, want 12 hex digits", base)
	}
	if again := version(demoConfig()); again != base {
		t.Errorf("Version() not deterministic: %q then %q", base, again)
	}
	explicit := demoConfig()
	explicit.Root, explicit.DigitTimeout = DefaultRoot, DefaultDigitTimeout
	if v := version(explicit); v != base {
		t.Errorf("explicit defaults changed Version(): %q, want %q", v, base)
	}
	changed := demoConfig()
	changed.Prompts["hours"] = PromptConfig{File: "prompts/hours2.wav"}
	if v := version(changed); v == base {
		t.Errorf("changed prompt file kept Version() %q", v)
	}
}

func TestTree_PromptsIsACopy(t *testing.T) {
	t.Parallel()
	c := demoConfig()
	tr, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Prompts["hours"] = PromptConfig{File: "changed-after-compile.wav"}
	p := tr.Prompts()
	if p["hours"].File != "prompts/hours.wav" {
		t.Errorf("tree aliases the config's prompt map: %q", p["hours"].File)
	}
	delete(p, "hours")
	if _, ok := tr.Prompts()["hours"]; !ok {
		t.Error("Prompts() returned the tree's own map")
	}
}

func TestTree_PromptRefsAndLanguages(t *testing.T) {
	t.Parallel()
	tr, err := Compile(featureConfig())
	if err != nil {
		t.Fatal(err)
	}
	refs := tr.PromptRefs()
	if !slices.IsSortedFunc(refs, func(a, b PromptRef) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("PromptRefs not sorted by ID")
	}
	byID := map[string]PromptRef{}
	for _, r := range refs {
		byID[r.ID] = r
	}
	if got, want := len(refs), len(featureConfig().Prompts)+2; got != want {
		t.Errorf("%d prompt refs, want %d", got, want)
	}
	want := PromptRef{ID: "zh-cn/main", Name: "main", Language: "zh-cn", Path: "menus.languages.zh-cn.prompts.main",
		PromptConfig: PromptConfig{File: "prompts/zh/main.wav", Text: "主菜单"}}
	if got := byID["zh-cn/main"]; got != want {
		t.Errorf("zh-cn/main ref = %+v, want %+v", got, want)
	}
	if got := byID["hours"]; got.Path != "menus.prompts.hours" || got.Language != "" {
		t.Errorf("hours ref = %+v", got)
	}
	if p, ok := tr.Prompt("zh-cn/d1"); !ok || p.Text != "一" {
		t.Errorf("Prompt(zh-cn/d1) = %+v, %v", p, ok)
	}
	if _, ok := tr.Prompts()["zh-cn/d1"]; !ok {
		t.Error("Prompts() lacks the language's prompts")
	}
	if got := tr.Languages(); !slices.Equal(got, []string{"zh-cn"}) {
		t.Errorf("Languages() = %v", got)
	}
	if got := tr.DefaultLanguage(); got != "en" {
		t.Errorf("DefaultLanguage() = %q", got)
	}
	if got := tr.Nodes(); !slices.Equal(got, []string{"account", "closed", "ext", "main", "open", "operator", "router"}) {
		t.Errorf("Nodes() = %v", got)
	}
}

func TestTree_VersionStableForOldConfigs(t *testing.T) {
	t.Parallel()
	// The first release hashed demoConfig to this; new, zero fields must not
	// change it, so a reload of an unchanged file is not a new tree.
	tr, err := Compile(demoConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tr.Version(), "215ebf4ac071"; got != want {
		t.Errorf("Version() = %s, want %s", got, want)
	}
	alias := demoConfig()
	n := alias.Nodes["support"]
	n.Greeting, n.Prompt = n.Prompt, ""
	alias.Nodes["support"] = n
	if tr2, _ := Compile(alias); tr2.Version() != tr.Version() {
		t.Errorf("greeting instead of its alias prompt changed the version")
	}
}

func TestTree_Graph(t *testing.T) {
	t.Parallel()
	tr, err := Compile(demoConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := `menu main: main | plays main_menu | 2: play hours
menu billing: billing | plays billing_menu | 1: play hours
menu support: support | plays support_menu
end (hangup): hang up
main -> (hangup) [key] 0
main -> billing [key] 1
main -> support [key] 3
main -> (hangup) [key] 9
main -> (hangup) [limit] failures > 2
billing -> main [key] *
billing -> (hangup) [limit] failures > 1
support -> main [key] #
support -> (hangup) [limit] failures > 2
`
	if got := tr.Graph().String(); got != want {
		t.Errorf("Graph():\n%s\nwant\n%s", got, want)
	}
}

func TestSchedule_Open(t *testing.T) {
	t.Parallel()
	tr, err := Compile(featureConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := tr.schedules["office"]
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{time.Time{}, true},
		{monMorning, true},
		{monLunch, false},
		{monUTC, true},
		{at("2026-11-23T08:59:59+08:00"), false},
		{at("2026-11-23T09:00:00+08:00"), true},
		{at("2026-11-23T17:59:59+08:00"), true},
		{at("2026-11-23T18:00:00+08:00"), false},
		{satOpen, true},
		{satClosed, false},
		{at("2026-11-22T10:00:00+08:00"), false}, // Sunday
		{holiday, false},
		{at("2026-09-30T23:30:00Z"), false}, // 07:30 on the holiday in Shanghai
	} {
		if got := s.open(tc.at); got != tc.want {
			t.Errorf("open(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestParseDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]time.Weekday{
		"mon":     {time.Monday},
		"Sunday":  {time.Sunday},
		"mon-fri": {time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		"fri-mon": {time.Friday, time.Saturday, time.Sunday, time.Monday},
		"sat-sat": {time.Saturday},
	} {
		got, err := parseDays(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseDays(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "mo", "mon-", "mon-xyz"} {
		if _, err := parseDays(in); err == nil {
			t.Errorf("parseDays(%q) accepted", in)
		}
	}
}

func TestParsePattern(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1[0-9][0-9]": "1[0123456789][0123456789]",
		"[1-3*]#":     "[123*]#",
		"[#*]":        "[*#]",
		"[5]":         "5",
	} {
		sets, err := parsePattern(in)
		if err != nil {
			t.Errorf("parsePattern(%q): %v", in, err)
			continue
		}
		var got string
		for _, s := range sets {
			got += s.String()
		}
		if got != want {
			t.Errorf("parsePattern(%q) = %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"", "1[", "[]", "a", "[1-*]", "[9-0]", strings.Repeat("1", MaxDigitLen+1)} {
		if _, err := parsePattern(in); err == nil {
			t.Errorf("parsePattern(%q) accepted", in)
		}
	}
}
