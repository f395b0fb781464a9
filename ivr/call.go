package ivr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/sip"
)

// A call's whole life, in one place.
//
// Every call, inbound (a caller dialled in) or outbound (a callback's customer), is a
// *call owned by one goroutine (STYLE.md C1), which runs call.run: one loop, one wait. The
// wait gathers every input the call has: counted key presses (RFC 4733 and in-band from the
// media, SIP INFO from the leg), the end of a playback, the call's one timer, events from
// the queue dispatcher, the bridged agent hanging up, a re-INVITE's new DTMF policy, the
// leg ending and the server stopping. It hands each to the current phase, which may move
// the call to another phase. Phases, each in its own file:
//
//	menu     (phase_menu.go)    steps the pure menu machine: prompts, keys, timers
//	lane     (phase_lane.go)    the freeze lane's dialogue; from the menu or from hold
//	hold     (phase_hold.go)    waits in a queue: music, announcements, callback offer
//	bridged  (phase_bridged.go) talking to an agent
//	ending   (phase_ending.go)  the last prompt plays, then we hang up
//
//	inbound:  menu ─► lane ─► hold ─► bridged
//	            │      ▲  │     │ ▲
//	            │      └──┼─────┘ │ (the freeze key on hold)
//	            └─────────┼───────┘ (enqueue)
//	                      ▼
//	  any phase ─► ending (goodbye, refusal, callback taken, freeze done)
//	callback (customer-first): hold ─► bridged, lane by the freeze key
//	callback (agent-first):    bridged
//
// The caller hanging up or the server stopping ends the call in any phase; the phase is
// told first (hold gives up its place, bridged hangs up the agent). The record of the call
// is final when run returns: nothing is appended after its end.

// errCallOver ends the call loop normally (we hung up, or the caller did).
var errCallOver = errors.New("call over")

// event is one input of a call, handed to its current phase.
type event interface{ eventName() string }

type (
	keyEvent      struct{ key byte }     // a key press, counted once across paths
	playedEvent   struct{}               // the current playback ended
	timerEvent    struct{ id string }    // the call's timer fired
	queueEvent    struct{ ev holdEvent } // the dispatcher has news for a waiting caller
	peerGoneEvent struct{ silent bool }  // the bridged agent (or customer) hung up, or its RTP stopped
	hangupEvent   struct{ cause error }  // the leg ended: the far end hung up, or a SIP timer ended it
	shutdownEvent struct{ cause error }  // the server is stopping
	// rtpTimeoutEvent: the far end's RTP stopped (media.rtp_timeout, or media.hold_timeout
	// while it holds the call): it is gone without a BYE. Reported once.
	rtpTimeoutEvent struct{}
)

func (keyEvent) eventName() string      { return "key" }
func (playedEvent) eventName() string   { return "played" }
func (timerEvent) eventName() string    { return "timer" }
func (queueEvent) eventName() string    { return "queue" }
func (peerGoneEvent) eventName() string { return "peer_gone" }
func (hangupEvent) eventName() string   { return "hangup" }
func (shutdownEvent) eventName() string { return "shutdown" }

func (rtpTimeoutEvent) eventName() string { return "rtp_timeout" }

// phase is one mode of a call. enter runs when the call moves to it; on handles every event
// while it is current. Both return errCallOver to end the call, or another error to end it
// as failed. A phase that holds something (a queue place, a bridge) implements leaver.
type phase interface {
	name() string
	enter(ctx context.Context, c *call) error
	on(ctx context.Context, c *call, ev event) error
}

// leaver is a phase that must give something back when the call leaves it.
type leaver interface {
	leave(ctx context.Context, c *call)
}

// call is the state of one call, owned by its goroutine: no mutex.
type call struct {
	e     *Engine
	leg   Leg
	m     Media
	menu  *Menu
	rec   *CallRecord
	info  <-chan media.Digit // SIP INFO key presses; nil when none
	trunk string

	dtmf      callDTMF
	policies  <-chan callDTMF // a re-INVITE changed the SDP: the DTMF policy re-evaluated
	keys      keyFilter
	lastKeyAt time.Time // when the last counted key press arrived

	phase   phase
	playing uint64 // id of the playback in progress, 0 when silent

	timer   *time.Timer // the call's one timer; nil until first armed
	timerOn bool
	timerID string

	queued <-chan holdEvent // the dispatcher's events while in a queue; nil otherwise
	peer   *peer            // the bridged agent (or customer) while bridged; nil otherwise

	silenced bool // the media's Silent was reported (rtpTimeoutEvent): not selected again
}

