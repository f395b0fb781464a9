package sip

import "time"

// SetClock makes the registrar of s read the time from now (nonce ages,
// binding expiry). Call it before serving.
func SetClock(s *Server, now func() time.Time) { s.reg.now = now }

// ExpireBindings runs the registrar's expiry pass now, as its timer would.
func ExpireBindings(s *Server) { s.reg.expire() }

// SetTrunkBackoff bounds the retry delay of s's failed trunk REGISTERs. Call it before serving.
func SetTrunkBackoff(s *Server, lo, hi time.Duration) { s.out.backoffMin, s.out.backoffMax = lo, hi }

// SetTrunkQualify sets the qualify interval of s's i-th trunk below the 1 s that Validate
// allows. Call it before serving.
func SetTrunkQualify(s *Server, i int, d time.Duration) { s.cfg.Trunks[i].Qualify = d }
