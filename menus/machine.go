package menus

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event is something that happened to a call, fed to Machine.Step. The
// implementations are Started, Digit, PlaybackDone, TimerFired and
// TransferFailed.
type Event interface {
	fmt.Stringer
	event()
}

// Started is the first event of every call, after it has been answered.
type Started struct {
	// At is when the call started; route_time decisions for the whole
	// call use it. The zero time counts as open for every schedule.
	At time.Time
	// Language is the caller's language chosen by the trunk, e.g. "zh-CN"
	// (matched without regard to case, then by its primary subtag "zh").
	// "" or a language the tree has no prompts for plays the default
	// prompts.
	Language string
}

// Digit is a key pressed by the caller ('0'-'9', '*', '#'; any other byte is
// treated as an invalid key).
type Digit struct{ Key byte }

// PlaybackDone reports that the most recent Play sequence ran to its end.
type PlaybackDone struct{}

// TimerFired reports that the timer started by StartTimer{ID} expired. The
// caller must not deliver it for a timer it has stopped (see the package
// documentation).
type TimerFired struct{ ID TimerID }

// TransferFailed reports that the Transfer the machine emitted did not reach
// its target (busy, no answer, unreachable): the caller is back in the node
// the transfer was chosen in.
type TransferFailed struct{}

func (Started) event()        {}
func (Digit) event()          {}
func (PlaybackDone) event()   {}
func (TimerFired) event()     {}
func (TransferFailed) event() {}

func (e Started) String() string {
	var args []string
	if !e.At.IsZero() {
		args = append(args, e.At.Format(time.RFC3339))
	}
	if e.Language != "" {
		args = append(args, e.Language)
	}
	if len(args) == 0 {
		return "Started"
	}
	return "Started(" + strings.Join(args, ", ") + ")"
}
func (d Digit) String() string        { return "Digit(" + keyString(d.Key) + ")" }
func (PlaybackDone) String() string   { return "PlaybackDone" }
func (e TimerFired) String() string   { return "TimerFired(" + string(e.ID) + ")" }
func (TransferFailed) String() string { return "TransferFailed" }

// TimerID names one of the machine's timers. At most one runs at a time.
type TimerID string

const (
	// TimerDigit waits for the first key after a prompt.
	TimerDigit TimerID = "digit"
	// TimerInterDigit waits for the next key of a multi-key entry or a
	// collect.
	TimerInterDigit TimerID = "inter_digit"
)

// Hangup reasons.
const (
	ReasonCallerChoice = "caller_choice" // the caller picked a hangup option
	ReasonMaxRetries   = "max_retries"   // too many timeouts and invalid keys
	ReasonMaxFailures  = "max_failures"  // too many invalid keys (max_failures)
	ReasonMaxTimeouts  = "max_timeouts"  // too many timeouts (max_timeouts)
	ReasonCompleted    = "completed"     // an announcement node finished
)

// Action is something the caller of Step must do, in order. The
// implementations are EnterNode, Play, StopPlayback, StartTimer, StopTimer,
// Hangup, Invalid, Timeout, SetVariable, SetLanguage, TimeRouted, Enqueue,
// Freeze and Transfer.
type Action interface {
	fmt.Stringer
	action()
}

// EnterNode records that the call entered a node (for logs and metrics).
type EnterNode struct{ Node string }

// Play replaces the current playback, if any, with this sequence of prompts
// (by prompt ID: see Tree.PromptRefs). Digits may interrupt it (barge-in).
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

// Invalid records that the caller pressed a key, or typed an entry, that
// chooses nothing.
type Invalid struct {
	Key   byte   // the last key
	Entry string // the whole entry, when it had more than one key
}

// Timeout records that the caller pressed no key in time.
type Timeout struct{}

// SetVariable records a collected value: the caller must store it with the
// call (its record, and later the queue or freeze lane).
type SetVariable struct{ Name, Value string }

// SetLanguage records that the call's prompt language changed (the Play
// actions that follow already carry its prompt IDs). "" is the default
// language when it has no name.
type SetLanguage struct{ Language string }

