// Package sip is Hotline's SIP signalling layer. It wraps
// github.com/emiago/sipgo (imported as sipmsg for its message package,
// rule P3) and exposes small types of our own: a Server that turns each
// incoming INVITE into a Leg handed to a Handler, registers agent
// softphones and places calls of its own (Dial). The test user agent is
// package sip/siptest.
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
// In-dialog requests are served by the package, alike for a Leg and a
// Call: BYE (200), INFO (see Leg.OnInfo), re-INVITE (see Leg.OnReinvite;
// otherwise 200 with the SDP we last sent). OPTIONS is answered 200 with
// Allow and Accept. Methods we know but do not serve (SUBSCRIBE, NOTIFY,
// MESSAGE, REFER, PUBLISH, UPDATE, PRACK, and REGISTER while the registrar
// has no accounts) get 405 with Allow; any other method gets 501. Requests
// for an unknown dialog get 481.
//
// # Trust
//
// INVITEs need no authentication, but they are taken only from a trunk's
// source addresses (Trunk.Source), the address of a phone registered here,
// or Config.Allow (default loopback); anything else gets 403
// (Server.RefusedInvites counts them). P-Asserted-Identity (RFC 3325) is
// believed only from a trunk marked Trusted: Leg.AssertedIdentity reports
// false for every other call, whose caller is only who From claims.
//
// # Registrar
//
// With accounts configured (Config.Registrar, Server.SetAccounts), the
// Server is a registrar for agent softphones (RFC 3261 §10.3): REGISTER is
// authenticated with digest (RFC 3261 §22, RFC 7616: MD5, qop=auth
// required; 401 with a challenge, 401 stale=true for a nonce sent to another
// address (before any password check) and for an expired or replayed nonce
// with a right password, one and the same 403 for a wrong
// password, an unknown user, credentials without qop or a lock-out; nonces
// are bound to the address they were sent to and their nonce-counts
// tracked; repeated failures lock out the source, the user and the user at
// that source for a time that doubles, see LockoutConfig), bindings expire
// (423 below the minimum), and "*" with Expires: 0 removes all of a
// user's bindings. Server.Contacts looks them up; Server.OnRegister
// reports every change, expiries included.
//
// # Outbound calls
//
// Server.Dial places a call from the server's own user agent: to a
// registered user, a SIP URI, or a number through a configured Trunk
// (answering its 401/407 with the trunk's credentials). The INVITE leaves
// from a served socket, so the far end's BYE, INFO and re-INVITE reach the
// returned Call. Canceling Dial's ctx sends CANCEL.
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
