package ivr

import (
	"context"
	"errors"
	"time"

	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/queue/store"
)

// A caller on hold who accepts the callback offer chooses, or forges, the number Hotline
// will dial. The guards, in order:
//   - a callback without a trunk reaches only phones registered with Hotline: the number
//     must be a plain user name (and match callback.allow when the queue lists any);
//   - through a trunk, the number is the caller's identity only when a trusted trunk
//     vouched for it; otherwise the caller keys in the number to call;
//   - either way it must pass the queue's dial plan (callback.allow, callback.deny);
//   - and the store refuses it past the per-number and per-day caps.
//
// A refusal is said to the caller, who keeps waiting in their place; it is audited (kind
// "callback", outcome "refused", with the reason) and counted.

// Prompts of the callback request, from the system prompts.
const (
	promptCallbackEnterNumber   = "callback_enter_number"
	promptCallbackRefused       = "callback_refused"
	promptCallbackYouEntered    = "callback_you_entered"
	promptCallbackConfirmNumber = "callback_confirm_number"
)

// Reasons a callback was refused, in the audit log and hotline_callbacks_total.
const (
	refusedNotAllowed = "not-allowed" // matches no callback.allow pattern
	refusedDenied     = "denied"      // matches a callback.deny pattern
	refusedBadNumber  = "bad-number"  // not a number (or user name) at all
	refusedLimit      = "limit"       // the per-number or per-day cap
)

const (
	// keyedNumberTimeout is how long the caller has between keys of the number to call.
	keyedNumberTimeout = 10 * time.Second
	// maxKeyedDigits bounds a keyed number (E.164 has at most 15 digits, plus a prefix).
	maxKeyedDigits = 20
	// timerKeyedNumber is the call timer's ID while the caller keys a number.
	timerKeyedNumber = "callback_number"
)

// checkTarget applies queue qname's dial plan to a callback's number: user names for
// callbacks to registered phones, numbers for callbacks through a trunk.
func (d *dispatcher) checkTarget(qname, number string) error {
	plan := d.plans[qname]
	if d.cfgs[qname].CallbackTrunk != "" {
		return plan.Check(number)
	}
	return plan.CheckUser(number)
}

// refuseStored cancels a stored callback the dial plan refuses, with an audit record.
func (d *dispatcher) refuseStored(ctx context.Context, cb store.Callback, why error, now time.Time) {
	d.log.Warn("stored callback refused by the dial plan; canceled", "id", cb.ID, "queue", cb.Queue, "number", cb.CallerNumber, "err", why)
	st := d.e.taker
	if st == nil {
		return
	}
	if err := st.CancelCallback(ctx, cb.ID, now); err != nil {
		d.log.Error("refused callback not canceled", "id", cb.ID, "err", err)
	}
	if err := st.Audit(ctx, store.AuditRecord{Time: now, Kind: "callback", Caller: cb.CallerNumber,
		Outcome: "refused", Reason: refusalReason(why)}); err != nil {
		d.log.Error("callback refusal not audited", "id", cb.ID, "err", err)
	}
}

// refusalReason maps a dial plan or store refusal to its audit reason.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, queue.ErrDenied):
		return refusedDenied
	case errors.Is(err, queue.ErrBadNumber):
		return refusedBadNumber
	case errors.Is(err, store.ErrLimit):
		return refusedLimit
	}
	return refusedNotAllowed
}

// Keying a number to call back: entering the digits, then confirming them read back.
const (
	keyingNone = iota
	keyingEnter
	keyingConfirm
)

// requestCallback answers "1" to the offer: the caller's own number when it can be
// trusted (or the callback reaches only registered phones), else the caller keys one in.
func (p *holdPhase) requestCallback(ctx context.Context, c *call) error {
	if c.e.dispatch.cfgs[p.queue].CallbackTrunk != "" && !c.rec.Trusted {
		p.askNumber(c)
		return nil
	}
	return p.submitCallback(ctx, c, c.callerID(), false)
}

// askNumber asks for the number to call back; the key timer starts once the question ends.
func (p *holdPhase) askNumber(c *call) {
	p.keying, p.keyed, p.armAfterPlay = keyingEnter, p.keyed[:0], true
	c.stopTimer()
	c.silence()
	c.playNamed(c.sysPrompt(promptCallbackEnterNumber))
}