// run is the call loop. It returns when the call is over; the caller of run finishes the
// record and releases the leg's media.
func (c *call) run(ctx context.Context, first phase) error {
	defer c.stopTimer()
	defer func() { // also on a panic: a queue place or an agent is never left behind
		if l, ok := c.phase.(leaver); ok {
			c.phase = nil
			l.leave(context.WithoutCancel(ctx), c)
		}
	}()
	err := c.to(ctx, first)
	for err == nil {
		var ev event
		if ev, err = c.wait(ctx); err != nil {
			break
		}
		c.e.log.Debug("call event", "call_id", c.rec.CallID, "phase", c.phase.name(), "event", ev.eventName())
		err = c.phase.on(ctx, c, ev)
		switch ev.(type) {
		case hangupEvent, shutdownEvent:
			if err == nil { // the phase had its say; the call is over whatever it said
				err = errCallOver
			}
		}
	}
	if errors.Is(err, errCallOver) {
		return nil
	}
	return err
}

// to moves the call to phase p: the old phase gives back what it holds, the call's timer
// stops, and p enters.
func (c *call) to(ctx context.Context, p phase) error {
	if l, ok := c.phase.(leaver); ok {
		c.phase = nil // left once, even if leave panics
		l.leave(ctx, c)
	}
	c.stopTimer()
	c.phase = p
	c.rec.Phases = append(c.rec.Phases, PhaseVisit{Phase: p.name(), At: c.e.now()})
	c.publish()
	return p.enter(ctx, c)
}

// wait blocks until the next event for the current phase. Inputs no phase cares about (a
// key another path already reported, a playback already replaced, a new DTMF policy) are
// dealt with here.
func (c *call) wait(ctx context.Context) (event, error) {
	for {
		var timerC <-chan time.Time
		if c.timerOn {
			timerC = c.timer.C
		}
		var silent, peerDone, peerSilent <-chan struct{}
		if w, ok := c.m.(silenceWatcher); ok && !c.silenced {
			silent = w.Silent()
		}
		if c.peer != nil {
			peerDone = c.peer.leg.Done()
			if w, ok := c.peer.m.(silenceWatcher); ok {
				peerSilent = w.Silent()
			}
		}
		select {
		case d := <-c.m.Digits():
			if c.count(d) {
				return keyEvent{key: d.Key}, nil
			}
		case d := <-c.info:
			if c.count(d) {
				return keyEvent{key: d.Key}, nil
			}
		case id := <-c.m.Done():
			if id == c.playing && id != 0 {
				c.playing = 0
				return playedEvent{}, nil
			}
		case <-timerC:
			c.timerOn = false
			return timerEvent{id: c.timerID}, nil
		case ev := <-c.queued:
			return queueEvent{ev: ev}, nil
		case <-peerDone:
			return peerGoneEvent{}, nil
		case <-peerSilent:
			return peerGoneEvent{silent: true}, nil
		case <-silent:
			c.silenced = true
			return rtpTimeoutEvent{}, nil
		case p := <-c.policies:
			c.dtmf = p
		case <-c.leg.Done():
			return hangupEvent{cause: c.legCause()}, nil
		case <-ctx.Done():
			return shutdownEvent{cause: context.Cause(ctx)}, nil
		}
	}
}

// count decides whether a reported key press counts: the call's DTMF mode listens to its
// path and no other path already reported it. A counted press goes in the record.
func (c *call) count(d media.Digit) bool {
	if !c.dtmf.accepts(d.Mode) {
		c.e.metrics.digitsIgnored.WithLabelValues(string(d.Mode)).Inc()
		return false
	}
	if !c.keys.accept(d) {
		c.e.metrics.duplicates.WithLabelValues(string(d.Mode)).Inc()
		return false
	}
	c.lastKeyAt = d.At
	node := "" // the menu node the caller was last in, if any
	if n := len(c.rec.Nodes); n > 0 {
		node = c.rec.Nodes[n-1].Node
	}
	c.rec.Keys = append(c.rec.Keys, KeyPress{Key: string(d.Key), Mode: string(d.Mode), Node: node, At: d.At,
		LatencyMs: float64(d.Delay.Microseconds()) / 1000})
	c.e.metrics.digits.WithLabelValues(string(d.Mode), c.trunk).Inc()
	c.publish()
	return true
}

