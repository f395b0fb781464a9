package siptest

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// InviteAuth makes a Client demand digest authentication of each new
// INVITE, as a carrier's proxy does (RFC 3261 §22.3): a test stand-in for
// the far end of a SIP trunk. An INVITE without credentials for Realm, or
// with a stale nonce, gets 407 Proxy Authentication Required with a fresh
// Proxy-Authenticate challenge (MD5, qop=auth); one whose credentials are
// not User's with Password gets 403, malformed ones 400. Only an
// authenticated INVITE rings (OnInvite). The response is compared in
// constant time, a nonce is accepted for 5 minutes after the Client issued
// it, and a nonce-count already seen is refused as a replay (stale).
type InviteAuth struct {
	Realm    string // the challenge's realm; empty: INVITEs are not challenged
	User     string // the one digest username accepted
	Password string
	// OnCheck, if set, is told how each new INVITE fared, before the
	// response goes out, on the goroutine that received it.
	OnCheck func(AuthCheck)
}

// AuthCheck is the outcome of a Client's InviteAuth for one INVITE.
type AuthCheck struct {
	User     string // the Request-URI user: the number called
	Username string // the digest username the INVITE presented for the realm; empty: none
	Code     int    // 0: authenticated; else the response sent: 407, 403 or 400
}

// nonceTTL is how long a nonce the Client issued is accepted.
const nonceTTL = 5 * time.Minute

// digestCheck verifies INVITEs' Proxy-Authorization against one account
// (RFC 3261 §22.3; RFC 7616 §3.4 with MD5 and qop=auth). Nonces are kept
// in memory with the highest nonce-count seen.
type digestCheck struct {
	cfg InviteAuth
	now func() time.Time

	mu     sync.Mutex
	nonces map[string]*issued
}

type issued struct {
	at time.Time
	nc uint64 // highest nonce-count accepted
}

func newDigestCheck(a InviteAuth) (*digestCheck, error) {
	var errs []error
	if strings.ContainsAny(a.Realm, "\"\\\r\n") {
		errs = append(errs, fmt.Errorf("realm %q: no quotes, backslashes or line breaks", a.Realm))
	}
	if a.User == "" || strings.ContainsAny(a.User, " \t\r\n\"<>@:;,?&=/\\") {
		errs = append(errs, fmt.Errorf("user %q: not a plain SIP user", a.User))
	}
	if a.Password == "" {
		errs = append(errs, errors.New("empty password"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &digestCheck{cfg: a, now: time.Now, nonces: make(map[string]*issued)}, nil
}

// challenge returns a Proxy-Authenticate value with a fresh nonce (RFC
// 3261 §22.3, RFC 7616 §3.3).
func (d *digestCheck) challenge(stale bool) string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	now := d.now()
	d.mu.Lock()
	for n, is := range d.nonces {
		if now.Sub(is.at) >= nonceTTL {
			delete(d.nonces, n)
		}
	}
	d.nonces[nonce] = &issued{at: now}
	d.mu.Unlock()
	s := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, d.cfg.Realm, nonce)
	if stale {
		s += ", stale=true"
	}
	return s
}

// check verifies req and returns the response code it deserves (0:
// authenticated; 407, with stale for a 407 to a right password; 403; 400)
// and the username its credentials for our realm gave.
func (d *digestCheck) check(req *sipmsg.Request) (code int, stale bool, username string) {
	var cred map[string]string
	for _, h := range req.GetHeaders("Proxy-Authorization") {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h.Value()), " ")
		if !strings.EqualFold(scheme, "Digest") {
			continue
		}
		params, err := parseParams(rest)
		if err != nil {
			return 400, false, ""
		}
		if params["realm"] == d.cfg.Realm {
			cred = params
			break
		}
	}
	if cred == nil {
		return 407, false, "" // none, or for another realm
	}
	username = cred["username"]
	qop, nc := cred["qop"], cred["nc"]
	count, ncErr := strconv.ParseUint(nc, 16, 32)
	switch alg := strings.ToUpper(cred["algorithm"]); {
	case alg != "" && alg != "MD5", strings.EqualFold(cred["userhash"], "true"):
		return 407, false, username // not what we offered
	case qop != "" && qop != "auth":
		return 400, false, username
	case qop == "auth" && (cred["cnonce"] == "" || ncErr != nil || count == 0):
		return 400, false, username
	case username == "" || cred["nonce"] == "" || cred["uri"] == "" || cred["response"] == "":
		return 400, false, username
	}

	// The password before the nonce: stale=true only for a right password
	// (RFC 7616 §3.3).
	password := d.cfg.Password
	if username != d.cfg.User {
		password = "\x00unknown" // the same work as for the right user
	}
	ha1 := md5hex(username + ":" + d.cfg.Realm + ":" + password)
	ha2 := md5hex(req.Method.String() + ":" + cred["uri"])
	want := md5hex(ha1 + ":" + cred["nonce"] + ":" + ha2)
	if qop != "" {
		want = md5hex(ha1 + ":" + cred["nonce"] + ":" + nc + ":" + cred["cnonce"] + ":" + qop + ":" + ha2)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cred["response"]))) != 1 || username != d.cfg.User {
		return 403, false, username
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	is, ok := d.nonces[cred["nonce"]]
	switch {
	case !ok || d.now().Sub(is.at) >= nonceTTL:
		return 407, true, username // not ours, or expired
	case qop != "" && count <= is.nc:
		return 407, true, username // a replayed nonce-count
	}
	is.nc = count
	return 0, false, username
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// parseParams parses a comma-separated auth-param list, name=token or
// name="quoted string" (RFC 3261 §25.1, RFC 7616 §3.4), into lower-case
// names and unquoted values.
func parseParams(s string) (map[string]string, error) {
	params := make(map[string]string)
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return params, nil
		}
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("param %q: no value", s)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		rest = strings.TrimLeft(rest, " \t")
		var value strings.Builder
		if strings.HasPrefix(rest, `"`) {
			i, closed := 1, false
			for ; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					value.WriteByte(rest[i])
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				value.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("param %s: unterminated quote", name)
			}
			rest = strings.TrimLeft(rest[i+1:], " \t")
			if rest != "" && rest[0] != ',' {
				return nil, fmt.Errorf("param %s: text after the quote", name)
			}
		} else {
			v, r, _ := strings.Cut(rest, ",")
			value.WriteString(strings.TrimSpace(v))
			rest = r
		}
		if name == "" {
			return nil, errors.New("empty param name")
		}
		params[name] = value.String()
		s = rest
	}
}
