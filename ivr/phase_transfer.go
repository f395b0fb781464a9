package ivr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-ivr/hotline/menus"
	"github.com/hotline-ivr/hotline/sip"
)

// Transfers (issue 11): a menu's transfer action makes Hotline a B2BUA. It dials the target
// itself (a SIP URI, or a number through a trunk) and bridges the caller to it, so it works
// with every trunk and the caller's side never sees a REFER. The target comes from the
// configuration, never from the caller, so it passes no dial plan (a URI's ${input} and
// ${variable} are the config author's choice; a trunk's number takes none).

// KindTransfer is the record kind of the partner leg a transfer dialled.
const KindTransfer = "transfer"

// OutcomeTransferred: the caller was bridged to a transfer's target.
const OutcomeTransferred = "transferred"

// Transfer outcomes (TransferRecord.Outcome).
const (
	TransferAnswered = "answered"  // the target answered and was bridged
	TransferBusy     = "busy"      // 486, 600 or 603
	TransferNoAnswer = "no-answer" // rang out (the action's timeout), 408 or 480
	TransferFailed   = "failed"    // any other refusal or fault
	TransferCanceled = "canceled"  // the caller hung up (or the server stopped) while it rang
)

// transferPhase rings a transfer's target while the caller hears the action's prompt, then
// music on hold; once the target answered (and the prompt has played) the two are bridged
// until either hangs up. A target that is busy, does not answer or cannot be reached sends
// the caller back to the menu node with the failed prompt: never a silent hang-up.
type transferPhase struct {
	t    menus.Transfer
	menu *menuPhase // where the caller returns when the transfer fails

	results chan holdEvent // the dial's result: agent set when answered
	abandon chan struct{}  // closed when the call leaves: a late answer is hung up
	cancel  context.CancelFunc
	dialErr error // written by the dial before it sends on results

	partner *peer
	stop    func()      // unbridges
	rec     *CallRecord // the partner leg's own record, while bridged
}

func newTransferPhase(t menus.Transfer, menu *menuPhase) *transferPhase {
	return &transferPhase{t: t, menu: menu}
}

func (*transferPhase) name() string { return "transfer" }

func (p *transferPhase) enter(ctx context.Context, c *call) error {
	c.rec.Transfer = &TransferRecord{Target: p.t.Target(), At: c.e.now()}
	c.publish()
	d := c.e.dispatch
	if d == nil { // validation refuses transfers without the dialler
		return p.failed(ctx, c, errors.New("no dialler"))
	}
	// The caller's number is presented only when a trusted trunk vouched for it: an
	// unverified From is a claim, and passing it to a carrier would spoof it. Otherwise the
	// trunk's from_user (or "hotline").
	fromUser := ""
	if c.rec.Trusted {
		fromUser = c.callerID()
	}
	target, o := p.t.URI, sip.DialOptions{FromUser: fromUser, FromDisplay: "Hotline transfer"}
	if target == "" {
		target, o.Trunk = p.t.Number, p.t.Trunk
	}
	rctx, cancel := context.WithTimeout(ctx, p.t.Timeout)
	p.cancel = cancel
	p.results, p.abandon = make(chan holdEvent), make(chan struct{})
	c.queued = p.results
	results, abandon := p.results, p.abandon
	dial := func() {
		pr, err := d.dialer.dialLeg(rctx, KindTransfer, target, o)
		if err == nil && pr == nil {
			err = errors.New("no leg")
		}
		p.dialErr = err // read by the call only after the send below
		select {
		case results <- holdEvent{agent: pr}:
		case <-abandon: // the call left: nobody takes the partner
			if pr != nil {
				hangupBounded(ctx, pr.leg)
				pr.close()
			}
		}
	}
	// Started on the dispatcher's goroutine, so that it is tracked like every dial there and
	// never races the dispatcher's final wait at a stop (which refuses it instead).
	if !d.do(func(time.Time) { d.spawn(dial) }) {
		c.queued = nil
		cancel()
		return p.failed(ctx, c, errStopped)
	}
	if c.playing == 0 {
		c.loop(c.prompt(promptMusic))
	}
	return nil
}