// play plays prompts, replacing what was playing, and lists each in the record under its
// name at the time it is due to start. Prompts of an earlier playback that were due later
// never started: they leave the record.
func (c *call) play(names []string, ps []*media.Prompt) {
	at := c.e.now()
	c.unlistFrom(at)
	for i, p := range ps {
		c.rec.Prompts = append(c.rec.Prompts, PromptPlay{Prompt: names[i], At: at})
		at = at.Add(p.Duration())
	}
	c.playing = c.m.Play(ps...)
	c.publish()
}

// unlistFrom drops the prompts listed to start after at: what played is cut there.
func (c *call) unlistFrom(at time.Time) {
	n := len(c.rec.Prompts)
	for n > 0 && c.rec.Prompts[n-1].At.After(at) {
		n--
	}
	c.rec.Prompts = c.rec.Prompts[:n]
}

// playNamed plays prompts by name: the menu's own first, then the system prompts.
func (c *call) playNamed(names ...string) {
	ps := make([]*media.Prompt, 0, len(names))
	found := make([]string, 0, len(names))
	for _, n := range names {
		if p := c.prompt(n); p != nil {
			ps, found = append(ps, p), append(found, n)
		} else {
			c.e.log.Warn("prompt missing", "call_id", c.rec.CallID, "prompt", n)
		}
	}
	c.play(found, ps)
}

// loop plays prompts over and over (music on hold): not listed in the record.
func (c *call) loop(p *media.Prompt) {
	c.unlistFrom(c.e.now())
	c.playing = 0
	if p != nil {
		c.m.Loop(p)
	}
}

// silence stops whatever plays.
func (c *call) silence() {
	c.unlistFrom(c.e.now())
	c.m.Stop()
	c.playing = 0
}

// prompt finds a prompt by name: the menu's own first, then the system prompts (music on
// hold, numbers, queue phrases).
func (c *call) prompt(name string) *media.Prompt {
	if p, ok := c.menu.Prompts[name]; ok {
		return p
	}
	return c.e.sys[name]
}

func (c *call) arm(after time.Duration, id string) {
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

// publish shows the record's current state in the admin API.
func (c *call) publish() { c.e.records.publish(c.rec) }

// hangup ends the call from our side.
func (c *call) hangup(ctx context.Context) error {
	if err := c.leg.Hangup(ctx); err != nil {
		return fmt.Errorf("call %s: hangup: %w", c.rec.CallID, err)
	}
	return errCallOver
}

// setOutcome records how the call ended, unless a phase already decided it.
func (c *call) setOutcome(o string) {
	if c.rec.Outcome == "" {
		c.rec.Outcome = o
	}
}

// callerID is the caller's number for the freeze lane, queues and callbacks: the
// P-Asserted-Identity a carrier vouched for, else the From user.
func (c *call) callerID() string {
	if c.rec.Asserted != nil && c.rec.Asserted.User != "" {
		return c.rec.Asserted.User
	}
	return c.rec.Caller.User
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

// legCause is why the leg ended, when it says (*sip.Leg, *sip.Call): sip's timers end a
// leg with sip.ErrMaxDuration or sip.ErrSessionExpired.
func (c *call) legCause() error {
	var l any = c.leg
	if a, ok := l.(answered); ok {
		l = a.Inbound
	}
	if l, ok := l.(interface{ Cause() error }); ok {
		return l.Cause()
	}
	return nil
}

// timedOut is the outcome of a leg sip ended on a timer, else "".
func timedOut(cause error) string {
	switch {
	case errors.Is(cause, sip.ErrMaxDuration):
		return OutcomeMaxDuration
	case errors.Is(cause, sip.ErrSessionExpired):
		return OutcomeSessionExpired
	}
	return ""
}

// dead ends a call whose far end is gone (its RTP stopped) at once, with outcome, whatever
// was decided before and without a last prompt: the phase gives back what it holds (a
// queue place, a bridged agent) before the BYE, which nobody may answer (bounded by the
// transaction's timeout).
func (c *call) dead(ctx context.Context, outcome string) error {
	c.silence()
	return c.to(ctx, newEnding(outcome))
}

// outcomeFromCause maps the call context's cause to an outcome.
func outcomeFromCause(cause error, otherwise string) string {
	switch {
	case cause == nil:
		return otherwise
	case timedOut(cause) != "":
		return timedOut(cause)
	case errors.Is(cause, sip.ErrHangup), errors.Is(cause, sip.ErrCanceled):
		return OutcomeCallerHangup
	}
	return OutcomeShutdown
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func msSince(from, to time.Time) float64 { return float64(to.Sub(from).Microseconds()) / 1000 }