// TimeRouted records a route_time decision (for logs and transcripts).
type TimeRouted struct {
	Schedule string
	Open     bool
}

// Enqueue hands the call to hold queue Queue with caller Priority (higher
// first), after any playback queued before it has finished. The menu is over:
// the machine ignores every event after it.
type Enqueue struct {
	Queue    string
	Priority int
}

// Freeze hands the call to the account-freeze lane, after any playback queued
// before it has finished. The machine ignores every event after it.
type Freeze struct{}

// Transfer bridges the call to a target, after any playback queued before it
// has finished: URI, or Number through sip.trunks entry Trunk. Timeout is how
// long the target rings. The machine ignores every event after it but
// TransferFailed, which brings the caller back to the node.
type Transfer struct {
	URI           string
	Trunk, Number string
	Timeout       time.Duration
}

// Target names the transfer's target: the URI, or "trunk:number".
func (a Transfer) Target() string {
	if a.URI != "" {
		return a.URI
	}
	return a.Trunk + ":" + a.Number
}

func (EnterNode) action()    {}
func (Play) action()         {}
func (StopPlayback) action() {}
func (StartTimer) action()   {}
func (StopTimer) action()    {}
func (Hangup) action()       {}
func (Invalid) action()      {}
func (Timeout) action()      {}
func (SetVariable) action()  {}
func (SetLanguage) action()  {}
func (TimeRouted) action()   {}
func (Enqueue) action()      {}
func (Freeze) action()       {}
func (Transfer) action()     {}

func (a EnterNode) String() string  { return "EnterNode(" + a.Node + ")" }
func (a Play) String() string       { return "Play(" + strings.Join(a.Prompts, ", ") + ")" }
func (StopPlayback) String() string { return "StopPlayback" }
func (a StartTimer) String() string {
	return "StartTimer(" + string(a.ID) + ", " + a.After.String() + ")"
}
func (a StopTimer) String() string { return "StopTimer(" + string(a.ID) + ")" }
func (a Hangup) String() string    { return "Hangup(" + a.Reason + ")" }
func (a Invalid) String() string {
	if a.Entry != "" {
		return "Invalid(" + a.Entry + ")"
	}
	return "Invalid(" + keyString(a.Key) + ")"
}
func (Timeout) String() string       { return "Timeout" }
func (a SetVariable) String() string { return "SetVariable(" + a.Name + "=" + a.Value + ")" }
func (a SetLanguage) String() string { return "SetLanguage(" + a.Language + ")" }
func (a TimeRouted) String() string {
	if a.Open {
		return "TimeRouted(" + a.Schedule + ", open)"
	}
	return "TimeRouted(" + a.Schedule + ", closed)"
}
func (a Enqueue) String() string {
	return "Enqueue(" + a.Queue + ", " + strconv.Itoa(a.Priority) + ")"
}
func (Freeze) String() string     { return "Freeze" }
func (a Transfer) String() string { return "Transfer(" + a.Target() + ")" }

func keyString(k byte) string {
	if k > ' ' && k < 0x7f {
		return string(rune(k))
	}
	return fmt.Sprintf("0x%02x", k)
}

type state uint8

const (
	stateNew     state = iota // before Started
	statePlaying              // a Play sequence is running
	stateWaiting              // a timer is armed, nothing plays
	stateEnded                // Hangup, Enqueue, Freeze or Transfer emitted
)

// mode is what keys mean in the current node.
type mode uint8

const (
	modeMenu    mode = iota // keys choose options and patterns
	modeCollect             // keys are digits of a collect
	modeConfirm             // 1 accepts a collect's read-back, 2 re-enters it
)

