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
	// CallbackRefused is why the last callback the caller asked for was refused (the dial
	// plan: not-allowed, denied, bad-number; or limit); the caller kept waiting.
	CallbackRefused string `json:"callback_refused,omitempty"`
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

// Prompts the hold phase plays, from the system prompts (see README "queues").
const (
	promptMusic             = "moh"
	promptCallbackOffer     = "callback_offer"
	promptCallbackConfirmed = "callback_confirmed"
	promptConnecting        = "connecting"
)

// queuePhrases are the phrases of the queue prompt set, in each language.
var queuePhrases = []string{promptCallbackOffer, promptCallbackConfirmed, promptConnecting,
	promptCallbackEnterNumber, promptCallbackRefused, promptCallbackYouEntered, promptCallbackConfirmNumber,
	promptOverloadOffer}

// holdPhase keeps the caller in a queue until an agent answers, the caller takes a
// callback, presses the freeze key, or hangs up. A callback's customer enters it already
// in the queue, at the place the callback kept (resumed).
type holdPhase struct {
	queue    string
	entry    string // the queue entry: the Call-ID, or a callback's entry
	priority int
	resumed  chan holdEvent // a callback's customer back at the kept place; nil: join now

	joined  bool              // we hold a place the dispatcher must hear about when we go
	reason  queue.LeaveReason // why we go, when we do
	offered bool              // the callback offer was made and not declined
	// callbackNow: the caller asked for a callback before joining (the brown-out offer):
	// the place is taken only to be kept by the callback.
	callbackNow bool
	keying      int    // keyingNone, or where the caller is in keying a number to call back
	keyed       []byte // the digits keyed so far
	// armAfterPlay: start the keying timer when the question being played ends.
	armAfterPlay bool
	music        *media.Prompt
}

func newHoldPhase(qname string, priority int) *holdPhase {
	return &holdPhase{queue: qname, priority: priority, reason: queue.LeaveAbandoned}
}

// newResumedHold is the hold phase of a customer-first callback's customer, who is already
// at the kept place; events are the dispatcher's for that entry.
func newResumedHold(qname, entry string, events chan holdEvent) *holdPhase {
	p := newHoldPhase(qname, 0)
	p.entry, p.resumed = entry, events
	return p
}

func (*holdPhase) name() string { return "hold" }

func (p *holdPhase) enter(ctx context.Context, c *call) error {
	d := c.e.dispatch
	p.music = c.prompt(cmpOr(d.cfgs[p.queue].Music, promptMusic))
	now := c.e.now()
	if p.resumed != nil {
		if c.rec.Queue == nil {
			c.rec.Queue = &QueueRecord{Name: p.queue, JoinedAt: now}
		}
		c.queued, p.joined = p.resumed, true
		c.silence()
		c.loop(p.music)
		c.publish()
		return nil
	}
	p.entry = c.rec.CallID
	events, dec, err := d.join(p.queue, queue.Entry{ID: p.entry, CallerID: c.callerID(), Priority: p.priority})
	c.rec.Queue = &QueueRecord{Name: p.queue, JoinedAt: now, Position: dec.Position, Resumed: dec.Resumed}
	if err != nil {
		c.e.log.Info("queue refused the caller", "call_id", c.rec.CallID, "queue", p.queue, "err", err)
		c.playNamed(c.sysPrompt("goodbye"))
		return c.to(ctx, newEnding(OutcomeQueueFull))
	}
	c.queued, p.joined = events, true
	if p.callbackNow {
		p.offered = true
		c.publish()
		return p.requestCallback(ctx, c)
	}
	if dec.Kind == queue.KindOfferCallback {
		p.offer(c)
	} else {
		c.loop(p.music)
	}
	c.publish()
	return nil
}

func (p *holdPhase) on(ctx context.Context, c *call, ev event) error {
	switch ev := ev.(type) {
	case queueEvent:
		return p.onQueue(ctx, c, ev.ev)
	case playedEvent:
		switch {
		case p.keying == keyingNone && p.callbackNow:
			return p.resume(ctx, c) // a refusal was said: the brown-out caller is released
		case p.keying == keyingNone:
			c.loop(p.music) // an announcement or the offer ended: back to the music
		case p.armAfterPlay: // the caller keys in silence after the question
			p.armAfterPlay = false
			c.arm(keyedNumberTimeout, timerKeyedNumber)
		}
	case timerEvent:
		if p.keying != keyingNone && ev.id == timerKeyedNumber {
			return p.onKeyingTimeout(ctx, c)
		}
	case keyEvent:
		if p.keying != keyingNone {
			return p.onKeyedDigit(ctx, c, ev.key)
		}
		return p.onKey(ctx, c, ev.key)
	case rtpTimeoutEvent:
		// A ghost: out of the queue before anything else (the BYE may go unanswered), so
		// that no agent is rung or bridged to dead air. Its place is kept for
		// abandon_window, as for any caller who is gone: a caller cut off calls back.
		return c.dead(ctx, OutcomeRTPTimeout)
	case hangupEvent:
		c.setOutcome(cmpOr(timedOut(ev.cause), OutcomeAbandoned))
	case shutdownEvent:
		c.setOutcome(outcomeFromCause(ev.cause, OutcomeAbandoned))
		if c.rec.Outcome == OutcomeCallerHangup {
			c.rec.Outcome = OutcomeAbandoned
		}
	}
	return nil
}

