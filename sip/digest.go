package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
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
	authStale                // right password, old or unknown nonce: 401 stale=true
	authForbidden            // unknown user, wrong password, or another user's AOR: 403
	authBad                  // malformed credentials: 400
)

// nonces issues and checks digest nonces (RFC 7616 §3.3, §5.4). A nonce is
// self-validating: an issue time and random bytes, signed with a key only
// this server knows, so a challenge stores nothing (a flood of
// unauthenticated REGISTERs cannot fill memory) and an expired nonce can
// still be told apart from a forged one. Nonces that have been used are
// kept until they expire, with the highest nonce-count seen, to refuse
// replays.
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
)

func newNonces(ttl time.Duration) (*nonces, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return &nonces{key: key, ttl: ttl, used: make(map[string]usedNonce)}, nil
}

func (n *nonces) mac(b []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(b)
	return m.Sum(nil)[:nonceMACLen]
}

// issue returns a fresh nonce stamped now.
func (n *nonces) issue(now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceStampLen], uint64(now.UnixNano()))
	_, _ = rand.Read(b[nonceStampLen : nonceStampLen+nonceRandLen])
	copy(b[nonceStampLen+nonceRandLen:], n.mac(b[:nonceStampLen+nonceRandLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// fresh reports whether nonce is one we issued less than ttl ago.
func (n *nonces) fresh(nonce string, now time.Time) (issued time.Time, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, false
	}
	if !hmac.Equal(b[nonceStampLen+nonceRandLen:], n.mac(b[:nonceStampLen+nonceRandLen])) {
		return time.Time{}, false
	}
	issued = time.Unix(0, int64(binary.BigEndian.Uint64(b[:nonceStampLen])))
	age := now.Sub(issued)
	return issued, age < n.ttl && age > -nonceSkew
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

// challenge returns a WWW-Authenticate value with a fresh nonce
// (RFC 3261 §22.4, RFC 7616 §3.3).
func (r *registrar) challenge(now time.Time, stale bool) string {
	c := digest.Challenge{
		Realm:     r.cfg.Realm,
		Nonce:     r.nonces.issue(now),
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

// authenticate checks a request's digest credentials against the account
// of aorUser (RFC 3261 §22.4, RFC 7616 §3.4). The password is checked
// before the nonce, so stale=true is only ever sent to a client that knows
// it (RFC 7616 §3.3).
func (r *registrar) authenticate(req *sipmsg.Request, aorUser string, now time.Time) authResult {
	cred, res := r.credentials(req)
	if res != authOK {
		return res
	}
	alg := strings.ToUpper(cred.Algorithm)
	switch {
	case alg != "" && alg != "MD5":
		return authChallenge // we offer MD5 only
	case cred.Userhash:
		return authChallenge // not offered
	case cred.QOP != "" && cred.QOP != "auth":
		return authBad
	case cred.QOP == "auth" && (cred.Cnonce == "" || cred.Nc <= 0):
		return authBad
	case cred.Username == "" || cred.Nonce == "" || cred.URI == "" || cred.Response == "":
		return authBad
	}

	password, known := r.password(cred.Username)
	if !known {
		// Spend the same work as for a known user: no timing oracle.
		password = "\x00unknown"
	}
	chal := &digest.Challenge{Realm: r.cfg.Realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
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
		return authBad
	}
	match := subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(cred.Response))) == 1
	if !match || !known || cred.Username != aorUser {
		return authForbidden
	}

	issued, ok := r.nonces.fresh(cred.Nonce, now)
	if !ok {
		return authStale // expired, or issued before a restart
	}
	// Without qop (RFC 2069 clients) there is no nonce-count: such
	// clients reuse a nonce until it expires.
	if cred.QOP != "" && !r.nonces.use(cred.Nonce, cred.Nc, issued, now) {
		return authStale // replayed nonce-count
	}
	return authOK
}
