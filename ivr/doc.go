// Package ivr is Hotline's orchestrator: the only package that sees sip, media, menus and
// queue. One goroutine owns each call (STYLE.md C1): it steps the pure menu machine, performs
// the actions it returns (play, timers, hang up) and waits for the next event (a key press,
// the end of a playback, a timer, the caller hanging up). It also serves the admin HTTP API
// (health, Prometheus metrics, call records).
//
// ivr must not import viper, os/signal or anything from cmd; configuration arrives as the
// Config structs of each package, decoded by cmd.
package ivr
