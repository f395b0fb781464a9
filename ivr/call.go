package ivr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
)

// errCallOver ends the call loop normally (the menu hung up, or the caller did).
var errCallOver = errors.New("call over")

// call is the state of one call, owned by its goroutine (STYLE.md C1): no mutex.
type call struct {
	e        *Engine
	leg      Leg
	sess     *media.Session
	menu     *Menu
	machine  *menus.Machine
	rec      *CallRecord
	info     <-chan media.Digit // SIP INFO key presses; nil when none
	dtmf     callDTMF
	policies <-chan callDTMF // a re-INVITE changed the SDP: the DTMF policy re-evaluated
	keys     keyFilter
	trunk    string

	timer   *time.Timer // the digit timer; nil until first started
	timerOn bool
	timerID menus.TimerID

	lane      *lane          // the freeze lane, once the menu handed the call to it
	enqueue   *menus.Enqueue // the queue to join once playback ends
	laneTimer time.Duration  // arm the lane's timer when the current playback ends
	lastKeyAt time.Time      // when the last counted key press arrived

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
	var ev menus.Event = menus.Started{At: c.rec.Start, Language: c.rec.Language}
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
			c.armTimer(a.After, a.ID)
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
		case menus.Freeze:
			if c.e.freeze != nil {
				c.publishIf(changed)
				return c.startLane(ctx)
			}
			c.hangupWant, c.hangupWhy = true, "unsupported"
		case menus.Enqueue:
			if c.e.dispatch != nil {
				c.enqueue = &a
				continue
			}
			c.hangupWant, c.hangupWhy = true, "unsupported"
		case menus.Transfer:
			// Validation refuses these until their subsystems exist (issues 5 and 6); a tree
			// compiled with them enabled still ends politely rather than leaving silence.
			c.hangupWant, c.hangupWhy = true, "unsupported"
		}
	}
	c.publishIf(changed)
	if c.hangupWant && c.playing == 0 {
		return c.hangup(ctx)
	}
	if c.enqueue != nil && c.playing == 0 {
		return c.startHold(ctx)
	}
	return nil
}

// startHold hands the call to its queue once the menu's last prompt has played.
func (c *call) startHold(ctx context.Context) error {
	q := c.enqueue
	c.enqueue = nil
	c.stopTimer()
	return c.hold(ctx, q.Queue, q.Priority)
}

func (c *call) publishIf(changed bool) {
	if changed {
		c.e.records.publish(c.rec)
	}
}

// hangup ends the call from our side after the goodbye prompt.
func (c *call) hangup(ctx context.Context) error {
	switch c.hangupWhy {
	case OutcomeFrozen, OutcomeFreezeRefused, OutcomeFreezeFailed, OutcomeCallback, OutcomeQueueFull:
		c.rec.Outcome = c.hangupWhy
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
				if c.lane != nil {
					if err := c.laneDo(ctx, c.lane.digit(d.Key)); err != nil {
						return nil, err
					}
					continue
				}
				return ev, nil
			}
		case d := <-c.info:
			if ev, ok := c.key(d); ok {
				if c.lane != nil {
					if err := c.laneDo(ctx, c.lane.digit(d.Key)); err != nil {
						return nil, err
					}
					continue
				}
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
			if c.enqueue != nil {
				return nil, c.startHold(ctx)
			}
			if c.lane != nil {
				if c.laneTimer > 0 {
					c.armTimer(c.laneTimer, laneTimerID)
					c.laneTimer = 0
				}
				continue
			}
			return menus.PlaybackDone{}, nil
		case <-timerC:
			c.timerOn = false
			if c.lane != nil {
				if err := c.laneDo(ctx, c.lane.timedOut()); err != nil {
					return nil, err
				}
				continue
			}
			return menus.TimerFired{ID: c.timerID}, nil
		case p := <-c.policies:
			c.dtmf = p
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
	c.lastKeyAt = d.At
	c.rec.Keys = append(c.rec.Keys, KeyPress{Key: string(d.Key), Mode: string(d.Mode), Node: c.machine.Node(), At: d.At,
		LatencyMs: float64(d.Delay.Microseconds()) / 1000})
	c.e.metrics.digits.WithLabelValues(string(d.Mode), c.trunk).Inc()
	c.e.records.publish(c.rec)
	if c.hangupWant {
		return nil, false // the goodbye is playing; keys no longer matter
	}
	return menus.Digit{Key: d.Key}, true
}

func (c *call) armTimer(after time.Duration, id menus.TimerID) {
	if c.timer == nil {
		c.timer = time.NewTimer(after)
	} else {
		c.timer.Reset(after) // Go ≥ 1.23: no stale value after Reset/Stop
	}
	c.timerOn, c.timerID = true, id
}

func (c *call) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timerOn = false
}

// laneTimerID is the freeze lane's key timer (the menu's timers are over by then).
const laneTimerID menus.TimerID = "freeze_lane"

