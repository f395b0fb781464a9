// Package menus holds Hotline's IVR menu policy: the menu configuration
// (Config, validated into Problems), its compiled immutable form (Tree), and
// a per-call state machine (Machine) that turns events into actions.
//
// The package is pure logic (STYLE.md rule P1): it imports the standard
// library only, never net, never another Hotline package, starts no
// goroutines and never reads the clock. Time is data (rule B2): the machine
// emits StartTimer{ID, After} and consumes TimerFired{ID}; the caller (ivr)
// owns the real timers.
//
// A Tree is compiled once per configuration (and per hot reload) and shared
// by every call; each call owns one Machine on its call goroutine:
//
//	var ev menus.Event = menus.Started{}
//	for {
//		actions := m.Step(ev) // pure
//		// do: play, stop, arm and stop timers, hang up
//		// wait: next digit, playback end or timer
//	}
//
// Contract with the caller about timers and playback: TimerFired carries only
// a TimerID, so the machine emits StopTimer whenever it leaves the
// waiting-for-digit state by a digit, and the caller must drop a timer it has
// stopped (with Go ≥ 1.23 timers, Stop and Reset guarantee that no stale
// value is received afterwards). The machine also ignores a TimerFired that
// arrives while it is not waiting for a digit, and a PlaybackDone that
// arrives while nothing it started is playing. The caller reports
// PlaybackDone only for the most recent Play, and only when that sequence ran
// to its end (not when it was stopped or replaced).
package menus
