// Package siptest is Hotline's test user agent (STYLE.md rule P6): a SIP
// Client on its own loopback ports that places calls, registers with a
// registrar, and answers calls, optionally challenging them with digest
// authentication as a carrier does. Package sip's tests, the test phone
// (ivr/phone) and the end-to-end tests use it as the far end of a
// sip.Server.
//
// It is signalling only: SDP is opaque []byte, as in package sip. Its
// dialog handling is its own, written apart from package sip's, so a test
// does not check the server against itself.
//
// # Imports
//
// It may import package sip, sipgo and the standard library only: no
// other Hotline package, no pion (rule P3, checked by `make depcheck`).
package siptest
