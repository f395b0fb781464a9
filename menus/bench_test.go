package menus

import (
	"strconv"
	"testing"
)

// generatedConfig returns a valid tree of n nodes: a 9-ary tree under main
// where every node has a prompt, options 1-9 to its children, * back and 0
// hang up; every tenth node also takes extensions by pattern, every 50th leaf
// routes by schedule; a global key, a language and a collect complete it.
func generatedConfig(n int) Config {
	name := func(i int) string {
		if i == 0 {
			return "main"
		}
		return "n" + strconv.Itoa(i)
	}
	c := Config{
		InvalidPrompt:   "invalid",
		TimeoutPrompt:   "timeout",
		GoodbyePrompt:   "goodbye",
		DefaultLanguage: "en",
		Prompts:         map[string]PromptConfig{},
		Languages:       map[string]LanguageConfig{"zh-cn": {Prompts: map[string]PromptConfig{}}},
		GlobalKeys:      map[string]OptionConfig{"#": {Action: ActionTop}},
		Schedules: map[string]ScheduleConfig{"office": {
			TimeZone: "UTC",
			Hours:    map[string][]string{"mon-fri": {"09:00-17:00"}},
			Holidays: []string{"2026-12-25"},
		}},
		Nodes: map[string]NodeConfig{},
	}
	for _, p := range []string{"invalid", "timeout", "goodbye"} {
		c.Prompts[p] = PromptConfig{File: p + ".wav"}
	}
	for i := range n {
		p := "p" + strconv.Itoa(i)
		c.Prompts[p] = PromptConfig{File: p + ".wav", Text: "prompt " + p}
		if i%10 == 0 {
			c.Languages["zh-cn"].Prompts[p] = PromptConfig{File: "zh/" + p + ".wav"}
		}
		nc := NodeConfig{Greeting: p, Options: map[string]OptionConfig{
			"*": {Action: ActionBack},
			"0": {Action: ActionHangup, Prompt: "goodbye"},
		}}
		if 9*i+1 >= n && i%50 == 49 && i+1 < n { // a leaf
			c.Nodes[name(i)] = NodeConfig{RouteTime: RouteTimeConfig{Schedule: "office", Open: name(i - 1), Closed: name(i + 1)}}
			continue
		}
		for k := 1; k <= 9; k++ {
			if child := 9*i + k; child < n {
				nc.Options[strconv.Itoa(k)] = OptionConfig{Action: ActionGoto, Target: name(child)}
			}
		}
		if len(nc.Options) == 2 {
			nc.Options["1"] = OptionConfig{Action: ActionCollect, Variable: "v", Prompt: p, MaxDigits: 8, Terminator: "*"}
			if i%10 == 0 {
				nc.Patterns = []PatternConfig{
					{Match: "2[0-9][0-9]", OptionConfig: OptionConfig{Action: ActionGoto, Target: "main"}},
					{Match: "3[0-9]", OptionConfig: OptionConfig{Action: ActionPlay, Prompt: p}},
				}
			}
		}
		c.Nodes[name(i)] = nc
	}
	return c
}

func TestGeneratedConfig_Valid(t *testing.T) {
	t.Parallel()
	tr, err := Compile(generatedConfig(1000))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tr.Nodes()); got != 1000 {
		t.Errorf("%d nodes, want 1000", got)
	}
}

// BenchmarkCompile1000 measures validate + compile (one pass) of a
// 1,000-node tree; the goal is ≤ 50 ms (issue 4).
func BenchmarkCompile1000(b *testing.B) {
	c := generatedConfig(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(c); err != nil {
			b.Fatal(err)
		}
	}
}
