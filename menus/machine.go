package menus

import (
	"fmt"
	"strings"
	"time"
)

// Event is something that happened to a call, fed to Machine.Step. The
// implementations are Started, Digit, PlaybackDone and TimerFired.
type Event interface {
	fmt.Stringer
	event()
}

// Started is the first event of every call, after it has been answered.
type Started struct{}

// Digit is a key pressed by the caller ('0'-'9', '*', '#'; any other byte is
// treated as an invalid key).
type Digit struct{ Key byte }

// PlaybackDone reports that the most recent Play sequence ran to its end.
type PlaybackDone struct{}

// TimerFired reports that the timer started by StartTimer{ID} expired. The
// caller must not deliver it for a timer it has stopped (see the package
// documentation).
type TimerFired struct{ ID TimerID }

func (Started) event()      {}
func (Digit) event()        {}
func (PlaybackDone) event() {}
func (TimerFired) event()   {}

func (Started) String() string      { return "Started" }
func (d Digit) String() string      { return "Digit(" + keyString(d.Key) + ")" }
func (PlaybackDone) String() string { return "PlaybackDone" }
func (e TimerFired) String() string { return "TimerFired(" + string(e.ID) + ")" }

// TimerID names one of the machine's timers.
type TimerID string

// TimerDigit is the timer that waits for a key after a node's prompt.
const TimerDigit TimerID = "digit"

// Hangup reasons.
const (
	ReasonCallerChoice = "caller_choice" // the caller picked a hangup option
	ReasonMaxRetries   = "max_retries"   // too many timeouts and invalid keys
)

// Action is something the caller of Step must do, in order. The
// implementations are EnterNode, Play, StopPlayback, StartTimer, StopTimer,
// Hangup, Invalid and Timeout.
type Action interface {
	fmt.Stringer
	action()
}

// EnterNode records that the call entered a node (for logs and metrics).
type EnterNode struct{ Node string }

// Play replaces the current playback, if any, with this sequence of prompts
// (by name). Digits may interrupt it (barge-in).
type Play struct{ Prompts []string }

// StopPlayback stops the current playback (the caller barged in).
type StopPlayback struct{}

// StartTimer arms timer ID to fire After from now.
type StartTimer struct {
	ID    TimerID
	After time.Duration
}

// StopTimer disarms timer ID; a TimerFired for it must not be delivered
// afterwards.
type StopTimer struct{ ID TimerID }

// Hangup ends the call with Reason, after any playback queued before it has
// finished. The machine ignores every event after it.
type Hangup struct{ Reason string }

// Invalid records that the caller pressed a key with no option.
type Invalid struct{ Key byte }

// Timeout records that the caller pressed no key in time.
type Timeout struct{}

func (EnterNode) action()    {}
func (Play) action()         {}
func (StopPlayback) action() {}
func (StartTimer) action()   {}
func (StopTimer) action()    {}
func (Hangup) action()       {}
func (Invalid) action()      {}
func (Timeout) action()      {}

func (a EnterNode) String() string  { return "EnterNode(" + a.Node + ")" }
func (a Play) String() string       { return "Play(" + strings.Join(a.Prompts, ", ") + ")" }
func (StopPlayback) String() string { return "StopPlayback" }
func (a StartTimer) String() string {
	return "StartTimer(" + string(a.ID) + ", " + a.After.String() + ")"
}
func (a StopTimer) String() string { return "StopTimer(" + string(a.ID) + ")" }
func (a Hangup) String() string    { return "Hangup(" + a.Reason + ")" }
func (a Invalid) String() string   { return "Invalid(" + keyString(a.Key) + ")" }
func (Timeout) String() string     { return "Timeout" }

func keyString(k byte) string {
	if k > ' ' && k < 0x7f {
		return string(rune(k))
	}
	return fmt.Sprintf("0x%02x", k)
}

type state uint8

const (
	stateNew     state = iota // before Started
	statePlaying              // a Play sequence ending in the node prompt is running
	stateWaiting              // the digit timer is armed
	stateEnded                // Hangup emitted
)