// Machine is the menu state machine of one call. It is not safe for
// concurrent use: the call goroutine owns it (STYLE.md rule C1).
type Machine struct {
	t        *Tree
	cur      *node
	st       state
	mode     mode
	timer    TimerID // the armed timer while stateWaiting
	entry    []byte  // keys of the multi-key entry or collect in progress
	col      *option // the collect in progress (modeCollect, modeConfirm)
	failures int     // invalid keys in this visit of cur
	timeouts int     // timeouts in this visit of cur
	history  []*node // nodes to go back to, oldest first
	lang     *language
	at       time.Time
	vars     map[string]string
	input    string  // the last multi-key entry that chose an option
	transfer *option // the transfer in progress (stateEnded), for TransferFailed
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

// Language returns the call's prompt language (lower case), or "" for the
// default prompts.
func (m *Machine) Language() string {
	if m.lang == nil {
		return m.t.defaultLang
	}
	return m.lang.name
}

// Variable returns a value collected in this call.
func (m *Machine) Variable(name string) (string, bool) {
	v, ok := m.vars[name]
	return v, ok
}

// Step feeds one event to the machine and returns the actions to perform, in
// order. It returns nil for an event that is ignored: anything before
// Started, a second Started, anything after the menu ended, a PlaybackDone
// while a timer is armed, a TimerFired for a timer that is not armed (stale),
// and a non-global key during an announcement.
//
// Semantics:
//   - Started: the language and time are set; EnterNode(root), and the
//     root's greeting plays. Entering a route_time node emits
//     EnterNode(it), TimeRouted and enters the open or closed node.
//   - PlaybackDone: StartTimer(TimerDigit, digit timeout); in an
//     announcement node (no options, no patterns), Hangup(completed).
//   - Digit: first StopPlayback (barge-in) or StopTimer, whichever runs.
//     A global key then does its action; it wins over the node's options,
//     except for keys that continue a multi-key entry and digits (and the
//     terminator) during a collect. In a node taking one key, the key's
//     option is done, or it is invalid. In a multi-key node (digit_len > 1
//     or patterns) keys accumulate until the entry matches an option or
//     pattern that no longer entry could match, reaches digit_len, or the
//     terminator is pressed; otherwise StartTimer(TimerInterDigit) and
//     TimerFired(TimerInterDigit) ends the entry. An entry that matches
//     nothing is invalid.
//   - TimerFired(TimerDigit): Timeout and a timeout failure.
//   - TransferFailed (after Transfer only): the caller is back in the node;
//     the transfer's failed prompt (default the node's invalid prompt) and
//     the short greeting play; the failure counts stay as they were.
//   - Options: goto enters the target (EnterNode, long greeting; the
//     failure counts reset); back returns to the previous node (the root
//     if none); top enters the root; repeat replays the long greeting;
//     play plays its prompt then the short greeting; collect plays its
//     prompt and collects digits (below); set_language emits SetLanguage
//     and enters its target or replays the long greeting; route_time
//     emits TimeRouted and enters open or closed; hangup plays its prompt
//     and emits Hangup(caller_choice); enqueue, freeze and transfer play
//     their prompt and emit Enqueue, Freeze or Transfer, ending the menu.
//   - Collect: digits 0-9 accumulate (StartTimer(TimerInterDigit) between
//     them) until max_digits, the terminator, or the inter-digit timeout
//     with at least min_digits; then, with confirm, the read-back plays
//     (readback prompt, one digit prompt per digit, confirm prompt) and 1
//     accepts, 2 starts again. Accepting emits SetVariable and enters the
//     target, or returns to the node with its short greeting. A terminator
//     too early or another key is invalid; a timeout with too few digits
//     is a timeout failure. Either replays the collect prompt (or the
//     read-back).
//   - A failure (invalid key or timeout) replays what was playing, after
//     the invalid or timeout prompt if configured: the short greeting, the
//     collect prompt or the read-back. When the invalid keys of this visit
//     exceed max_failures, or its timeouts max_timeouts, the matching
//     action is done instead; when both together exceed max_retries, the
//     exit prompt plays and Hangup(max_retries). A limit action's default,
//     and a hangup action without a prompt, play the exit prompt and
//     emit Hangup(max_failures or max_timeouts).
func (m *Machine) Step(ev Event) []Action {
	switch ev := ev.(type) {
	case Started:
		if m.st != stateNew {
			return nil
		}
		m.at = ev.At
		m.lang = m.t.language(ev.Language)
		return m.enter(nil, m.t.root, false)
	case Digit:
		if m.st != statePlaying && m.st != stateWaiting {
			return nil
		}
		return m.digit(ev.Key)
	case PlaybackDone:
		if m.st != statePlaying {
			return nil
		}
		if m.mode == modeMenu && m.cur.announce {
			m.st = stateEnded
			return []Action{Hangup{Reason: ReasonCompleted}}
		}
		return m.arm(nil, TimerDigit, m.cur.digitTimeout)
	case TimerFired:
		if m.st != stateWaiting || ev.ID != m.timer {
			return nil
		}
		m.st, m.timer = statePlaying, ""
		if ev.ID == TimerInterDigit {
			switch m.mode {
			case modeMenu:
				return m.dispatch(nil, 0)
			case modeCollect:
				if len(m.entry) >= max(m.col.minDigits, 1) {
					return m.collected(nil)
				}
			}
		}
		return m.fail([]Action{Timeout{}}, false)
	case TransferFailed:
		o := m.transfer
		if m.st != stateEnded || o == nil {
			return nil
		}
		m.transfer = nil
		if p := cmp.Or(o.failed, m.cur.invalid); p != "" {
			return m.play(nil, p, m.cur.short)
		}
		return m.play(nil, m.cur.short)
	}
	return nil
}

// language finds the prompt language for a trunk's language tag.
func (t *Tree) language(tag string) *language {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if l, ok := t.langs[tag]; ok {
		return l
	}
	if primary, _, ok := strings.Cut(tag, "-"); ok {
		return t.langs[primary]
	}
	return nil
}

// interrupt stops whatever runs: the playback or the timer.
func (m *Machine) interrupt(acts []Action) []Action {
	switch m.st {
	case statePlaying:
		acts = append(acts, StopPlayback{})
	case stateWaiting:
		acts = append(acts, StopTimer{ID: m.timer})
		m.timer = ""
	}
	m.st = statePlaying // until the next play, arm or end says otherwise
	return acts
}

func (m *Machine) arm(acts []Action, id TimerID, after time.Duration) []Action {
	m.st, m.timer = stateWaiting, id
	return append(acts, StartTimer{ID: id, After: after})
}

// globalApplies reports whether global key k wins now.
func (m *Machine) globalApplies(k byte) bool {
	switch m.mode {
	case modeMenu:
		return len(m.entry) == 0
	case modeCollect:
		return !isDigit(k) && k != m.col.terminator
	}
	return true
}

func (m *Machine) digit(key byte) []Action {
	if g := m.t.globals[key]; g != nil && m.globalApplies(key) {
		m.entry = m.entry[:0]
		return m.do(m.interrupt(nil), g, ReasonCallerChoice)
	}
	switch m.mode {
	case modeCollect:
		return m.collectKey(key)
	case modeConfirm:
		acts := m.interrupt(nil)
		switch key {
		case '1':
			return m.accept(acts)
		case '2':
			m.mode, m.entry = modeCollect, m.entry[:0]
			return m.play(acts, m.col.prompt)
		}
		return m.invalid(acts, key, "")
	}
	n := m.cur
	if n.announce {
		return nil
	}
	acts := m.interrupt(nil)
	if n.digitLen <= 1 {
		if o := n.options[key]; o != nil {
			return m.do(acts, o, ReasonCallerChoice)
		}
		return m.invalid(acts, key, "")
	}
	if n.terminator != 0 && key == n.terminator {
		return m.dispatch(acts, key)
	}
	m.entry = append(m.entry, key)
	if _, longer := m.lookup(); !longer || len(m.entry) >= n.digitLen {
		return m.dispatch(acts, 0)
	}
	return m.arm(acts, TimerInterDigit, n.interDigit)
}

// lookup finds the option the entry chooses, and whether a longer entry
// could match a pattern.
func (m *Machine) lookup() (exact *option, longer bool) {
	n, e := m.cur, m.entry
	if len(e) == 1 {
		exact = n.options[e[0]]
	}
	for _, p := range n.patterns {
		switch {
		case len(p.sets) > len(e) && len(p.sets) <= n.digitLen && p.prefixOf(e):
			longer = true
		case exact == nil && p.matches(e):
			exact = p.opt
		}
	}
	return exact, longer
}

// dispatch ends the multi-key entry: its option is done, or it is invalid.
// term is the terminator that ended it, 0 if none.
func (m *Machine) dispatch(acts []Action, term byte) []Action {
	exact, _ := m.lookup()
	entry := string(m.entry)
	m.entry = m.entry[:0]
	if exact != nil {
		m.input = entry
		return m.do(acts, exact, ReasonCallerChoice)
	}
	if term != 0 {
		entry += string(term)
	}
	return m.invalid(acts, entry[len(entry)-1], entry)
}

func (m *Machine) collectKey(key byte) []Action {
	acts := m.interrupt(nil)
	c := m.col
	switch {
	case key == c.terminator:
		if len(m.entry) >= max(c.minDigits, 1) {
			return m.collected(acts)
		}
		return m.invalid(acts, key, string(m.entry)+string(key))
	case isDigit(key):
		m.entry = append(m.entry, key)
		if len(m.entry) >= c.maxDigits {
			return m.collected(acts)
		}
		return m.arm(acts, TimerInterDigit, m.cur.interDigit)
	}
	return m.invalid(acts, key, string(m.entry)+string(key))
}

// collected ends the digits of a collect: read back, or accept.
func (m *Machine) collected(acts []Action) []Action {
	if m.col.confirm {
		m.mode = modeConfirm
		return m.play(acts, m.readback()...)
	}
	return m.accept(acts)
}

func (m *Machine) readback() []string {
	p := make([]string, 0, len(m.entry)+2)
	p = append(p, m.col.readback)
	for _, k := range m.entry {
		p = append(p, m.t.digitPrompts[k])
	}
	return append(p, m.col.confirmPrompt)
}

// accept stores the collected value and moves on.
func (m *Machine) accept(acts []Action) []Action {
	c := m.col
	v := string(m.entry)
	if m.vars == nil {
		m.vars = map[string]string{}
	}
	m.vars[c.variable] = v
	acts = append(acts, SetVariable{Name: c.variable, Value: v})
	m.mode, m.col, m.entry = modeMenu, nil, m.entry[:0]
	if c.target != nil {
		return m.enter(acts, c.target, true)
	}
	return m.play(acts, m.cur.short)
}

func (m *Machine) invalid(acts []Action, key byte, entry string) []Action {
	if len(entry) == 1 {
		entry = ""
	}
	return m.fail(append(acts, Invalid{Key: key, Entry: entry}), true)
}

// fail counts a failure, then replays what the caller was answering after
// the invalid or timeout prompt, or, past a limit, does the limit's action.
func (m *Machine) fail(acts []Action, invalid bool) []Action {
	n := m.cur
	if m.mode != modeConfirm {
		m.entry = m.entry[:0]
	}
	prefix := n.timeout
	if invalid {
		prefix = n.invalid
		m.failures++
		if n.maxFailures > 0 && m.failures > n.maxFailures {
			return m.limit(acts, n.failAction, ReasonMaxFailures)
		}
	} else {
		m.timeouts++
		if n.maxTimeouts > 0 && m.timeouts > n.maxTimeouts {
			return m.limit(acts, n.timeoutAction, ReasonMaxTimeouts)
		}
	}
	if n.maxRetries > 0 && m.failures+m.timeouts > n.maxRetries {
		return m.limit(acts, nil, ReasonMaxRetries)
	}
	var again []string
	switch m.mode {
	case modeCollect:
		again = []string{m.col.prompt}
	case modeConfirm:
		again = m.readback()
	default:
		again = []string{n.short}
	}
	if prefix != "" {
		again = append([]string{prefix}, again...)
	}
	return m.play(acts, again...)
}

func (m *Machine) limit(acts []Action, o *option, reason string) []Action {
	m.mode, m.col, m.entry = modeMenu, nil, m.entry[:0]
	if o == nil || (o.action == ActionHangup && o.prompt == "") {
		return m.end(acts, m.cur.exit, Hangup{Reason: reason})
	}
	return m.do(acts, o, reason)
}

// do performs an option's action.
func (m *Machine) do(acts []Action, o *option, reason string) []Action {
	if o.action != ActionCollect {
		m.mode, m.col = modeMenu, nil
	}
	switch o.action {
	case ActionGoto:
		return m.enter(acts, o.target, true)
	case ActionBack:
		if len(m.history) == 0 {
			return m.enter(acts, m.t.root, false)
		}
		prev := m.history[len(m.history)-1]
		m.history = m.history[:len(m.history)-1]
		return m.enter(acts, prev, false)
	case ActionTop:
		m.history = m.history[:0]
		return m.enter(acts, m.t.root, false)
	case ActionRepeat:
		return m.play(acts, m.cur.greeting)
	case ActionPlay:
		return m.play(acts, o.prompt, m.cur.short)
	case ActionCollect:
		m.mode, m.col, m.entry = modeCollect, o, m.entry[:0]
		return m.play(acts, o.prompt)
	case ActionSetLanguage:
		m.lang = m.t.langs[o.language]
		acts = append(acts, SetLanguage{Language: m.Language()})
		if o.target != nil {
			return m.enter(acts, o.target, true)
		}
		return m.play(acts, m.cur.greeting)
	case ActionRouteTime:
		next, open := o.route.choose(m.at)
		acts = append(acts, TimeRouted{Schedule: o.route.sched.name, Open: open})
		return m.enter(acts, next, true)
	case ActionEnqueue:
		return m.end(acts, o.prompt, Enqueue{Queue: o.queue, Priority: o.priority})
	case ActionFreeze:
		return m.end(acts, o.prompt, Freeze{})
	case ActionTransfer:
		m.transfer = o
		return m.end(acts, o.prompt, Transfer{URI: m.expand(o.uri), Trunk: o.trunk, Number: o.number, Timeout: o.timeout})
	default: // ActionHangup; Compile admits no other action
		return m.end(acts, o.prompt, Hangup{Reason: reason})
	}
}

// expand replaces ${input} and ${variable} in s.
func (m *Machine) expand(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		if name == "input" {
			b.WriteString(m.input)
		} else {
			b.WriteString(m.vars[name])
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

// enter moves the call to n and plays its greeting. With push, the node
// left is remembered for back, unless n is already on the way back (then
// the history is cut to n).
func (m *Machine) enter(acts []Action, n *node, push bool) []Action {
	for n.route != nil {
		acts = append(acts, EnterNode{Node: n.name})
		next, open := n.route.choose(m.at)
		acts = append(acts, TimeRouted{Schedule: n.route.sched.name, Open: open})
		n = next
	}
	if i := indexNode(m.history, n); i >= 0 {
		m.history = m.history[:i]
	} else if push && m.cur != nil && m.cur != n {
		m.history = append(m.history, m.cur)
	}
	m.cur = n
	m.failures, m.timeouts = 0, 0
	m.mode, m.col, m.entry = modeMenu, nil, m.entry[:0]
	acts = append(acts, EnterNode{Node: n.name})
	return m.play(acts, n.greeting)
}

func indexNode(ns []*node, n *node) int {
	for i, x := range ns {
		if x == n {
			return i
		}
	}
	return -1
}

// play starts a sequence of prompts (by name), resolved in the call's
// language.
func (m *Machine) play(acts []Action, names ...string) []Action {
	m.st = statePlaying
	ids := make([]string, len(names))
	for i, name := range names {
		ids[i] = name
		if m.lang != nil {
			if id, ok := m.lang.ids[name]; ok {
				ids[i] = id
			}
		}
	}
	return append(acts, Play{Prompts: ids})
}

// end plays prompt, if any, then ends the menu with last.
func (m *Machine) end(acts []Action, prompt string, last Action) []Action {
	m.st = stateEnded
	if prompt != "" {
		acts = m.play(acts, prompt)
		m.st = stateEnded
	}
	return append(acts, last)
}
