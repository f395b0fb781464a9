package ivr

import (
	"context"
	"fmt"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
)

// menuPhase walks the caller through the menu tree: it steps the pure machine (STYLE.md
// C3) and does what it returns. It ends by handing the call to the freeze lane, a queue, or
// the ending phase.
type menuPhase struct {
	m       *menus.Machine
	enqueue *menus.Enqueue // the queue to join once the current prompt has played
	// returning: the caller comes back from a transfer that failed (the machine hears
	// TransferFailed, not Started).
	returning bool
}

func newMenuPhase(menu *Menu) *menuPhase { return &menuPhase{m: menus.NewMachine(menu.Tree)} }

func (*menuPhase) name() string { return "menu" }

func (p *menuPhase) enter(ctx context.Context, c *call) error {
	if p.returning {
		p.returning = false
		return p.do(ctx, c, p.m.Step(menus.TransferFailed{}))
	}
	return p.do(ctx, c, p.m.Step(menus.Started{At: c.rec.Start, Language: c.rec.Language}))
}

func (p *menuPhase) on(ctx context.Context, c *call, ev event) error {
	switch ev := ev.(type) {
	case keyEvent:
		return p.do(ctx, c, p.m.Step(menus.Digit{Key: ev.key}))
	case playedEvent:
		if p.enqueue != nil {
			q := p.enqueue
			return c.to(ctx, newHoldPhase(q.Queue, q.Priority))
		}
		return p.do(ctx, c, p.m.Step(menus.PlaybackDone{}))
	case timerEvent:
		return p.do(ctx, c, p.m.Step(menus.TimerFired{ID: menus.TimerID(ev.id)}))
	case rtpTimeoutEvent:
		return c.dead(ctx, OutcomeRTPTimeout)
	case hangupEvent:
		c.setOutcome(cmpOr(timedOut(ev.cause), OutcomeCallerHangup))
	case shutdownEvent:
		c.setOutcome(outcomeFromCause(ev.cause, OutcomeShutdown))
	}
	return nil
}

// do performs the machine's actions in order.
func (p *menuPhase) do(ctx context.Context, c *call, actions []menus.Action) error {
	var next phase
	for _, a := range actions {
		switch a := a.(type) {
		case menus.EnterNode:
			c.rec.Nodes = append(c.rec.Nodes, NodeVisit{Node: a.Node, At: c.e.now()})
		case menus.Play:
			ps := make([]*media.Prompt, 0, len(a.Prompts))
			for _, name := range a.Prompts {
				pr, ok := c.menu.Prompts[name]
				if !ok { // Compile checked every name; a miss is a bug, not a caller's problem
					return fmt.Errorf("call %s: prompt %q not loaded", c.rec.CallID, name)
				}
				ps = append(ps, pr)
			}
			c.play(a.Prompts, ps)
		case menus.StopPlayback:
			c.silence()
		case menus.StartTimer:
			c.arm(a.After, string(a.ID))
		case menus.StopTimer:
			c.stopTimer()
		case menus.Hangup:
			next = newEnding(menuOutcome(a.Reason))
		case menus.SetVariable:
			if c.rec.Variables == nil {
				c.rec.Variables = make(map[string]string)
			}
			c.rec.Variables[a.Name] = a.Value
		case menus.SetLanguage:
			c.rec.Language = a.Language
		case menus.Freeze:
			if c.e.freeze != nil {
				next = newLanePhase()
			} else {
				next = newEnding(OutcomeGoodbye)
			}
		case menus.Enqueue:
			if c.e.dispatch != nil {
				p.enqueue = &a
			} else {
				next = newEnding(OutcomeGoodbye)
			}
		case menus.Transfer:
			if c.e.dispatch != nil { // the dial starts now, while the action's prompt plays
				next = newTransferPhase(a, p)
			} else { // validation refuses transfers without the dialler
				next = newEnding(OutcomeGoodbye)
			}
		}
	}
	c.publish()
	switch {
	case next != nil:
		return c.to(ctx, next)
	case p.enqueue != nil && c.playing == 0:
		return c.to(ctx, newHoldPhase(p.enqueue.Queue, p.enqueue.Priority))
	}
	return nil
}

// menuOutcome maps the machine's hang-up reason to the call's outcome.
func menuOutcome(reason string) string {
	switch reason {
	case menus.ReasonMaxRetries, menus.ReasonMaxFailures, menus.ReasonMaxTimeouts:
		return OutcomeMaxRetries
	case menus.ReasonCompleted:
		return OutcomeCompleted
	}
	return OutcomeGoodbye
}