// onKeyedDigit collects the number to call back (digits, then # or a pause; * gives up),
// reads it back and takes 1 to confirm it, 2 to key it again.
func (p *holdPhase) onKeyedDigit(ctx context.Context, c *call, k byte) error {
	if p.keying == keyingConfirm {
		switch k {
		case '1':
			number := string(p.keyed)
			p.stopKeying(c)
			return p.submitCallback(ctx, c, number, true)
		case '2':
			p.askNumber(c)
		}
		return nil
	}
	switch {
	case k == '#':
		return p.endKeying(ctx, c)
	case k == '*':
		p.stopKeying(c)
		return p.resume(ctx, c)
	case k >= '0' && k <= '9' && len(p.keyed) < maxKeyedDigits:
		if len(p.keyed) == 0 && c.playing != 0 {
			c.silence() // the caller knows what to do: stop asking
			p.armAfterPlay = false
		}
		p.keyed = append(p.keyed, k)
	}
	c.arm(keyedNumberTimeout, timerKeyedNumber)
	return nil
}

// endKeying reads back what was keyed and asks for the confirmation; nothing keyed: back
// to waiting, nothing promised.
func (p *holdPhase) endKeying(ctx context.Context, c *call) error {
	c.stopTimer()
	if len(p.keyed) == 0 {
		p.stopKeying(c)
		return p.resume(ctx, c)
	}
	p.keying, p.armAfterPlay = keyingConfirm, true
	lang := c.sayLang()
	names := []string{c.sysPrompt(promptCallbackYouEntered)}
	for _, d := range p.keyed {
		names = append(names, "numbers/"+lang+"/"+string(d))
	}
	c.silence()
	c.playNamed(append(names, c.sysPrompt(promptCallbackConfirmNumber))...)
	return nil
}

// onKeyingTimeout: a pause after some digits ends the entry; silence at the confirmation,
// or before any digit, goes back to waiting with nothing promised.
func (p *holdPhase) onKeyingTimeout(ctx context.Context, c *call) error {
	if p.keying == keyingEnter && len(p.keyed) > 0 {
		return p.endKeying(ctx, c)
	}
	p.stopKeying(c)
	return p.resume(ctx, c)
}

// resume goes back to waiting after a callback that was not taken: the music, or, for a
// caller who came only for the callback (the brown-out offer), goodbye.
func (p *holdPhase) resume(ctx context.Context, c *call) error {
	c.silence()
	if p.callbackNow {
		c.playNamed(c.sysPrompt("goodbye"))
		return c.to(ctx, newEnding(OutcomeOverloadReleased))
	}
	c.loop(p.music)
	return nil
}

func (p *holdPhase) stopKeying(c *call) {
	p.keying, p.keyed, p.offered, p.armAfterPlay = keyingNone, p.keyed[:0], false, false
	c.stopTimer()
}

// submitCallback checks number against the dial plan, then stores the callback (the caps
// are checked in the store's transaction) and confirms it; a refusal is said and audited,
// and the caller keeps their place.
func (p *holdPhase) submitCallback(ctx context.Context, c *call, number string, keyed bool) error {
	qc := c.e.dispatch.cfgs[p.queue]
	if err := c.e.dispatch.checkTarget(p.queue, number); err != nil {
		return p.refuseCallback(ctx, c, number, keyed, err)
	}
	perNumber, perDay := qc.Callback.Limits()
	now := c.e.now()
	return p.takeCallback(ctx, c, store.NewCallback{
		Queue: p.queue, CallerNumber: number, CallerName: c.rec.Caller.Display,
		CallID: c.rec.CallID, Arrival: c.rec.Queue.JoinedAt,
		Limit: store.CallbackLimit{Since: now.Add(-24 * time.Hour), PerNumber: perNumber, PerQueue: perDay},
	}, keyed)
}

// refuseCallback tells the caller the callback cannot be made and lets them keep waiting.
func (p *holdPhase) refuseCallback(ctx context.Context, c *call, number string, keyed bool, why error) error {
	reason := refusalReason(why)
	p.offered = false
	c.rec.Queue.CallbackRefused = reason
	c.e.metrics.callbacks.WithLabelValues("refused").Inc()
	c.e.log.Warn("callback refused", "call_id", c.rec.CallID, "queue", p.queue, "number", number,
		"keyed", keyed, "trusted", c.rec.Trusted, "reason", reason, "err", why)
	if st := c.e.taker; st != nil {
		outcome := "refused"
		if keyed {
			reason += " (keyed)"
		}
		if err := st.Audit(context.WithoutCancel(ctx), store.AuditRecord{Time: c.e.now(), Kind: "callback",
			Caller: number, Outcome: outcome, Reason: reason}); err != nil {
			c.e.log.Error("callback refusal not audited", "call_id", c.rec.CallID, "err", err)
		}
	}
	c.silence()
	c.playNamed(c.sysPrompt(promptCallbackRefused)) // then the music again (playedEvent)
	return nil
}
