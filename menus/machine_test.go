package menus

import (
	"reflect"
	"testing"
	"time"
)

type step struct {
	ev   Event
	want []Action
}

func play(prompts ...string) Play { return Play{Prompts: prompts} }

// Shorthands for the demo tree (main: 5s, 2 retries; billing: 3s, 1 retry).
var (
	startMain   = step{Started{}, []Action{EnterNode{"main"}, play("main_menu")}}
	mainDone    = step{PlaybackDone{}, []Action{StartTimer{TimerDigit, 5 * time.Second}}}
	billingDone = step{PlaybackDone{}, []Action{StartTimer{TimerDigit, 3 * time.Second}}}
	fired       = TimerFired{TimerDigit}
)

func TestMachine_Step(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		config   func() Config
		steps    []step
		wantNode string
	}{
		{
			name:     "start plays root prompt",
			steps:    []step{startMain},
			wantNode: "main",
		},
		{
			name:     "prompt end arms digit timer",
			steps:    []step{startMain, mainDone},
			wantNode: "main",
		},
		{
			name: "barge-in stops playback then goes to",
			steps: []step{
				startMain,
				{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"billing"}, play("billing_menu")}},
				billingDone,
			},
			wantNode: "billing",
		},
		{
			name: "goto while waiting stops timer",
			steps: []step{
				startMain, mainDone,
				{Digit{'3'}, []Action{StopTimer{TimerDigit}, EnterNode{"support"}, play("support_menu")}},
				{PlaybackDone{}, []Action{StartTimer{TimerDigit, 5 * time.Second}}},
				{Digit{'#'}, []Action{StopTimer{TimerDigit}, EnterNode{"main"}, play("main_menu")}},
			},
			wantNode: "main",
		},
		{
			name: "play returns to node prompt",
			steps: []step{
				startMain, mainDone,
				{Digit{'2'}, []Action{StopTimer{TimerDigit}, play("hours", "main_menu")}},
				mainDone,
			},
			wantNode: "main",
		},
		{
			name: "hangup with prompt",
			steps: []step{
				startMain, mainDone,
				{Digit{'9'}, []Action{StopTimer{TimerDigit}, play("thanks"), Hangup{ReasonCallerChoice}}},
			},
			wantNode: "main",
		},
		{
			name: "hangup without prompt barging in",
			steps: []step{
				startMain,
				{Digit{'0'}, []Action{StopPlayback{}, Hangup{ReasonCallerChoice}}},
			},
			wantNode: "main",
		},
		{
			name: "invalid key replays",
			steps: []step{
				startMain, mainDone,
				{Digit{'7'}, []Action{StopTimer{TimerDigit}, Invalid{Key: '7'}, play("invalid", "main_menu")}},
				{Digit{'A'}, []Action{StopPlayback{}, Invalid{Key: 'A'}, play("invalid", "main_menu")}},
				mainDone,
			},
			wantNode: "main",
		},
		{
			name: "digit timeout replays",
			steps: []step{
				startMain, mainDone,
				{fired, []Action{Timeout{}, play("timeout", "main_menu")}},
				mainDone,
			},
			wantNode: "main",
		},
		{
			name: "retry limit ends politely",
			steps: []step{
				startMain, mainDone,
				{fired, []Action{Timeout{}, play("timeout", "main_menu")}},
				mainDone,
				{Digit{'8'}, []Action{StopTimer{TimerDigit}, Invalid{Key: '8'}, play("invalid", "main_menu")}},
				mainDone,
				{fired, []Action{Timeout{}, play("goodbye"), Hangup{ReasonMaxRetries}}},
			},
			wantNode: "main",
		},
		{
			name: "node overrides timeout and retries",
			steps: []step{
				startMain,
				{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"billing"}, play("billing_menu")}},
				billingDone,
				{fired, []Action{Timeout{}, play("timeout", "billing_menu")}},
				{Digit{'5'}, []Action{StopPlayback{}, Invalid{Key: '5'}, play("goodbye"), Hangup{ReasonMaxRetries}}},
			},
			wantNode: "billing",
		},
		{
			name: "goto resets failures",
			steps: []step{
				startMain, mainDone,
				{fired, []Action{Timeout{}, play("timeout", "main_menu")}},
				{Digit{'4'}, []Action{StopPlayback{}, Invalid{Key: '4'}, play("invalid", "main_menu")}},
				{Digit{'1'}, []Action{StopPlayback{}, EnterNode{"billing"}, play("billing_menu")}},
				{Digit{'*'}, []Action{StopPlayback{}, EnterNode{"main"}, play("main_menu")}},
				mainDone,
				{fired, []Action{Timeout{}, play("timeout", "main_menu")}},
				{Digit{'4'}, []Action{StopPlayback{}, Invalid{Key: '4'}, play("invalid", "main_menu")}},
			},
			wantNode: "main",
		},
		{
			name: "play option keeps failures of the visit",
			steps: []step{
				startMain, mainDone,
				{fired, []Action{Timeout{}, play("timeout", "main_menu")}},
				{Digit{'2'}, []Action{StopPlayback{}, play("hours", "main_menu")}},
				{Digit{'6'}, []Action{StopPlayback{}, Invalid{Key: '6'}, play("invalid", "main_menu")}},
				{Digit{'6'}, []Action{StopPlayback{}, Invalid{Key: '6'}, play("goodbye"), Hangup{ReasonMaxRetries}}},
			},
			wantNode: "main",
		},
		{
			name: "stale timer after node change ignored",
			steps: []step{
				startMain, mainDone,
				{Digit{'1'}, []Action{StopTimer{TimerDigit}, EnterNode{"billing"}, play("billing_menu")}},
				{fired, nil},
				billingDone,
			},
			wantNode: "billing",
		},
		{
			name: "stale timer during replay ignored",
			steps: []step{
				startMain, mainDone,
				{Digit{'2'}, []Action{StopTimer{TimerDigit}, play("hours", "main_menu")}},
				{fired, nil},
				mainDone,
			},
			wantNode: "main",
		},
		{
			name: "stale playback done while waiting ignored",
			steps: []step{
				startMain, mainDone,
				{PlaybackDone{}, nil},
				{fired, []Action{Timeout{}, play("timeout", "main_menu")}},
			},
			wantNode: "main",
		},
		{
			name: "unknown timer ignored",
			steps: []step{
				startMain, mainDone,
				{TimerFired{"other"}, nil},
			},
			wantNode: "main",
		},
		{
			name: "events after hangup ignored",
			steps: []step{
				startMain, mainDone,
				{Digit{'9'}, []Action{StopTimer{TimerDigit}, play("thanks"), Hangup{ReasonCallerChoice}}},
				{Digit{'1'}, nil},
				{PlaybackDone{}, nil},
				{fired, nil},
				{Started{}, nil},
			},
			wantNode: "main",
		},
		{
			name: "events before start ignored",
			steps: []step{
				{Digit{'1'}, nil},
				{PlaybackDone{}, nil},
				{fired, nil},
				startMain,
				{Started{}, nil},
			},
			wantNode: "main",
		},
		{
			name: "optional prompts absent",
			config: func() Config {
				c := demoConfig()
				c.InvalidPrompt, c.TimeoutPrompt, c.GoodbyePrompt = "", "", ""
				c.MaxRetries = 1
				return c
			},
			steps: []step{
				startMain, mainDone,
				{fired, []Action{Timeout{}, play("main_menu")}},
				{Digit{'7'}, []Action{StopPlayback{}, Invalid{Key: '7'}, Hangup{ReasonMaxRetries}}},
			},
			wantNode: "main",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := demoConfig()
			if tc.config != nil {
				c = tc.config()
			}
			tr, err := Compile(c)
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
		})
	}
}

func TestMachine_NodeBeforeStart(t *testing.T) {
	t.Parallel()
	tr, err := Compile(demoConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := NewMachine(tr).Node(); got != "" {
		t.Errorf("Node() = %q before Started, want empty", got)
	}
}

func TestMachine_SharedTree(t *testing.T) {
	t.Parallel()
	tr, err := Compile(demoConfig())
	if err != nil {
		t.Fatal(err)
	}
	a, b := NewMachine(tr), NewMachine(tr)
	a.Step(Started{})
	b.Step(Started{})
	a.Step(Digit{'1'})
	if a.Node() != "billing" || b.Node() != "main" {
		t.Errorf("machines share state: a at %q, b at %q", a.Node(), b.Node())
	}
}
