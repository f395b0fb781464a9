package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// authResult is the outcome of checking a request's Authorization.
type authResult int

const (
	authOK        authResult = iota
	authChallenge            // no usable credentials: 401 with a fresh nonce
	authStale                // right password with an old nonce or a replayed count, or a nonce not ours for this source: 401 stale=true
	authForbidden            // unknown user, wrong password, another user's AOR, no qop: 403
	authBad                  // malformed credentials: 400
)

// nonces issues and checks digest nonces (RFC 7616 §3.3, §5.4). A nonce is
// self-validating: an issue time and random bytes, signed with a key only
// this server knows together with the source it was sent to (sourceKey),
// so a challenge stores nothing (a flood of unauthenticated REGISTERs
// cannot fill memory) and an expired nonce can still be told apart from a
// forged one. Binding the nonce to the source proves that whoever answers
// it received our challenge there: a sender spoofing another address over
// UDP never sees the nonce, so its failures cannot be charged to that
// address (lockout.go). Nonces that have been used are kept until they
// expire, with the highest nonce-count seen, to refuse replays.
type nonces struct {
	key []byte
	ttl time.Duration

	mu        sync.Mutex
	used      map[string]usedNonce
	lastSweep time.Time
}

type usedNonce struct {
	nc      int
	expires time.Time
}

const (
	nonceStampLen = 8  // issue time, Unix nanoseconds
	nonceRandLen  = 8  // random
	nonceMACLen   = 16 // truncated HMAC-SHA256 of the above
	nonceLen      = nonceStampLen + nonceRandLen + nonceMACLen
	// nonceSkew is how far in the future an issue time may lie.
	nonceSkew = time.Minute
	// ipv6SourceBits is the prefix of an IPv6 address that names a source.
	ipv6SourceBits = 64
)

func newNonces(ttl time.Duration) (*nonces, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return &nonces{key: key, ttl: ttl, used: make(map[string]usedNonce)}, nil
}

// mac signs a nonce's stamp and random bytes (fixed length) followed by
// the source it is issued to.
func (n *nonces) mac(b []byte, src string) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(b)
	m.Write([]byte(src))
	return m.Sum(nil)[:nonceMACLen]
}

// issue returns a fresh nonce stamped now, for src (a sourceKey).
func (n *nonces) issue(now time.Time, src string) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceStampLen], uint64(now.UnixNano()))
	_, _ = rand.Read(b[nonceStampLen : nonceStampLen+nonceRandLen])
	copy(b[nonceStampLen+nonceRandLen:], n.mac(b[:nonceStampLen+nonceRandLen], src))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// nonceState is what check makes of a nonce.
type nonceState int

const (
	nonceForeign nonceState = iota // not issued by us to this source: forged, for another address, or before a restart
	nonceExpired                   // ours, for this source, but older than ttl (or stamped too far ahead)
	nonceFresh                     // ours, for this source, younger than ttl
)

// check reports whether nonce is one we issued to src, and whether it is
// less than ttl old.
func (n *nonces) check(nonce, src string, now time.Time) (issued time.Time, st nonceState) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, nonceForeign
	}
	if !hmac.Equal(b[nonceStampLen+nonceRandLen:], n.mac(b[:nonceStampLen+nonceRandLen], src)) {
		return time.Time{}, nonceForeign
	}
	issued = time.Unix(0, int64(binary.BigEndian.Uint64(b[:nonceStampLen])))
	if age := now.Sub(issued); age >= n.ttl || age <= -nonceSkew {
		return issued, nonceExpired
	}
	return issued, nonceFresh
}

// use records nonce-count nc for a fresh nonce and reports whether it is
// higher than any seen before (RFC 7616 §3.4: a repeated nc is a replay).
func (n *nonces) use(nonce string, nc int, issued, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if now.Sub(n.lastSweep) >= n.ttl {
		for k, u := range n.used {
			if !now.Before(u.expires) {
				delete(n.used, k)
			}
		}
		n.lastSweep = now
	}
	if u, ok := n.used[nonce]; ok && nc <= u.nc {
		return false
	}
	n.used[nonce] = usedNonce{nc: nc, expires: issued.Add(n.ttl)}
	return true
}

// sourceKey names the sender of a request (host:port as the transport saw
// it, never the Via) for nonce binding and lock-outs: its IP without the
// port, IPv4-mapped IPv6 as IPv4, and other IPv6 as its /64 prefix (one
// host's temporary addresses, or one subnet an attacker can rotate
// through, count as one source). Anything unparsable is kept as is.
func sourceKey(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.Prefix(ipv6SourceBits)
	if err != nil {
		return host
	}
	return p.String()
}

// challenge returns a WWW-Authenticate value with a fresh nonce for src
// (RFC 3261 §22.4, RFC 7616 §3.3).
func (r *registrar) challenge(now time.Time, src string, stale bool) string {
	c := digest.Challenge{
		Realm:     r.cfg.Realm,
		Nonce:     r.nonces.issue(now, src),
		Algorithm: "MD5",
		QOP:       []string{"auth"},
		Stale:     stale,
	}
	return c.String()
}

