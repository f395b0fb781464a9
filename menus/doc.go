// Package menus holds Hotline's IVR menu policy: the menu configuration
// (Config, validated into Problems), its compiled immutable form (Tree), and
// a per-call state machine (Machine) that turns events into actions.
//
// The package is pure logic (STYLE.md rule P1): it imports the standard
// library only, never net, never another Hotline package, starts no
// goroutines and never reads the clock. Time is data (rule B2): the machine
// emits StartTimer{ID, After} and consumes TimerFired{ID}; the caller (ivr)
// owns the real timers, and passes the call's start time in Started{At} for
// time-of-day routing.
//
// A Tree is compiled once per configuration (and per hot reload) and shared
// by every call; each call owns one Machine on its call goroutine:
//
//	var ev menus.Event = menus.Started{At: now, Language: trunkLanguage}
//	for {
//		actions := m.Step(ev) // pure
//		// do: play, stop, arm and stop timers, hang up, hand over
//		// wait: next digit, playback end or timer
//	}
//
// # The model
//
// A node plays a greeting (long on entry, short on replays) and offers
// options by key (0-9, *, #) and patterns for multi-key entries
// ("1[0-9][0-9]"). Options go to a node, back, to the top, repeat, play a
// prompt and return, collect digits into a variable (with a read-back), set
// the prompt language, route by business hours, or end the menu: hang up,
// enqueue, freeze, transfer. Global keys work at every node and win over
// the node's options. Invalid keys and timeouts are counted per visit of a
// node against max_failures, max_timeouts and max_retries, each exceeded
// limit doing its action. A node with route_time passes the call on by
// schedule; a node with no options and no patterns is an announcement that
// hangs up after its greeting. Enqueue, freeze and transfer fail validation
// until CompileOptions.Enabled names them.
//
// Validation reports every Problem at once, each naming its configuration
// key path: unknown names, duplicate keys, dead patterns, nodes that are
// unreachable, have no way forward, or loop without an end.
//
// # Contract with the caller
//
// At most one timer runs at a time. TimerFired carries only a TimerID, so
// the machine emits StopTimer whenever it leaves the waiting state by a
// digit, and the caller must drop a timer it has stopped (with Go ≥ 1.23
// timers, Stop and Reset guarantee that no stale value is received
// afterwards). The machine also ignores a TimerFired for a timer that is not
// armed, and a PlaybackDone that arrives while nothing it started is
// playing. The caller reports PlaybackDone only for the most recent Play,
// and only when that sequence ran to its end (not when it was stopped or
// replaced). Play names prompts by ID (Tree.PromptRefs): the caller loads
// every prompt of the tree once and plays by ID. Hangup, Enqueue, Freeze and
// Transfer end the menu: they take effect after any Play emitted before them
// has finished, and the machine ignores every event after them.
package menus
