package phone

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A key script tells the phone what to do, step by step:
//
//	1,w2,w#      press 1, wait for the next prompt, press 2, wait, press #
//	w,p1.5s,123  wait for a prompt, pause 1.5 s, press 1 2 3
//
// Steps are separated by commas. Inside a step each character is a key (0-9 * # A-D)
// or 'w', which waits for the next prompt to be heard (or one second when the phone knows no
// prompts). A step "p<duration>" pauses for a Go duration.

// Step is one parsed step of a key script.
type Step struct {
	Keys  string        // keys to press, in order
	Wait  bool          // wait for the next prompt before the keys
	Pause time.Duration // pause before anything else
}

// ParseScript parses a key script.
func ParseScript(s string) ([]Step, error) {
	var steps []Step
	for i, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		if tok[0] == 'p' {
			d, err := time.ParseDuration(tok[1:])
			if err != nil || d < 0 {
				return nil, fmt.Errorf("key script step %d %q: bad pause (want e.g. p500ms)", i+1, tok)
			}
			steps = append(steps, Step{Pause: d})
			continue
		}
		for _, r := range tok {
			switch {
			case r == 'w':
				steps = append(steps, Step{Wait: true})
			case strings.ContainsRune("0123456789*#ABCD", r):
				if n := len(steps); n > 0 && steps[n-1].Pause == 0 && (steps[n-1].Keys != "" || steps[n-1].Wait) {
					steps[n-1].Keys += string(r)
				} else {
					steps = append(steps, Step{Keys: string(r)})
				}
			default:
				return nil, fmt.Errorf("key script step %d %q: %q is not a key, w or p<duration>", i+1, tok, r)
			}
		}
	}
	return steps, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
