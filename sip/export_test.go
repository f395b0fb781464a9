package sip

import "time"

// SetClock makes the registrar of s read the time from now (nonce ages,
// binding expiry). Call it before serving.
func SetClock(s *Server, now func() time.Time) { s.reg.now = now }

// ExpireBindings runs the registrar's expiry pass now, as its timer would.
func ExpireBindings(s *Server) { s.reg.expire() }