func (p *holdPhase) onQueue(ctx context.Context, c *call, ev holdEvent) error {
	switch {
	case ev.agent != nil:
		p.joined = false // the dispatcher handed us the agent: the place is used
		p.waited(c, OutcomeAnswered)
		return c.to(ctx, newBridged(p.queue, p.entry, ev.agent))
	case p.keying != keyingNone:
		// The caller is keying a number: no announcement or offer talks over it.
	case ev.kind == queue.KindAnnounce && c.playing != 0:
		// Still speaking (an offer, or the last announcement): never cut it short.
	case ev.kind == queue.KindAnnounce:
		lang := c.sayLang()
		names := media.SayPosition(lang, ev.position)
		if ev.wait != queue.NoEstimate {
			names = append(names, media.SayWait(lang, ev.wait)...)
		}
		c.playNamed(names...)
	case ev.kind == queue.KindOfferCallback:
		p.offer(c)
	}
	return nil
}

// onKey handles a key press on hold: the tree's global freeze key leaves for the freeze
// lane; 1 and 2 answer a callback offer; the queue's exit key asks for the offer.
func (p *holdPhase) onKey(ctx context.Context, c *call, k byte) error {
	if act, ok := c.menu.Tree.GlobalAction(k); ok && act == menus.ActionFreeze && c.e.freeze != nil {
		p.reason = queue.LeaveExited
		c.silence()
		return c.to(ctx, newLanePhase())
	}
	exit := c.e.dispatch.cfgs[p.queue].ExitKey
	switch {
	case p.offered && k == '1':
		return p.requestCallback(ctx, c)
	case p.offered && k == '2':
		p.offered = false
		c.silence()
		c.loop(p.music)
	case exit != "" && k == exit[0]:
		p.offer(c)
	}
	return nil
}

// offer plays "press 1 to be called back, you keep your place; press 2 to keep waiting".
func (p *holdPhase) offer(c *call) {
	if c.rec.Direction == DirectionOutbound {
		return // a callback's customer is already being served from their kept place
	}
	p.offered = true
	c.rec.Queue.Offers++
	c.playNamed(c.sysPrompt(promptCallbackOffer))
}

// takeCallback stores the callback durably, has the dispatcher turn the caller's place
// into it, then tells the caller and hangs up. When the store fails, or an agent already
// took the call (the dispatcher hands the agent over instead), nothing is promised: the
// stored row is taken back and the caller goes on as before. A cap the store enforces is
// a refusal said to the caller.
func (p *holdPhase) takeCallback(ctx context.Context, c *call, nc store.NewCallback, keyed bool) error {
	var cbID int64
	if st := c.e.taker; st != nil {
		cb, err := st.AddCallback(ctx, nc, c.e.now())
		if errors.Is(err, store.ErrLimit) {
			return p.refuseCallback(ctx, c, nc.CallerNumber, keyed, err)
		}
		if err != nil {
			c.e.log.Error("callback not stored; the caller keeps waiting", "call_id", c.rec.CallID, "err", err)
			return nil
		}
		cbID = cb.ID
	}
	if err := c.e.dispatch.accepted(p.queue, p.entry, cbID); err != nil {
		c.e.log.Info("callback not taken: the place is no longer waiting", "call_id", c.rec.CallID, "err", err)
		if cbID != 0 {
			if err := c.e.taker.CancelCallback(context.WithoutCancel(ctx), cbID, c.e.now()); err != nil {
				c.e.log.Error("callback not taken back", "call_id", c.rec.CallID, "callback", cbID, "err", err)
			}
		}
		return nil // an agent's answer, if that was it, is on its way in c.queued
	}
	if cbID != 0 {
		c.rec.Queue.Callback = fmt.Sprint(cbID)
		c.e.metrics.callbacks.WithLabelValues("stored").Inc()
	}
	p.joined = false // the place now belongs to the callback
	c.queued = nil
	p.waited(c, OutcomeCallback)
	c.silence()
	c.playNamed(c.sysPrompt(promptCallbackConfirmed))
	return c.to(ctx, newEnding(OutcomeCallback))
}

// leave gives the place back when the call leaves hold for any reason but an agent or a
// callback: hung up (the place is kept for abandon_window), the freeze key, a stop.
func (p *holdPhase) leave(_ context.Context, c *call) {
	c.queued = nil
	if !p.joined {
		return
	}
	p.joined = false
	c.e.dispatch.leave(p.queue, p.entry, p.reason)
	outcome := OutcomeAbandoned
	if p.reason == queue.LeaveExited {
		outcome = "freeze"
	}
	p.waited(c, outcome)
}

func (p *holdPhase) waited(c *call, outcome string) {
	if c.rec.Queue == nil {
		return
	}
	c.e.metrics.queueWait.WithLabelValues(p.queue, outcome).Observe(c.e.now().Sub(c.rec.Queue.JoinedAt).Seconds())
}