// Machine is the menu state machine of one call. It is not safe for
// concurrent use: the call goroutine owns it (STYLE.md rule C1).
type Machine struct {
	t        *Tree
	cur      *node
	st       state
	failures int // timeouts + invalid keys in this visit of cur
}

// NewMachine returns a machine at the start of t, waiting for Started.
func NewMachine(t *Tree) *Machine { return &Machine{t: t} }

// Node returns the name of the current node, or "" before Started.
func (m *Machine) Node() string {
	if m.cur == nil {
		return ""
	}
	return m.cur.name
}

// Step feeds one event to the machine and returns the actions to perform, in
// order. It returns nil for an event that is ignored: anything before
// Started, a second Started, anything after Hangup, a PlaybackDone while the
// digit timer is armed, and a TimerFired while a prompt plays (stale).
//
// Semantics:
//   - Started: EnterNode(root), Play(root prompt).
//   - PlaybackDone: StartTimer(TimerDigit, node digit timeout).
//   - Digit: first StopPlayback (barge-in) or StopTimer, whichever is
//     running; then for a goto option EnterNode(target), Play(target
//     prompt), and the failure count resets; for a play option
//     Play(prompt, node prompt); for a hangup option Play(prompt) if it has
//     one, then Hangup(ReasonCallerChoice); for any other key Invalid(key)
//     and a failure.
//   - TimerFired(TimerDigit): Timeout and a failure.
//   - A failure replays the node: Play(invalid or timeout prompt if
//     configured, node prompt). When the failures of this visit exceed the
//     node's max retries it instead ends the call: Play(goodbye prompt) if
//     configured, Hangup(ReasonMaxRetries).
func (m *Machine) Step(ev Event) []Action {
	switch ev := ev.(type) {
	case Started:
		if m.st != stateNew {
			return nil
		}
		return m.enter(nil, m.t.root)
	case Digit:
		var acts []Action
		switch m.st {
		case statePlaying:
			acts = []Action{StopPlayback{}}
		case stateWaiting:
			acts = []Action{StopTimer{ID: TimerDigit}}
		default:
			return nil
		}
		return m.digit(acts, ev.Key)
	case PlaybackDone:
		if m.st != statePlaying {
			return nil
		}
		m.st = stateWaiting
		return []Action{StartTimer{ID: TimerDigit, After: m.cur.digitTimeout}}
	case TimerFired:
		if m.st != stateWaiting || ev.ID != TimerDigit {
			return nil
		}
		return m.fail([]Action{Timeout{}}, m.t.timeout)
	}
	return nil
}

func (m *Machine) digit(acts []Action, key byte) []Action {
	o, ok := m.cur.options[key]
	if !ok {
		return m.fail(append(acts, Invalid{Key: key}), m.t.invalid)
	}
	switch o.action {
	case ActionGoto:
		return m.enter(acts, o.target)
	case ActionPlay:
		m.st = statePlaying
		return append(acts, Play{Prompts: []string{o.prompt, m.cur.prompt}})
	default: // ActionHangup; Compile admits no other action
		return m.hangup(acts, o.prompt, ReasonCallerChoice)
	}
}

func (m *Machine) enter(acts []Action, n *node) []Action {
	m.cur = n
	m.failures = 0
	m.st = statePlaying
	return append(acts, EnterNode{Node: n.name}, Play{Prompts: []string{n.prompt}})
}

// fail counts a failure, then replays the node prompt after prefix (if any)
// or, past the retry limit, says goodbye.
func (m *Machine) fail(acts []Action, prefix string) []Action {
	m.failures++
	if m.failures > m.cur.maxRetries {
		return m.hangup(acts, m.t.goodbye, ReasonMaxRetries)
	}
	m.st = statePlaying
	p := make([]string, 0, 2)
	if prefix != "" {
		p = append(p, prefix)
	}
	return append(acts, Play{Prompts: append(p, m.cur.prompt)})
}

func (m *Machine) hangup(acts []Action, prompt, reason string) []Action {
	m.st = stateEnded
	if prompt != "" {
		acts = append(acts, Play{Prompts: []string{prompt}})
	}
	return append(acts, Hangup{Reason: reason})
}