// startLane hands the call to the freeze lane: the menu is over (the machine ignores
// events after Freeze). Caller-ID identification happens here, at once.
func (c *call) startLane(ctx context.Context) error {
	c.stopTimer()
	f := c.e.freeze
	c.lane = newLane(f.lane.Config.CheckDigits, f.lane.Config.KeyTimeout)
	c.lane.offerAgent = f.lane.Config.RecoveryQueue != "" && c.e.dispatch != nil
	c.rec.Freeze = &FreezeRecord{}
	if c.lastKeyAt.IsZero() {
		c.lastKeyAt = c.e.now()
	}
	return c.laneDo(ctx, c.lane.start(f.lane.Accounts.byCallerID(c.callerID())))
}

// laneDo performs what the freeze lane asked, feeding it the answers of lookups, checks and
// the freeze itself until it asks for something that waits on the caller.
func (c *call) laneDo(ctx context.Context, act laneAct) error {
	f := c.e.freeze
	fr := c.rec.Freeze
	for {
		if act.Stop {
			c.sess.Stop()
			c.playing = 0
		}
		if act.Audit != "" {
			fr.Refused = act.Audit
			f.audit(context.WithoutCancel(ctx), c.callerID(), c.lane.account, "refused", act.Audit)
		}
		switch {
		case act.Lookup != "":
			act = c.lane.lookedUp(act.Lookup, f.exists(act.Lookup))
			continue
		case act.Verify != "":
			act = c.lane.verified(f.checkMatches(c.lane.account, act.Verify))
			continue
		case act.Freeze != "":
			fr.Account = act.Freeze
			// The caller may hang up now: the freeze must still be recorded (and audited).
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			ref, refused, err := f.freeze(fctx, act.Freeze, c.callerID(), c.rec.CallID)
			cancel()
			if err != nil {
				c.e.log.Error("freeze not recorded", "call_id", c.rec.CallID, "account", act.Freeze, "err", err)
			} else if refused == "" {
				fr.Reference = ref
				fr.RecordedMs = msSince(c.lastKeyAt, c.e.now())
				c.e.metrics.freezeRecord.Observe(c.e.now().Sub(c.lastKeyAt).Seconds())
			}
			act = c.lane.frozen(ref, refused, err != nil)
			if err == nil && refused == "" {
				c.lanePlay(act.Play)
				fr.ConfirmMs = msSince(c.lastKeyAt, c.e.now())
				c.e.metrics.freezeConfirm.Observe(c.e.now().Sub(c.lastKeyAt).Seconds())
				act.Play = nil
			}
			continue
		}
		if act.Enqueue {
			// The recovery queue, at top priority: the lane is over, hold takes the call.
			c.lane = nil
			c.stopTimer()
			return c.hold(ctx, f.lane.Config.RecoveryQueue, f.lane.Config.RecoveryPriority)
		}
		if len(act.Play) > 0 {
			c.lanePlay(act.Play)
		}
		if act.Timer > 0 {
			if c.playing == 0 {
				c.armTimer(act.Timer, laneTimerID)
			} else {
				c.stopTimer()
				c.laneTimer = act.Timer
			}
		}
		c.e.records.publish(c.rec)
		if act.Hangup != "" {
			c.stopTimer()
			c.hangupWant, c.hangupWhy = true, act.Hangup
			if c.playing == 0 {
				return c.hangup(ctx)
			}
		}
		return nil
	}
}

// lanePlay plays the lane's prompts: names from menus.prompts (in the call's language when
// it has them) and "digit:N" read-backs (prompts digit_0 ... digit_9).
func (c *call) lanePlay(names []string) {
	ps := make([]*media.Prompt, 0, len(names))
	at := c.e.now()
	for _, n := range names {
		if d, ok := strings.CutPrefix(n, laneDigitPrefix); ok {
			n = "digit_" + d
		}
		p, ok := c.menu.Prompts[strings.ToLower(c.rec.Language)+"/"+n]
		if !ok {
			p, ok = c.menu.Prompts[n]
		}
		if !ok {
			c.e.log.Error("freeze lane prompt missing", "prompt", n) // validation requires them
			continue
		}
		ps = append(ps, p)
		c.rec.Prompts = append(c.rec.Prompts, PromptPlay{Prompt: n, At: at})
		at = at.Add(p.Duration())
	}
	c.playing = c.sess.Play(ps...)
}

func msSince(from, to time.Time) float64 { return float64(to.Sub(from).Microseconds()) / 1000 }

// callerID is the caller's number for the freeze lane, queues and callbacks: the
// P-Asserted-Identity a carrier vouched for, else the From user.
func (c *call) callerID() string {
	if c.rec.Asserted != nil && c.rec.Asserted.User != "" {
		return c.rec.Asserted.User
	}
	return c.rec.Caller.User
}
