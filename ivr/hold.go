package ivr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/queue/store"
)

// QueueRecord is what a call did in a hold queue.
type QueueRecord struct {
	Name       string     `json:"name"`
	JoinedAt   time.Time  `json:"joined_at"`
	Position   int        `json:"position"` // on joining; 1 = next
	Agent      string     `json:"agent,omitempty"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	Callback   string     `json:"callback,omitempty"` // stored callback ID, when the caller took one
	Offers     int        `json:"callback_offers,omitempty"`
	// Resumed: the caller hung up earlier within the queue's abandon_window and got their
	// old place back, ahead of those who came after their first arrival.
	Resumed bool `json:"resumed,omitempty"`
}

// Outcomes of queued calls.
const (
	OutcomeAnswered  = "answered"  // bridged to an agent
	OutcomeCallback  = "callback"  // took a callback that keeps their place
	OutcomeAbandoned = "abandoned" // hung up while waiting
	OutcomeQueueFull = "queue_refused"
)

// Prompts the hold loop plays, from the system prompts (see README "queues").
const (
	promptMusic             = "moh"
	promptCallbackOffer     = "callback_offer"
	promptCallbackConfirmed = "callback_confirmed"
	promptConnecting        = "connecting"
)

// hold keeps the caller in queue qname until an agent answers, the caller takes a callback,
// presses a global key such as freeze, or hangs up. The menu is over (it ignores events
// after Enqueue); the tree's global keys still work.
func (c *call) hold(ctx context.Context, qname string, priority int) error {
	d := c.e.dispatch
	id := c.rec.CallID
	events, dec, err := d.join(qname, queue.Entry{ID: id, CallerID: c.callerID(), Priority: priority})
	now := c.e.now()
	c.rec.Queue = &QueueRecord{Name: qname, JoinedAt: now, Position: dec.Position, Resumed: dec.Resumed}
	c.e.records.publish(c.rec)
	if err != nil {
		c.e.log.Info("queue refused the caller", "call_id", id, "queue", qname, "err", err)
		c.hangupWant, c.hangupWhy = true, OutcomeQueueFull
		c.playSystem(c.sysPrompt("goodbye"))
		if c.playing == 0 {
			return c.hangup(ctx)
		}
		return nil
	}
	music := c.prompt(cmpOr(d.cfgs[qname].Music, promptMusic))
	offered := false
	if dec.Kind == queue.KindOfferCallback {
		offered = c.offerCallback()
	} else {
		c.sess.Loop(music)
		c.playing = 0
	}
	waited := func(outcome string) {
		c.e.metrics.queueWait.WithLabelValues(qname, outcome).Observe(c.e.now().Sub(c.rec.Queue.JoinedAt).Seconds())
	}
	leave := func(reason queue.LeaveReason) {
		d.leave(qname, id, reason)
		outcome := OutcomeAbandoned
		if reason == queue.LeaveExited {
			outcome = "freeze"
		}
		waited(outcome)
	}
	for {
		select {
		case ev := <-events:
			switch {
			case ev.agent != nil:
				waited(OutcomeAnswered)
				return c.connect(ctx, qname, ev.agent)
			case ev.kind == queue.KindAnnounce && c.playing != 0:
				// Still speaking (an offer, or the last announcement): never cut it short.
			case ev.kind == queue.KindAnnounce:
				lang := c.sayLang()
				names := append(media.SayPosition(lang, ev.position), media.SayWait(lang, ev.wait)...)
				if ev.wait == queue.NoEstimate {
					names = media.SayPosition(lang, ev.position)
				}
				c.playSystem(names...)
			case ev.kind == queue.KindOfferCallback:
				offered = c.offerCallback()
			}
		case pid := <-c.sess.Done():
			if pid == c.playing {
				c.playing = 0
				if c.hangupWant {
					return c.hangup(ctx)
				}
				c.sess.Loop(music)
			}
		case dg := <-c.sess.Digits():
			if done, err := c.holdKey(ctx, qname, dg, &offered, leave); done || err != nil {
				return err
			}
		case dg := <-c.info:
			if done, err := c.holdKey(ctx, qname, dg, &offered, leave); done || err != nil {
				return err
			}
		case p := <-c.policies:
			c.dtmf = p // a re-INVITE changed the SDP while on hold
		case <-c.leg.Done():
			if !c.hangupWant {
				leave(queue.LeaveAbandoned)
				c.rec.Outcome = OutcomeAbandoned
			}
			return errCallOver
		case <-ctx.Done():
			if !c.hangupWant {
				leave(queue.LeaveAbandoned)
				c.rec.Outcome = outcomeFromCause(ctx, OutcomeAbandoned)
				if c.rec.Outcome == OutcomeCallerHangup {
					c.rec.Outcome = OutcomeAbandoned
				}
			}
			return errCallOver
		}
	}
}

// holdKey handles a key press on hold. done reports that hold is over (the lane took the
// call, or it ended).
func (c *call) holdKey(ctx context.Context, qname string, dg media.Digit, offered *bool, leave func(queue.LeaveReason)) (bool, error) {
	if _, ok := c.key(dg); !ok || c.hangupWant {
		return false, nil
	}
	if act, ok := c.menu.Tree.GlobalAction(dg.Key); ok && act == menus.ActionFreeze && c.e.freeze != nil {
		leave(queue.LeaveExited)
		c.sess.Stop()
		c.playing = 0
		return true, c.startLane(ctx) // the lane goes on in the main loop
	}
	exit := c.e.dispatch.cfgs[qname].ExitKey
	switch {
	case *offered && dg.Key == '1':
		return c.takeCallback(ctx, qname)
	case *offered && dg.Key == '2':
		*offered = false
		c.sess.Stop()
		c.playing = 0
		c.sess.Loop(c.prompt(cmpOr(c.e.dispatch.cfgs[qname].Music, promptMusic)))
	case exit != "" && dg.Key == exit[0]:
		*offered = c.offerCallback()
	}
	return false, nil
}

// offerCallback plays the offer: "press 1 to be called back, you keep your place; press 2
// to keep waiting".
func (c *call) offerCallback() bool {
	c.rec.Queue.Offers++
	c.playSystem(c.sysPrompt(promptCallbackOffer))
	return true
}

// takeCallback stores the callback durably, then tells the caller, then hangs up.
func (c *call) takeCallback(ctx context.Context, qname string) (bool, error) {
	d := c.e.dispatch
	var cbID int64
	if c.e.store != nil {
		cb, err := c.e.store.AddCallback(ctx, store.NewCallback{
			Queue: qname, CallerNumber: c.callerID(), CallerName: c.rec.Caller.Display,
			CallID: c.rec.CallID, Arrival: c.rec.Queue.JoinedAt,
		}, c.e.now())
		if err != nil {
			c.e.log.Error("callback not stored; the caller keeps waiting", "call_id", c.rec.CallID, "err", err)
			return false, nil
		}
		c.rec.Queue.Callback = fmt.Sprint(cb.ID)
		cbID = cb.ID
		c.e.metrics.callbacks.WithLabelValues("stored").Inc()
	}
	if err := d.accepted(qname, c.rec.CallID, cbID); err != nil && !errors.Is(err, queue.ErrNotFound) {
		c.e.log.Warn("callback: queue", "call_id", c.rec.CallID, "err", err)
	}
	c.sess.Stop()
	c.playing = 0
	c.playSystem(c.sysPrompt(promptCallbackConfirmed))
	c.hangupWant, c.hangupWhy = true, OutcomeCallback
	c.e.metrics.queueWait.WithLabelValues(qname, OutcomeCallback).Observe(c.e.now().Sub(c.rec.Queue.JoinedAt).Seconds())
	return false, nil
}

// connect bridges the caller to the agent who answered until either hangs up.
func (c *call) connect(ctx context.Context, qname string, leg *agentLeg) error {
	d := c.e.dispatch
	defer leg.close()
	defer d.completed(qname, leg.id, c.rec.CallID)
	c.sess.Stop()
	c.playing = 0
	now := c.e.now()
	c.rec.Queue.Agent, c.rec.Queue.AnsweredAt = leg.id, &now
	c.rec.Outcome = OutcomeAnswered
	c.e.records.publish(c.rec)
	br, err := media.Bridge(ctx, c.sess, leg.sess, media.BridgeConfig{})
	if err != nil {
		leg.call.Hangup(context.WithoutCancel(ctx))
		return fmt.Errorf("call %s: bridge to agent %s: %w", c.rec.CallID, leg.id, err)
	}
	defer br.Unbridge()
	select {
	case <-c.leg.Done():
		leg.call.Hangup(context.WithoutCancel(ctx))
	case <-leg.call.Done():
		c.leg.Hangup(ctx, nil)
	case <-ctx.Done():
		leg.call.Hangup(context.WithoutCancel(ctx))
	}
	return errCallOver
}

// sayLang picks the announcement language: the call's, else English.
func (c *call) sayLang() string {
	if c.rec.Language != "" && len(media.SayPrompts(c.rec.Language)) > 0 {
		return c.rec.Language
	}
	return media.LangEN
}

// sysPrompt names a phrase of the queue prompt set in the call's language.
func (c *call) sysPrompt(name string) string {
	if name == "goodbye" {
		return name
	}
	return "queue/" + c.sayLang() + "/" + name
}

// playSystem plays system prompts (numbers, queue phrases) and menu prompts by name.
func (c *call) playSystem(names ...string) {
	ps := make([]*media.Prompt, 0, len(names))
	at := c.e.now()
	for _, n := range names {
		p := c.prompt(n)
		if p == nil {
			c.e.log.Warn("prompt missing", "prompt", n)
			continue
		}
		ps = append(ps, p)
		c.rec.Prompts = append(c.rec.Prompts, PromptPlay{Prompt: n, At: at})
		at = at.Add(p.Duration())
	}
	c.playing = c.sess.Play(ps...)
}

// prompt finds a prompt by name: the menu's own first, then the system prompts (music on
// hold, numbers, queue phrases).
func (c *call) prompt(name string) *media.Prompt {
	if p, ok := c.menu.Prompts[name]; ok {
		return p
	}
	return c.e.sys[name]
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
