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