func (p *transferPhase) on(ctx context.Context, c *call, ev event) error {
	switch ev := ev.(type) {
	case queueEvent:
		c.queued = nil
		p.cancel()
		if ev.ev.agent == nil {
			return p.failed(ctx, c, p.dialErr)
		}
		p.partner = ev.ev.agent
		if c.playing == 0 {
			return p.bridge(ctx, c)
		}
	case playedEvent: // the action's prompt ended
		if p.partner != nil {
			return p.bridge(ctx, c)
		}
		c.loop(c.prompt(promptMusic))
	case peerGoneEvent:
		c.peer = nil
		if ev.silent && p.rec != nil {
			p.rec.Outcome = OutcomeRTPTimeout // the partner's line is gone; leave hangs it up
		}
		return c.hangup(ctx) // the partner hung up: so do we, to the caller
	case rtpTimeoutEvent:
		return c.dead(ctx, OutcomeRTPTimeout)
	case hangupEvent:
		c.setOutcome(cmpOr(timedOut(ev.cause), OutcomeCallerHangup))
	case shutdownEvent:
		c.setOutcome(outcomeFromCause(ev.cause, OutcomeShutdown))
	}
	return nil // keys: the bridge relays them to the partner
}

// bridge connects the caller to the partner who answered.
func (p *transferPhase) bridge(ctx context.Context, c *call) error {
	c.silence()
	now := c.e.now()
	tr := c.rec.Transfer
	tr.AnsweredAt, tr.Outcome, tr.Peer = &now, TransferAnswered, p.partner.leg.ID()
	c.rec.Outcome = OutcomeTransferred
	c.rec.Peer = p.partner.leg.ID()
	c.peer = p.partner
	c.publish()
	// The partner's leg is listed and counted too, for as long as it is bridged.
	p.rec = &CallRecord{CallID: p.partner.leg.ID(), Direction: DirectionOutbound, Kind: KindTransfer,
		Caller: Party{User: tr.Target}, Start: now, TreeVersion: c.rec.TreeVersion,
		Transfer: &TransferRecord{Target: tr.Target, At: tr.At, AnsweredAt: &now, Outcome: TransferAnswered, Peer: c.rec.CallID},
		Phases:   []PhaseVisit{{Phase: "transfer", At: now}}, Outcome: OutcomeTransferred, Peer: c.rec.CallID}
	c.e.metrics.callsActive.Inc()
	c.e.records.publish(p.rec)
	c.e.watch(p.partner.leg, p.partner.m) // a partner line gone silent ends the call too
	stop, err := c.e.bridge(ctx, c.m, p.partner.m)
	if err != nil {
		return fmt.Errorf("call %s: bridge to transfer %s: %w", c.rec.CallID, tr.Target, err)
	}
	p.stop = stop
	return nil
}

// failed tells the caller the target was not reached and returns them to the menu node.
func (p *transferPhase) failed(ctx context.Context, c *call, err error) error {
	c.rec.Transfer.Outcome = transferOutcome(err)
	c.e.log.Info("transfer failed", "call_id", c.rec.CallID, "target", p.t.Target(), "outcome", c.rec.Transfer.Outcome, "err", err)
	c.silence()
	p.menu.returning = true
	return c.to(ctx, p.menu)
}

// transferOutcome classifies why a dial failed.
func transferOutcome(err error) string {
	var re *sip.RejectError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return TransferNoAnswer
	case errors.As(err, &re):
		switch re.Code {
		case 486, 600, 603:
			return TransferBusy
		case 408, 480:
			return TransferNoAnswer
		}
	}
	return TransferFailed
}

// leave stops a ring in progress (a late answer is hung up by the dial), or unbridges,
// hangs up the partner if still there and releases its media.
func (p *transferPhase) leave(ctx context.Context, c *call) {
	if p.cancel != nil {
		p.cancel()
	}
	if p.abandon != nil {
		close(p.abandon)
	}
	if c.queued == p.results {
		c.queued = nil
	}
	if tr := c.rec.Transfer; tr != nil && tr.Outcome == "" {
		tr.Outcome = TransferCanceled
	}
	if p.partner == nil {
		return
	}
	if p.stop != nil {
		p.stop()
	}
	c.peer = nil
	hangupBounded(ctx, p.partner.leg)
	p.partner.close()
	if p.rec != nil {
		c.e.metrics.callsActive.Dec()
		c.e.finish(p.rec, nil)
	}
}
