package menus

import (
	"maps"
	"reflect"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Times for the office schedule (Asia/Shanghai: Mon-Fri 09-12 and 13-18,
// Sat 10-14, holiday 2026-10-01).
var (
	monMorning = at("2026-11-23T10:00:00+08:00")
	monLunch   = at("2026-11-23T12:30:00+08:00")
	monUTC     = at("2026-11-23T01:30:00Z") // 09:30 in Shanghai
	satOpen    = at("2026-11-21T13:59:59+08:00")
	satClosed  = at("2026-11-21T14:00:00+08:00")
	holiday    = at("2026-10-01T10:00:00+08:00")
)

// Shorthands for the feature tree (5s digit timeout, 3s inter-digit; ext 2s).
var (
	fStart    = step{Started{}, []Action{EnterNode{"main"}, play("main")}}
	fDone     = step{PlaybackDone{}, []Action{StartTimer{TimerDigit, 5 * time.Second}}}
	fInter    = TimerFired{TimerInterDigit}
	stopDigit = StopTimer{TimerDigit}
	stopInter = StopTimer{TimerInterDigit}
	armInter  = StartTimer{TimerInterDigit, 3 * time.Second}
	armExt    = StartTimer{TimerInterDigit, 2 * time.Second}
	toExt     = step{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}}
	toCollect = step{Digit{'2'}, []Action{StopPlayback{}, play("account_ask")}}
	waitedExt = step{Digit{'1'}, []Action{stopDigit, EnterNode{"ext"}, play("ext")}}
	waitedCol = step{Digit{'2'}, []Action{stopDigit, play("account_ask")}}
	readback  = play("you_entered", "d1", "d2", "d3", "d4", "confirm")
)

func startAt(t time.Time) step {
	return step{Started{At: t}, []Action{EnterNode{"main"}, play("main")}}
}

// keys types digits during a collect or entry: the first barges in.
func keys(first Action, arm StartTimer, ks string) []step {
	var out []step
	for i := range len(ks) {
		stop := first
		if i > 0 {
			stop = StopTimer{arm.ID}
		}
		out = append(out, step{Digit{ks[i]}, []Action{stop, arm}})
	}
	return out
}

func steps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		default:
			panic(p)
		}
	}
	return out
}

// enabledConfig adds the actions of subsystems not built yet.
func enabledConfig() Config {
	c := featureConfig()
	c.GlobalKeys = maps.Clone(c.GlobalKeys)
	c.GlobalKeys["#"] = OptionConfig{Action: ActionFreeze}
	c.Nodes = maps.Clone(c.Nodes)
	main := c.Nodes["main"]
	main.Options = maps.Clone(main.Options)
	main.Options["8"] = OptionConfig{Action: ActionEnqueue, Queue: "sales", Priority: 5, Prompt: "hours"}
	col := main.Options["2"]
	col.Terminator = "*"
	main.Options["2"] = col
	c.Nodes["main"] = main
	ext := c.Nodes["ext"]
	ext.Terminator = ""
	ext.Patterns = []PatternConfig{
		{Match: "1[0-9][0-9]", OptionConfig: OptionConfig{Action: ActionTransfer, URI: "sip:${input}@pbx.example"}},
		{Match: "2[0-9]", OptionConfig: OptionConfig{Action: ActionTransfer, URI: "sip:${account}@${nothing}accounts.example", Prompt: "hours"}},
	}
	c.Nodes["ext"] = ext
	return c
}

var enableAll = CompileOptions{Enabled: map[string]bool{ActionEnqueue: true, ActionFreeze: true, ActionTransfer: true}}

