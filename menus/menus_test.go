package menus

import (
	"errors"
	"time"
)

// demoConfig is the menu used by the machine, golden and fuzz tests.
func demoConfig() Config {
	return Config{
		MaxRetries:    2,
		InvalidPrompt: "invalid",
		TimeoutPrompt: "timeout",
		GoodbyePrompt: "goodbye",
		Prompts: map[string]PromptConfig{
			"main_menu":    {File: "prompts/main.wav", Text: "For billing press 1, for our hours press 2, for support press 3."},
			"billing_menu": {File: "prompts/billing.wav", Text: "Billing. For our hours press 1, to go back press star."},
			"support_menu": {File: "prompts/support.wav", Text: "Support. To go back press pound."},
			"hours":        {File: "prompts/hours.wav", Text: "We are open nine to five."},
			"invalid":      {File: "prompts/invalid.wav", Text: "Sorry, that is not a valid choice."},
			"timeout":      {File: "prompts/timeout.wav", Text: "Sorry, I did not hear a choice."},
			"goodbye":      {File: "prompts/goodbye.wav", Text: "Goodbye."},
			"thanks":       {File: "prompts/thanks.wav", Text: "Thank you for calling."},
		},
		Nodes: map[string]NodeConfig{
			"main": {
				Prompt: "main_menu",
				Options: map[string]OptionConfig{
					"1": {Action: ActionGoto, Target: "billing"},
					"2": {Action: ActionPlay, Prompt: "hours"},
					"3": {Action: ActionGoto, Target: "support"},
					"9": {Action: ActionHangup, Prompt: "thanks"},
					"0": {Action: ActionHangup},
				},
			},
			"billing": {
				Prompt:       "billing_menu",
				DigitTimeout: 3 * time.Second,
				MaxRetries:   1,
				Options: map[string]OptionConfig{
					"*": {Action: ActionGoto, Target: "main"},
					"1": {Action: ActionPlay, Prompt: "hours"},
				},
			},
			"support": {
				Prompt: "support_menu",
				Options: map[string]OptionConfig{
					"#": {Action: ActionGoto, Target: "main"},
				},
			},
		},
	}
}

// featureConfig exercises every feature the default CompileOptions allow:
// short greetings, multi-key patterns with a terminator, collect with
// read-back, time-of-day routing, languages, global keys and limit actions.
func featureConfig() Config {
	prompts := map[string]PromptConfig{}
	for _, name := range []string{
		"main", "main_short", "ext", "account_ask", "account_menu", "open_menu", "closed", "operator",
		"hours", "invalid", "timeout", "goodbye", "you_entered", "confirm", "bye_now",
	} {
		prompts[name] = PromptConfig{File: "prompts/" + name + ".wav", Text: name}
	}
	digits := map[string]string{}
	for k := '0'; k <= '9'; k++ {
		name := "d" + string(k)
		digits[string(k)] = name
		prompts[name] = PromptConfig{File: "prompts/" + name + ".wav", Text: string(k)}
	}
	back := OptionConfig{Action: ActionBack}
	return Config{
		InvalidPrompt:   "invalid",
		TimeoutPrompt:   "timeout",
		GoodbyePrompt:   "goodbye",
		ReadbackPrompt:  "you_entered",
		ConfirmPrompt:   "confirm",
		DigitPrompts:    digits,
		DefaultLanguage: "en",
		Prompts:         prompts,
		Languages: map[string]LanguageConfig{
			"zh-cn": {Prompts: map[string]PromptConfig{
				"main": {File: "prompts/zh/main.wav", Text: "主菜单"},
				"d1":   {File: "prompts/zh/d1.wav", Text: "一"},
			}},
		},
		GlobalKeys: map[string]OptionConfig{"0": {Action: ActionTop}},
		Schedules: map[string]ScheduleConfig{
			"office": {
				TimeZone: "Asia/Shanghai",
				Hours:    map[string][]string{"mon-fri": {"09:00-12:00", "13:00-18:00"}, "sat": {"10:00-14:00"}},
				Holidays: []string{"2026-10-01"},
			},
		},
		Nodes: map[string]NodeConfig{
			"main": {
				Greeting:          "main",
				ShortGreeting:     "main_short",
				MaxFailures:       2,
				MaxFailuresAction: OptionConfig{Action: ActionGoto, Target: "operator"},
				MaxTimeouts:       1,
				Options: map[string]OptionConfig{
					"1": {Action: ActionGoto, Target: "ext"},
					"2": {Action: ActionCollect, Variable: "account", Prompt: "account_ask", MinDigits: 4, MaxDigits: 6, Confirm: true, Target: "account"},
					"3": {Action: ActionRouteTime, Schedule: "office", Open: "open", Closed: "closed"},
					"4": {Action: ActionSetLanguage, Language: "zh-CN"},
					"5": {Action: ActionRepeat},
					"6": {Action: ActionPlay, Prompt: "hours"},
					"7": {Action: ActionGoto, Target: "router"},
					"8": {Action: ActionCollect, Variable: "pin", Prompt: "account_ask", MaxDigits: 4},
					"9": {Action: ActionHangup, Prompt: "bye_now"},
				},
			},
			"ext": {
				Prompt:            "ext",
				Terminator:        "#",
				InterDigitTimeout: 2 * time.Second,
				Options:           map[string]OptionConfig{"*": back},
				Patterns: []PatternConfig{
					{Match: "100", OptionConfig: OptionConfig{Action: ActionGoto, Target: "open"}},
					{Match: "1[0-9][0-9]", OptionConfig: OptionConfig{Action: ActionPlay, Prompt: "hours"}},
					{Match: "2[0-9]", OptionConfig: OptionConfig{Action: ActionGoto, Target: "account"}},
				},
			},
			"account":  {Greeting: "account_menu", Options: map[string]OptionConfig{"*": back}},
			"open":     {Greeting: "open_menu", Options: map[string]OptionConfig{"*": back}},
			"closed":   {Greeting: "closed"},
			"operator": {Greeting: "operator", ExitPrompt: "bye_now", Options: map[string]OptionConfig{"*": back}},
			"router":   {RouteTime: RouteTimeConfig{Schedule: "office", Open: "open", Closed: "closed"}},
		},
	}
}

// problems flattens a Validate error into its problems.
func problems(err error) []*Problem {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*Problem, 0, len(errs))
	for _, e := range errs {
		var p *Problem
		if !errors.As(e, &p) {
			return append(out, &Problem{Path: "<not a *Problem>", Msg: e.Error()})
		}
		out = append(out, p)
	}
	return out
}
