package ivr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-ivr/hotline/menus"
)

// Overload brown-out: beyond max_calls, instead of a busy signal, up to Reserve more callers
// are answered with one short offer: the freeze key, and a callback that keeps their arrival
// time. Then they are released. Nobody is just refused while the urgent path can stay open.

// OverloadConfig configures the brown-out (top-level `overload` section).
type OverloadConfig struct {
	// Brownout answers callers beyond max_calls with the offer instead of 503.
	Brownout bool `mapstructure:"brownout"`
	// Reserve is how many such callers may be on the offer at once; beyond them, 503.
	// Default: a tenth of max_calls, at least 5.
	Reserve int `mapstructure:"reserve"`
	// Queue is the queue whose callback the offer's "1" takes (the caller's place is kept
	// from their arrival); empty: the offer has only the freeze key.
	Queue string `mapstructure:"queue"`
	// KeyTimeout is how long after the offer a key is waited for; default 8s.
	KeyTimeout time.Duration `mapstructure:"key_timeout"`
}

// Validate checks the section against max_calls and the queues.
func (c OverloadConfig) Validate(maxCalls int, queues map[string]QueueConfig) error {
	var errs []error
	if c.Brownout && maxCalls <= 0 {
		errs = append(errs, errors.New("overload.brownout: needs max_calls (the brown-out starts beyond it)"))
	}
	if c.Reserve < 0 || c.KeyTimeout < 0 {
		errs = append(errs, errors.New("overload: reserve and key_timeout must not be negative"))
	}
	if c.Queue != "" {
		if _, ok := queues[c.Queue]; !ok {
			errs = append(errs, fmt.Errorf("overload.queue: unknown queue %q", c.Queue))
		}
	}
	return errors.Join(errs...)
}

func (c OverloadConfig) reserve(maxCalls int) int {
	if c.Reserve > 0 {
		return c.Reserve
	}
	return max(5, maxCalls/10)
}

// Prompt of the offer, from the system prompts.
const promptOverloadOffer = "overload_offer"

// OutcomeOverloadReleased: a caller beyond max_calls heard the brown-out offer and took
// neither the freeze nor the callback.
const OutcomeOverloadReleased = "overload_released"

// admitBrownout counts a call on the brown-out reserve.
func (e *Engine) admitBrownout() (release func(), ok bool) {
	o := e.cfg.Overload
	if !o.Brownout {
		return nil, false
	}
	if n := e.brownout.Add(1); n > int64(o.reserve(e.cfg.MaxCalls)) {
		e.brownout.Add(-1)
		return nil, false
	}
	return func() { e.brownout.Add(-1) }, true
}

// overloadPhase says the offer once and waits for a key: the freeze key (the tree's global
// freeze action) to the freeze lane, 1 to a callback in the overload queue; other keys are
// ignored, and silence ends the call politely.
type overloadPhase struct{}

func (overloadPhase) name() string { return "overload" }

func (p overloadPhase) enter(ctx context.Context, c *call) error {
	c.playNamed(c.sysPrompt(promptOverloadOffer))
	return nil
}

func (p overloadPhase) on(ctx context.Context, c *call, ev event) error {
	switch ev := ev.(type) {
	case playedEvent:
		c.arm(cmpDuration(c.e.cfg.Overload.KeyTimeout, 8*time.Second), "overload")
	case timerEvent:
		c.playNamed(c.sysPrompt("goodbye"))
		return c.to(ctx, newEnding(OutcomeOverloadReleased))
	case keyEvent:
		if act, ok := c.menu.Tree.GlobalAction(ev.key); ok && act == menus.ActionFreeze && c.e.freeze != nil {
			c.silence()
			return c.to(ctx, newLanePhase())
		}
		if q := c.e.cfg.Overload.Queue; ev.key == '1' && q != "" && c.e.dispatch != nil {
			c.silence()
			h := newHoldPhase(q, 0)
			h.callbackNow = true
			return c.to(ctx, h)
		}
	case rtpTimeoutEvent:
		return c.dead(ctx, OutcomeRTPTimeout)
	case hangupEvent:
		c.setOutcome(OutcomeCallerHangup)
	case shutdownEvent:
		c.setOutcome(outcomeFromCause(ev.cause, OutcomeShutdown))
	}
	return nil
}

func cmpDuration(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}