func TestMachine_Features(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		config   func() Config
		opts     CompileOptions
		steps    []step
		wantNode string
		wantLang string
		wantVars map[string]string
	}{
		{
			name:     "short greeting after play and invalid key",
			steps:    steps(fStart, fDone, step{Digit{'6'}, []Action{stopDigit, play("hours", "main_short")}}, step{Digit{'*'}, []Action{StopPlayback{}, Invalid{Key: '*'}, play("invalid", "main_short")}}),
			wantNode: "main",
		},
		{
			name:     "repeat plays the long greeting",
			steps:    steps(fStart, fDone, step{Digit{'5'}, []Action{stopDigit, play("main")}}, fDone),
			wantNode: "main",
		},
		{
			name: "max failures action goes to operator",
			steps: steps(fStart,
				step{Digit{'*'}, []Action{StopPlayback{}, Invalid{Key: '*'}, play("invalid", "main_short")}},
				step{Digit{'*'}, []Action{StopPlayback{}, Invalid{Key: '*'}, play("invalid", "main_short")}},
				step{Digit{'*'}, []Action{StopPlayback{}, Invalid{Key: '*'}, EnterNode{"operator"}, play("operator")}},
				step{Digit{'*'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main")}},
			),
			wantNode: "main",
		},
		{
			name: "max timeouts default ends with the exit prompt",
			steps: steps(fStart, fDone,
				step{TimerFired{TimerDigit}, []Action{Timeout{}, play("timeout", "main_short")}},
				fDone,
				step{TimerFired{TimerDigit}, []Action{Timeout{}, play("goodbye"), Hangup{ReasonMaxTimeouts}}},
				step{Digit{'1'}, nil},
			),
			wantNode: "main",
		},
		{
			name: "node exit prompt and default retries",
			steps: steps(fStart,
				step{Digit{'*'}, []Action{StopPlayback{}, Invalid{Key: '*'}, play("invalid", "main_short")}},
				step{Digit{'*'}, []Action{StopPlayback{}, Invalid{Key: '*'}, play("invalid", "main_short")}},
				step{Digit{'*'}, []Action{StopPlayback{}, Invalid{Key: '*'}, EnterNode{"operator"}, play("operator")}},
				step{Digit{'7'}, []Action{StopPlayback{}, Invalid{Key: '7'}, play("invalid", "operator")}},
				step{Digit{'7'}, []Action{StopPlayback{}, Invalid{Key: '7'}, play("invalid", "operator")}},
				step{Digit{'7'}, []Action{StopPlayback{}, Invalid{Key: '7'}, play("invalid", "operator")}},
				step{Digit{'7'}, []Action{StopPlayback{}, Invalid{Key: '7'}, play("bye_now"), Hangup{ReasonMaxRetries}}},
			),
			wantNode: "operator",
		},
		{
			name:     "pattern entry of full length",
			steps:    steps(fStart, toExt, keys(StopPlayback{}, armExt, "10"), step{Digit{'0'}, []Action{stopInter, EnterNode{"open"}, play("open_menu")}}),
			wantNode: "open",
		},
		{
			name:     "general pattern after a specific one",
			steps:    steps(fStart, toExt, keys(StopPlayback{}, armExt, "15"), step{Digit{'7'}, []Action{stopInter, play("hours", "ext")}}),
			wantNode: "ext",
		},
		{
			name:     "shorter pattern matches at once",
			steps:    steps(fStart, toExt, keys(StopPlayback{}, armExt, "2"), step{Digit{'3'}, []Action{stopInter, EnterNode{"account"}, play("account_menu")}}),
			wantNode: "account",
		},
		{
			name:     "inter-digit timeout ends an unmatched entry",
			steps:    steps(fStart, toExt, keys(StopPlayback{}, armExt, "15"), step{fInter, []Action{Invalid{Key: '5', Entry: "15"}, play("invalid", "ext")}}),
			wantNode: "ext",
		},
		{
			name:     "terminator ends an entry",
			steps:    steps(fStart, toExt, keys(StopPlayback{}, armExt, "1"), step{Digit{'#'}, []Action{stopInter, Invalid{Key: '#', Entry: "1#"}, play("invalid", "ext")}}),
			wantNode: "ext",
		},
		{
			name:     "key no pattern starts with is invalid at once",
			steps:    steps(fStart, toExt, step{Digit{'9'}, []Action{StopPlayback{}, Invalid{Key: '9'}, play("invalid", "ext")}}),
			wantNode: "ext",
		},
		{
			name:     "option key in a multi-key node acts at once",
			steps:    steps(fStart, fDone, waitedExt, step{Digit{'*'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main")}}),
			wantNode: "main",
		},
		{
			name: "global key wins on the first key only",
			steps: steps(fStart, toExt, keys(StopPlayback{}, armExt, "10"),
				step{fInter, []Action{Invalid{Key: '0', Entry: "10"}, play("invalid", "ext")}},
				step{Digit{'0'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main")}},
			),
			wantNode: "main",
		},
		{
			name: "stale timers ignored during an entry",
			steps: steps(fStart, toExt, keys(StopPlayback{}, armExt, "1"),
				step{TimerFired{TimerDigit}, nil},
				step{PlaybackDone{}, nil},
				step{Digit{'0'}, []Action{stopInter, armExt}},
			),
			wantNode: "ext",
		},
		{
			name: "collect with read-back accepted",
			steps: steps(fStart, fDone, waitedCol, keys(StopPlayback{}, armInter, "1234"),
				step{Digit{'#'}, []Action{stopInter, readback}},
				fDone,
				step{Digit{'1'}, []Action{stopDigit, SetVariable{"account", "1234"}, EnterNode{"account"}, play("account_menu")}},
			),
			wantNode: "account",
			wantVars: map[string]string{"account": "1234"},
		},
		{
			name: "collect re-entered after 2",
			steps: steps(fStart, fDone, waitedCol, keys(StopPlayback{}, armInter, "1234"),
				step{fInter, []Action{readback}},
				step{Digit{'2'}, []Action{StopPlayback{}, play("account_ask")}},
				keys(StopPlayback{}, armInter, "98765"),
				step{Digit{'0'}, []Action{stopInter, play("you_entered", "d9", "d8", "d7", "d6", "d5", "d0", "confirm")}},
				step{Digit{'1'}, []Action{StopPlayback{}, SetVariable{"account", "987650"}, EnterNode{"account"}, play("account_menu")}},
			),
			wantNode: "account",
			wantVars: map[string]string{"account": "987650"},
		},
		{
			name: "collect invalid answer replays the read-back",
			steps: steps(fStart, toCollect, keys(StopPlayback{}, armInter, "1234"),
				step{Digit{'#'}, []Action{stopInter, readback}},
				step{Digit{'3'}, []Action{StopPlayback{}, Invalid{Key: '3'}, play("invalid", "you_entered", "d1", "d2", "d3", "d4", "confirm")}},
				fDone,
				step{TimerFired{TimerDigit}, []Action{Timeout{}, play("timeout", "you_entered", "d1", "d2", "d3", "d4", "confirm")}},
				step{Digit{'1'}, []Action{StopPlayback{}, SetVariable{"account", "1234"}, EnterNode{"account"}, play("account_menu")}},
			),
			wantNode: "account",
		},
		{
			name: "collect too short on terminator, then timeout",
			steps: steps(fStart, toCollect, keys(StopPlayback{}, armInter, "12"),
				step{Digit{'#'}, []Action{stopInter, Invalid{Key: '#', Entry: "12#"}, play("invalid", "account_ask")}},
				keys(StopPlayback{}, armInter, "12"),
				step{fInter, []Action{Timeout{}, play("timeout", "account_ask")}},
				fDone,
				step{TimerFired{TimerDigit}, []Action{Timeout{}, play("goodbye"), Hangup{ReasonMaxTimeouts}}},
			),
			wantNode: "main",
		},
		{
			name: "collect ignores global digit and rejects star",
			steps: steps(fStart, toCollect, keys(StopPlayback{}, armInter, "0"),
				step{Digit{'*'}, []Action{stopInter, Invalid{Key: '*', Entry: "0*"}, play("invalid", "account_ask")}},
			),
			wantNode: "main",
		},
		{
			name: "collect stops at max digits",
			steps: steps(fStart, toCollect, keys(StopPlayback{}, armInter, "12345"),
				step{Digit{'6'}, []Action{stopInter, play("you_entered", "d1", "d2", "d3", "d4", "d5", "d6", "confirm")}},
			),
			wantNode: "main",
		},
		{
			name: "collect without confirm returns to the node",
			steps: steps(fStart, fDone, step{Digit{'8'}, []Action{stopDigit, play("account_ask")}}, keys(StopPlayback{}, armInter, "424"),
				step{Digit{'2'}, []Action{stopInter, SetVariable{"pin", "4242"}, play("main_short")}},
			),
			wantNode: "main",
			wantVars: map[string]string{"pin": "4242"},
		},
		{
			name: "collect prompt timeout",
			steps: steps(fStart, fDone, waitedCol, fDone,
				step{TimerFired{TimerDigit}, []Action{Timeout{}, play("timeout", "account_ask")}},
			),
			wantNode: "main",
		},
		{
			name: "global key leaves a collect",
			config: func() Config {
				c := featureConfig()
				c.GlobalKeys = map[string]OptionConfig{"#": {Action: ActionTop}}
				c.Nodes = maps.Clone(c.Nodes)
				main := c.Nodes["main"]
				main.Options = maps.Clone(main.Options)
				col := main.Options["2"]
				col.Terminator = "*"
				main.Options["2"] = col
				pin := main.Options["8"]
				pin.Terminator = "*"
				main.Options["8"] = pin
				c.Nodes["main"] = main
				ext := c.Nodes["ext"]
				ext.Terminator = ""
				c.Nodes["ext"] = ext
				return c
			},
			steps: steps(fStart, toCollect, keys(StopPlayback{}, armInter, "12"),
				step{Digit{'#'}, []Action{stopInter, EnterNode{"main"}, play("main")}},
				fDone,
				step{Digit{'1'}, []Action{stopDigit, EnterNode{"ext"}, play("ext")}},
			),
			wantNode: "ext",
		},
		{
			name:     "route open on a weekday morning",
			steps:    steps(startAt(monMorning), fDone, step{Digit{'3'}, []Action{stopDigit, TimeRouted{"office", true}, EnterNode{"open"}, play("open_menu")}}),
			wantNode: "open",
		},
		{
			name: "route closed at lunch, announcement hangs up",
			steps: steps(startAt(monLunch), fDone,
				step{Digit{'3'}, []Action{stopDigit, TimeRouted{"office", false}, EnterNode{"closed"}, play("closed")}},
				step{Digit{'5'}, nil},
				step{PlaybackDone{}, []Action{Hangup{ReasonCompleted}}},
				step{Digit{'0'}, nil},
			),
			wantNode: "closed",
		},
		{
			name:     "route uses the schedule's time zone",
			steps:    steps(startAt(monUTC), step{Digit{'3'}, []Action{StopPlayback{}, TimeRouted{"office", true}, EnterNode{"open"}, play("open_menu")}}),
			wantNode: "open",
		},
		{
			name:     "route closed on a holiday",
			steps:    steps(startAt(holiday), step{Digit{'3'}, []Action{StopPlayback{}, TimeRouted{"office", false}, EnterNode{"closed"}, play("closed")}}),
			wantNode: "closed",
		},
		{
			name:     "route open until the end of Saturday's hours",
			steps:    steps(startAt(satOpen), step{Digit{'7'}, []Action{StopPlayback{}, EnterNode{"router"}, TimeRouted{"office", true}, EnterNode{"open"}, play("open_menu")}}),
			wantNode: "open",
		},
		{
			name:     "route closed at the end of Saturday's hours",
			steps:    steps(startAt(satClosed), step{Digit{'7'}, []Action{StopPlayback{}, EnterNode{"router"}, TimeRouted{"office", false}, EnterNode{"closed"}, play("closed")}}),
			wantNode: "closed",
		},
		{
			name:     "zero time counts as open",
			steps:    steps(fStart, step{Digit{'7'}, []Action{StopPlayback{}, EnterNode{"router"}, TimeRouted{"office", true}, EnterNode{"open"}, play("open_menu")}}),
			wantNode: "open",
		},
		{
			name: "route node as root",
			config: func() Config {
				c := featureConfig()
				c.Root = "router"
				c.Nodes = maps.Clone(c.Nodes)
				c.Nodes["open"] = NodeConfig{Greeting: "open_menu", Options: map[string]OptionConfig{"1": {Action: ActionGoto, Target: "main"}}}
				return c
			},
			steps: steps(
				step{Started{At: monLunch}, []Action{EnterNode{"router"}, TimeRouted{"office", false}, EnterNode{"closed"}, play("closed")}},
				step{Digit{'0'}, []Action{StopPlayback{}, EnterNode{"router"}, TimeRouted{"office", false}, EnterNode{"closed"}, play("closed")}},
			),
			wantNode: "closed",
		},
		{
			name: "back after a route returns to the node before it",
			steps: steps(startAt(monMorning), step{Digit{'7'}, []Action{StopPlayback{}, EnterNode{"router"}, TimeRouted{"office", true}, EnterNode{"open"}, play("open_menu")}},
				step{Digit{'*'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main")}}),
			wantNode: "main",
		},
		{
			name: "announcement keeps global keys",
			steps: steps(startAt(monLunch), step{Digit{'3'}, []Action{StopPlayback{}, TimeRouted{"office", false}, EnterNode{"closed"}, play("closed")}},
				step{Digit{'0'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main")}}),
			wantNode: "main",
		},
		{
			name: "trunk language plays its prompts",
			steps: steps(
				step{Started{Language: "zh-CN"}, []Action{EnterNode{"main"}, play("zh-cn/main")}},
				step{Digit{'6'}, []Action{StopPlayback{}, play("hours", "main_short")}},
				step{Digit{'5'}, []Action{StopPlayback{}, play("zh-cn/main")}},
			),
			wantNode: "main",
			wantLang: "zh-cn",
		},
		{
			name:     "unknown trunk language plays the default",
			steps:    steps(step{Started{Language: "fr-FR"}, []Action{EnterNode{"main"}, play("main")}}),
			wantNode: "main",
			wantLang: "en",
		},
		{
			name: "language by primary subtag",
			config: func() Config {
				c := featureConfig()
				c.Languages = map[string]LanguageConfig{"zh": c.Languages["zh-cn"]}
				c.Nodes = maps.Clone(c.Nodes)
				n := c.Nodes["main"]
				n.Options = maps.Clone(n.Options)
				n.Options["4"] = OptionConfig{Action: ActionSetLanguage, Language: "zh"}
				c.Nodes["main"] = n
				return c
			},
			steps:    steps(step{Started{Language: "zh-TW"}, []Action{EnterNode{"main"}, play("zh/main")}}),
			wantNode: "main",
			wantLang: "zh",
		},
		{
			name: "set_language option and back to default",
			config: func() Config {
				c := featureConfig()
				c.Nodes = maps.Clone(c.Nodes)
				n := c.Nodes["account"]
				n.Options = map[string]OptionConfig{"*": {Action: ActionBack}, "1": {Action: ActionSetLanguage, Language: "en", Target: "main"}}
				c.Nodes["account"] = n
				return c
			},
			steps: steps(fStart,
				step{Digit{'4'}, []Action{StopPlayback{}, SetLanguage{"zh-cn"}, play("zh-cn/main")}},
				step{Digit{'2'}, []Action{StopPlayback{}, play("account_ask")}},
				keys(StopPlayback{}, armInter, "1111"),
				step{Digit{'#'}, []Action{stopInter, play("you_entered", "zh-cn/d1", "zh-cn/d1", "zh-cn/d1", "zh-cn/d1", "confirm")}},
				step{Digit{'1'}, []Action{StopPlayback{}, SetVariable{"account", "1111"}, EnterNode{"account"}, play("account_menu")}},
				step{Digit{'1'}, []Action{StopPlayback{}, SetLanguage{"en"}, EnterNode{"main"}, play("main")}},
			),
			wantNode: "main",
			wantLang: "en",
		},
		{
			name: "back walks the history",
			steps: steps(fStart, step{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}},
				keys(StopPlayback{}, armExt, "2"),
				step{Digit{'4'}, []Action{stopInter, EnterNode{"account"}, play("account_menu")}},
				step{Digit{'*'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}},
				step{Digit{'*'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main")}},
			),
			wantNode: "main",
		},
		{
			name: "back at the root stays at the root",
			config: func() Config {
				c := featureConfig()
				c.GlobalKeys = map[string]OptionConfig{"0": {Action: ActionBack}}
				return c
			},
			steps:    steps(fStart, step{Digit{'0'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main")}}),
			wantNode: "main",
		},
		{
			name:   "freeze global key ends the menu",
			config: enabledConfig,
			opts:   enableAll,
			steps: steps(fStart, step{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}},
				step{Digit{'#'}, []Action{StopPlayback{}, Freeze{}}},
				step{Digit{'1'}, nil}, step{PlaybackDone{}, nil}),
			wantNode: "ext",
		},
		{
			name:     "enqueue with a prompt",
			config:   enabledConfig,
			opts:     enableAll,
			steps:    steps(fStart, fDone, step{Digit{'8'}, []Action{stopDigit, play("hours"), Enqueue{"sales", 5}}}, step{PlaybackDone{}, nil}),
			wantNode: "main",
		},
		{
			name:   "transfer to the typed extension",
			config: enabledConfig,
			opts:   enableAll,
			steps: steps(fStart, step{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}},
				keys(StopPlayback{}, armExt, "15"),
				step{Digit{'7'}, []Action{stopInter, Transfer{URI: "sip:157@pbx.example", Timeout: DefaultTransferTimeout}}}),
			wantNode: "ext",
		},
		{
			name:   "a failed transfer returns to the node",
			config: enabledConfig,
			opts:   enableAll,
			steps: steps(fStart, step{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}},
				keys(StopPlayback{}, armExt, "15"),
				step{Digit{'7'}, []Action{stopInter, Transfer{URI: "sip:157@pbx.example", Timeout: DefaultTransferTimeout}}},
				step{Digit{'1'}, nil},
				step{TransferFailed{}, []Action{play("invalid", "ext")}},
				step{TransferFailed{}, nil}),
			wantNode: "ext",
		},
		{
			name:   "transfer with a collected variable",
			config: enabledConfig,
			opts:   enableAll,
			steps: steps(fStart, toCollect, keys(StopPlayback{}, armInter, "4321"),
				step{Digit{'*'}, []Action{stopInter, play("you_entered", "d4", "d3", "d2", "d1", "confirm")}},
				step{Digit{'1'}, []Action{StopPlayback{}, SetVariable{"account", "4321"}, EnterNode{"account"}, play("account_menu")}},
				step{Digit{'*'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main")}},
				step{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}},
				keys(StopPlayback{}, armExt, "2"),
				step{Digit{'0'}, []Action{stopInter, play("hours"), Transfer{URI: "sip:4321@accounts.example", Timeout: DefaultTransferTimeout}}}),
			wantNode: "ext",
			wantVars: map[string]string{"account": "4321"},
		},
		{
			name: "tree-level limit action inherited",
			config: func() Config {
				c := featureConfig()
				c.MaxTimeouts = 1
				c.MaxTimeoutsAction = OptionConfig{Action: ActionGoto, Target: "operator"}
				c.Nodes = maps.Clone(c.Nodes)
				n := c.Nodes["ext"]
				n.Options = map[string]OptionConfig{"*": {Action: ActionBack}, "#": {Action: ActionHangup}}
				n.Terminator = ""
				c.Nodes["ext"] = n
				op := c.Nodes["operator"]
				op.MaxTimeoutsAction = OptionConfig{Action: ActionHangup}
				c.Nodes["operator"] = op
				return c
			},
			steps: steps(fStart, step{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}},
				step{PlaybackDone{}, []Action{StartTimer{TimerDigit, 5 * time.Second}}},
				step{TimerFired{TimerDigit}, []Action{Timeout{}, play("timeout", "ext")}},
				step{PlaybackDone{}, []Action{StartTimer{TimerDigit, 5 * time.Second}}},
				step{TimerFired{TimerDigit}, []Action{Timeout{}, EnterNode{"operator"}, play("operator")}},
				step{Digit{'*'}, []Action{StopPlayback{}, EnterNode{"ext"}, play("ext")}},
				step{Digit{'#'}, []Action{StopPlayback{}, Hangup{ReasonCallerChoice}}},
			),
			wantNode: "ext",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := featureConfig()
			if tc.config != nil {
				c = tc.config()
			}
			tr, err := CompileWith(c, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			m := NewMachine(tr)
			for i, s := range tc.steps {
				if got := m.Step(s.ev); !reflect.DeepEqual(got, s.want) {
					t.Fatalf("step %d Step(%v):\n got %v\nwant %v", i, s.ev, got, s.want)
				}
			}
			if got := m.Node(); got != tc.wantNode {
				t.Errorf("Node() = %q, want %q", got, tc.wantNode)
			}
			if tc.wantLang != "" && m.Language() != tc.wantLang {
				t.Errorf("Language() = %q, want %q", m.Language(), tc.wantLang)
			}
			for k, v := range tc.wantVars {
				if got, ok := m.Variable(k); !ok || got != v {
					t.Errorf("Variable(%q) = %q, %v; want %q", k, got, ok, v)
				}
			}
		})
	}
}
