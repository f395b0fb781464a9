// Package sip is Hotline's SIP signalling layer. It wraps
// github.com/emiago/sipgo (imported as sipmsg for its message package,
// rule P3) and exposes small types of our own: a Server that turns each
// incoming INVITE into a Leg handed to a Handler, and a Client (UAC) used by
// the test phone.
//
// SDP is carried as opaque []byte: offer/answer lives in media/sdp.
//
// # Call model
//
// The Server calls Handler.ServeCall on the goroutine sipgo runs the INVITE
// on (rule C1), with a per-call context created by context.WithCancelCause
// (rule C4). The context is cancelled with ErrHangup when the caller sends
// BYE, ErrCanceled when the caller sends CANCEL before the answer, and
// ErrServerClosed when the server stops. When the handler returns, the
// server ends the call: a BYE if it was answered, otherwise a final response
// chosen from the returned error (*RejectError: its code; nil: 480; other:
// 500). A panic in the handler is recovered and ends the call the same way
// (500 or BYE, rule C7). The server logs each call once, when it ends
// (slog.Default: Info, or Error with the stack after a panic); handlers
// return their error rather than log it (rule B4).
//
// In-dialog requests are served by the package: BYE (200), INFO (see
// Leg.OnInfo), re-INVITE (200 with the SDP we answered with). OPTIONS is
// answered 200 with Allow and Accept. Methods we know but do not serve
// (REGISTER, SUBSCRIBE, NOTIFY, MESSAGE, REFER, PUBLISH, UPDATE, PRACK) get
// 405 with Allow; any other method gets 501. Requests for an unknown dialog
// get 481.
//
// # Timers
//
// sipgo's RFC 3261 timers (sipmsg.SetTimers) are process-wide. Set them once
// in main or TestMain, never per test (STYLE §7.7).
//
// # Imports
//
// This package must not import any other Hotline package (ivr, media,
// menus, queue) nor pion: rule P3, checked by `make depcheck`.
package sip
