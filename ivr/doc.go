// Package ivr is Hotline's orchestrator: the only package that sees sip, media, menus and
// queue. Every call, inbound or a callback Hotline dialled, is owned by one goroutine
// (STYLE.md C1) running one loop (call.go): one wait gathers the call's inputs and hands
// each to the call's current phase (menu, freeze lane, hold, bridged, ending; one file
// each). The package also owns the queue dispatcher (dispatcher.go), the freeze lane's
// durable side (freeze.go, webhook.go), call records and the admin HTTP API.
//
// ivr talks to the world through small interfaces it owns (ports.go); docs/ARCHITECTURE.md
// explains the call model, the dispatcher's stop and who owns which goroutine.
//
// ivr must not import viper, os/signal or anything from cmd; configuration arrives as the
// Config structs of each package, decoded by cmd.
package ivr
