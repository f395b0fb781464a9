package ivr

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/hotline-ivr/hotline/media"
)

// laneTimerID is the freeze lane's key timer.
const laneTimerID = "freeze_lane"

// lanePhase runs the freeze lane: the pure dialogue in lane.go decides, this phase does
// the lookups, the check and the durable freeze, plays and times. It is entered from the
// menu (the freeze action) or from hold (the freeze key), never waits in a queue, and ends
// in the ending phase or, when the caller asks for a person, in the recovery queue.
type lanePhase struct {
	l       *lane
	trusted bool          // the caller's identity is vouched for (or freeze.trust_from)
	pending time.Duration // arm the lane's timer when the current playback ends
}

func newLanePhase() *lanePhase { return &lanePhase{} }

func (*lanePhase) name() string { return "lane" }

// freezeSource is the address per-source freeze limits count the call under: the IP its
// signalling came from, or "" for a call from a trunk (which carries a carrier's callers)
// and for outbound calls.
func (c *call) freezeSource() string {
	if c.rec.Trunk != "" || c.rec.Direction != DirectionInbound {
		return ""
	}
	if host, _, err := net.SplitHostPort(c.rec.Source); err == nil {
		return host
	}
	return c.rec.Source
}

func (p *lanePhase) enter(ctx context.Context, c *call) error {
	f := c.e.freeze
	cfg := f.lane.Config
	check := cfg.CheckDigits
	p.trusted = c.rec.Trusted || cfg.TrustFrom
	if !p.trusted {
		// Anyone can write a From header: whoever calls must show the account's check
		// digits, however the account was identified.
		check = max(check, UntrustedCheckDigits)
	}
	p.l = newLane(check, cfg.KeyTimeout)
	p.l.offerAgent = cfg.RecoveryQueue != "" && c.e.dispatch != nil
	c.rec.Freeze = &FreezeRecord{}
	if c.lastKeyAt.IsZero() {
		c.lastKeyAt = c.e.now()
	}
	limited, err := f.attemptFrom(ctx, c.freezeSource(), c.callerID())
	if err != nil { // the lane goes on: a store fault must not block the urgent path
		c.e.log.Error("freeze attempt not counted", "call_id", c.rec.CallID, "err", err)
	}
	if limited {
		return p.do(ctx, c, p.l.end([]string{PromptFreezeRefused, PromptFreezeGoodbye}, OutcomeFreezeRefused, "rate-limit-source"))
	}
	// Caller-ID identification happens at once.
	return p.do(ctx, c, p.l.start(f.lane.Accounts.byCallerID(c.callerID())))
}

func (p *lanePhase) on(ctx context.Context, c *call, ev event) error {
	switch ev := ev.(type) {
	case keyEvent:
		return p.do(ctx, c, p.l.digit(ev.key))
	case playedEvent:
		if p.pending > 0 {
			c.arm(p.pending, laneTimerID)
			p.pending = 0
		}
	case timerEvent:
		return p.do(ctx, c, p.l.timedOut())
	case rtpTimeoutEvent:
		return c.dead(ctx, OutcomeRTPTimeout)
	case hangupEvent:
		c.setOutcome(cmpOr(timedOut(ev.cause), OutcomeCallerHangup))
	case shutdownEvent:
		c.setOutcome(outcomeFromCause(ev.cause, OutcomeShutdown))
	}
	return nil
}

// do performs what the lane asked, feeding it the answers of lookups, checks and the freeze
// itself until it asks for something that waits on the caller.
func (p *lanePhase) do(ctx context.Context, c *call, act laneAct) error {
	f := c.e.freeze
	fr := c.rec.Freeze
	for {
		if act.Stop {
			c.silence()
		}
		if act.Audit != "" {
			fr.Refused = act.Audit
			f.audit(context.WithoutCancel(ctx), c.callerID(), p.l.account, c.freezeSource(), "refused", act.Audit)
		}
		switch {
		case act.Lookup != "":
			act = p.l.lookedUp(act.Lookup, f.exists(act.Lookup))
			continue
		case act.Admit != "":
			refused, err := f.limited(ctx, act.Admit, c.callerID(), p.trusted)
			if err != nil { // the urgent path goes on; freeze() checks the limits again
				c.e.log.Error("freeze limits not checked", "call_id", c.rec.CallID, "err", err)
			}
			act = p.l.admitted(refused)
			continue
		case act.Verify != "":
			act = p.l.verified(f.checkMatches(p.l.account, act.Verify))
			continue
		case act.Freeze != "":
			fr.Account = act.Freeze
			// The caller may hang up now: the freeze must still be recorded (and audited).
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			ref, refused, err := f.freeze(fctx, act.Freeze, c.callerID(), p.trusted, c.freezeSource(), c.rec.CallID)
			cancel()
			if err != nil {
				c.e.log.Error("freeze not recorded", "call_id", c.rec.CallID, "account", act.Freeze, "err", err)
			} else if refused == "" {
				fr.Reference = ref
				fr.RecordedMs = msSince(c.lastKeyAt, c.e.now())
				c.e.metrics.freezeRecord.Observe(c.e.now().Sub(c.lastKeyAt).Seconds())
			}
			act = p.l.frozen(ref, refused, err != nil)
			if err == nil && refused == "" {
				p.play(c, act.Play)
				fr.ConfirmMs = msSince(c.lastKeyAt, c.e.now())
				c.e.metrics.freezeConfirm.Observe(c.e.now().Sub(c.lastKeyAt).Seconds())
				act.Play = nil
			}
			continue
		}
		if act.Enqueue {
			// The recovery queue, at top priority: the lane is over, hold takes the call.
			cfg := f.lane.Config
			return c.to(ctx, newHoldPhase(cfg.RecoveryQueue, cfg.RecoveryPriority))
		}
		if len(act.Play) > 0 {
			p.play(c, act.Play)
		}
		if act.Hangup != "" {
			return c.to(ctx, newEnding(act.Hangup))
		}
		if act.Timer > 0 {
			if c.playing == 0 {
				c.arm(act.Timer, laneTimerID)
			} else {
				c.stopTimer()
				p.pending = act.Timer
			}
		}
		c.publish()
		return nil
	}
}

// play plays the lane's prompts: names from menus.prompts (in the call's language when it
// has them) and "digit:N" read-backs (prompts digit_0 ... digit_9).
func (p *lanePhase) play(c *call, names []string) {
	ps := make([]*media.Prompt, 0, len(names))
	played := make([]string, 0, len(names))
	for _, n := range names {
		if d, ok := strings.CutPrefix(n, laneDigitPrefix); ok {
			n = "digit_" + d
		}
		pr, ok := c.menu.Prompts[strings.ToLower(c.rec.Language)+"/"+n]
		if !ok {
			pr, ok = c.menu.Prompts[n]
		}
		if !ok {
			c.e.log.Error("freeze lane prompt missing", "prompt", n) // validation requires them
			continue
		}
		ps, played = append(ps, pr), append(played, n)
	}
	c.play(played, ps)
}