// credentials returns the request's Authorization for our realm, or nil.
func (r *registrar) credentials(req *sipmsg.Request) (*digest.Credentials, authResult) {
	hs := req.GetHeaders("Authorization")
	if len(hs) == 0 {
		return nil, authChallenge
	}
	for _, h := range hs {
		if !digest.IsDigest(h.Value()) {
			continue
		}
		cred, err := digest.ParseCredentials(h.Value())
		if err != nil {
			return nil, authBad
		}
		if cred.Realm == r.cfg.Realm {
			return cred, authOK
		}
	}
	return nil, authChallenge // credentials for another realm (or scheme)
}

// authenticate checks a request's digest credentials, sent from src (a
// sourceKey), against the account of aorUser (RFC 3261 §22.4, RFC 7616
// §3.4). The order of the checks is what keeps it from being an oracle:
//
//   - Credentials without qop (RFC 2069) are refused with 403 before any
//     password check. They carry no nonce-count and no cnonce, so a
//     captured header replays unchanged for the nonce's whole life
//     (issue #10); our challenge offers qop="auth" only, so no client we
//     invited sends them. 403 rather than a fresh 401: a client that does
//     not do qop would answer every new challenge the same way, and 403 is
//     also exactly what a wrong password gets, so the refusal tells an
//     attacker nothing.
//   - A nonce we did not issue to this source gets 401 stale=true with a
//     fresh nonce, before any password check: the password is only ever
//     checked against a nonce the sender received at its own address.
//     RFC 7616 §3.3 asks for stale=true only after a valid digest; we set
//     it unchecked so that a phone whose address changed, or which reuses a
//     nonce from before a restart, retries without asking its user.
//   - The digest is computed whether or not the user exists or is locked
//     out (lockout.go); a lock-out then refuses with the 403 of a wrong
//     password, and is checked before the nonce's age and count, so a
//     right password during a lock-out is not revealed by stale=true.
//   - Otherwise the password is checked before the nonce's age and count,
//     so stale=true is only sent for a nonce of ours to a client that
//     knows the password.
//
// A failed check is counted towards lock-outs; the lock-outs it started,
// if any, are returned for the log.
func (r *registrar) authenticate(req *sipmsg.Request, aorUser, src string, now time.Time) (authResult, *lockStart) {
	cred, res := r.credentials(req)
	if res != authOK {
		return res, nil
	}
	alg := strings.ToUpper(cred.Algorithm)
	switch {
	case alg != "" && alg != "MD5":
		return authChallenge, nil // we offer MD5 only
	case cred.Userhash:
		return authChallenge, nil // not offered
	case cred.QOP != "" && cred.QOP != "auth":
		return authBad, nil
	case cred.QOP == "auth" && (cred.Cnonce == "" || cred.Nc <= 0):
		return authBad, nil
	case cred.Username == "" || cred.Nonce == "" || cred.URI == "" || cred.Response == "":
		return authBad, nil
	case cred.QOP == "":
		r.stats.noQOP.Add(1)
		return authForbidden, nil // RFC 2069: see above
	}
	issued, nonce := r.nonces.check(cred.Nonce, src, now)
	if nonce == nonceForeign {
		return authStale, nil
	}

	password, known := r.password(cred.Username)
	if !known {
		// Spend the same work as for a known user: no timing oracle.
		password = "\x00unknown"
	}
	chal := &digest.Challenge{Realm: r.cfg.Realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm, QOP: []string{cred.QOP}}
	// The client's cnonce and nc are part of the response (RFC 7616
	// §3.4.1): pass them in, or digest.Digest invents its own.
	want, err := digest.Digest(chal, digest.Options{
		Method:   req.Method.String(),
		URI:      cred.URI,
		Username: cred.Username,
		Password: password,
		Cnonce:   cred.Cnonce,
		Count:    cred.Nc,
	})
	if err != nil {
		return authBad, nil
	}
	match := subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(cred.Response))) == 1
	account := "" // lock-outs count configured users only
	if known {
		account = cred.Username
	}
	ok := match && known && cred.Username == aorUser
	allowed, ls := r.lock.attempt(account, src, ok, now)
	switch {
	case !allowed:
		r.stats.lockedOut.Add(1)
		return authForbidden, nil
	case !ok:
		r.stats.failures.Add(1)
		if ls != nil {
			r.stats.lockouts.Add(uint64(len(ls.scopes)))
		}
		return authForbidden, ls
	}
	if nonce == nonceExpired {
		return authStale, nil
	}
	// RFC 7616 §3.4: a nonce-count not above the last one seen on this
	// nonce is a replay, whatever port or address it comes from.
	if !r.nonces.use(cred.Nonce, cred.Nc, issued, now) {
		r.stats.replays.Add(1)
		return authStale, nil
	}
	r.lock.succeed(account, src, now)
	r.stats.successes.Add(1)
	return authOK, nil
}
