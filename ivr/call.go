package ivr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
)

// errCallOver ends the call loop normally (the menu hung up, or the caller did).
var errCallOver = errors.New("call over")

// call is the state of one call, owned by its goroutine (STYLE.md C1): no mutex.
type call struct {
	e       *Engine
	leg     Leg
	sess    *media.Session
	menu    *Menu
	machine *menus.Machine
	rec     *CallRecord
	info    <-chan media.Digit // SIP INFO key presses; nil when none
	dtmf    callDTMF
	keys    keyFilter
	trunk   string

	timer   *time.Timer // the digit timer; nil until first started
	timerOn bool
	timerID menus.TimerID

	playing    uint64 // id of the playback in progress, 0 when silent
	hangupWhy  string // set when the menu asked to hang up; done once playback ends
	hangupWant bool
}

// run is the call loop: step the pure machine, do its actions, wait for the next event (C3).
func (c *call) run(ctx context.Context) error {
	defer func() {
		if c.timer != nil {
			c.timer.Stop()
		}
	}()
	var ev menus.Event = menus.Started{At: c.rec.Start}
	for {
		if err := c.do(ctx, c.machine.Step(ev)); err != nil {
			return c.end(err)
		}
		var err error
		if ev, err = c.wait(ctx); err != nil {
			return c.end(err)
		}
	}
}

// end turns the loop's final error into the call's outcome and result.
func (c *call) end(err error) error {
	if errors.Is(err, errCallOver) {
		return nil
	}
	return err
}

func (c *call) do(ctx context.Context, actions []menus.Action) error {
	now := c.e.now()
	changed := false
	for _, a := range actions {
		switch a := a.(type) {
		case menus.EnterNode:
			c.rec.Nodes = append(c.rec.Nodes, NodeVisit{Node: a.Node, At: now})
			changed = true
		case menus.Play:
			ps := make([]*media.Prompt, 0, len(a.Prompts))
			at := now
			for _, name := range a.Prompts {
				p, ok := c.menu.Prompts[name]
				if !ok { // Compile checked every name; a miss is a bug, not a caller's problem
					return fmt.Errorf("call %s: prompt %q not loaded", c.leg.ID(), name)
				}
				ps = append(ps, p)
				c.rec.Prompts = append(c.rec.Prompts, PromptPlay{Prompt: name, At: at})
				at = at.Add(p.Duration())
			}
			c.playing = c.sess.Play(ps...)
			changed = true
		case menus.StopPlayback:
			c.sess.Stop()
			c.playing = 0
		case menus.StartTimer:
			if c.timer == nil {
				c.timer = time.NewTimer(a.After)
			} else {
				c.timer.Reset(a.After) // Go ≥ 1.23: no stale value after Reset/Stop
			}
			c.timerOn, c.timerID = true, a.ID
		case menus.StopTimer:
			if c.timer != nil {
				c.timer.Stop()
			}
			c.timerOn = false
		case menus.Hangup:
			c.hangupWant, c.hangupWhy = true, a.Reason
		case menus.SetVariable:
			if c.rec.Variables == nil {
				c.rec.Variables = make(map[string]string)
			}
			c.rec.Variables[a.Name] = a.Value
			changed = true
		case menus.SetLanguage:
			c.rec.Language = a.Language
			changed = true
		case menus.Enqueue, menus.Freeze, menus.Transfer:
			// Validation refuses these until their subsystems exist (issues 5 and 6); a tree
			// compiled with them enabled still ends politely rather than leaving silence.
			c.hangupWant, c.hangupWhy = true, "unsupported"
		}
	}
	if changed {
		c.e.records.publish(c.rec)
	}
	if c.hangupWant && c.playing == 0 {
		return c.hangup(ctx)
	}
	return nil
}

// hangup ends the call from our side after the goodbye prompt.
func (c *call) hangup(ctx context.Context) error {
	switch c.hangupWhy {
	case menus.ReasonMaxRetries, menus.ReasonMaxFailures, menus.ReasonMaxTimeouts:
		c.rec.Outcome = OutcomeMaxRetries
	case menus.ReasonCompleted:
		c.rec.Outcome = OutcomeCompleted
	default:
		c.rec.Outcome = OutcomeGoodbye
	}
	if err := c.leg.Hangup(ctx, nil); err != nil {
		return fmt.Errorf("call %s: hangup: %w", c.leg.ID(), err)
	}
	return errCallOver
}

// wait blocks until the next event the menu cares about.
func (c *call) wait(ctx context.Context) (menus.Event, error) {
	var timerC <-chan time.Time
	for {
		timerC = nil
		if c.timerOn {
			timerC = c.timer.C
		}
		select {
		case d := <-c.sess.Digits():
			if ev, ok := c.key(d); ok {
				return ev, nil
			}
		case d := <-c.info:
			if ev, ok := c.key(d); ok {
				return ev, nil
			}
		case id := <-c.sess.Done():
			if id != c.playing {
				continue // a playback we already replaced
			}
			c.playing = 0
			if c.hangupWant {
				return nil, c.hangup(ctx)
			}
			return menus.PlaybackDone{}, nil
		case <-timerC:
			c.timerOn = false
			return menus.TimerFired{ID: c.timerID}, nil
		case <-c.leg.Done():
			c.rec.Outcome = OutcomeCallerHangup
			return nil, errCallOver
		case <-ctx.Done():
			c.rec.Outcome = outcomeFromCause(ctx, OutcomeShutdown)
			return nil, errCallOver
		}
	}
}

// key turns a reported key press into a menu event, unless the call's DTMF mode does not
// listen to that path or the press was already counted by another path.
func (c *call) key(d media.Digit) (menus.Event, bool) {
	if !c.dtmf.accepts(d.Mode) {
		c.e.metrics.digitsIgnored.WithLabelValues(string(d.Mode)).Inc()
		return nil, false
	}
	if !c.keys.accept(d) {
		c.e.metrics.duplicates.WithLabelValues(string(d.Mode)).Inc()
		return nil, false
	}
	c.rec.Keys = append(c.rec.Keys, KeyPress{Key: string(d.Key), Mode: string(d.Mode), Node: c.machine.Node(), At: d.At})
	c.e.metrics.digits.WithLabelValues(string(d.Mode), c.trunk).Inc()
	c.e.records.publish(c.rec)
	if c.hangupWant {
		return nil, false // the goodbye is playing; keys no longer matter
	}
	return menus.Digit{Key: d.Key}, true
}
