package ivr

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// The admin API's access control (issue #10). Every request but the health probes passes,
// in this order:
//
//  1. Host: a loopback IP literal, localhost, Listen's own host, or one of Hosts (any
//     port), and any IP literal once a token is set; else 421 Misdirected Request (RFC
//     9110 §15.5.20). A DNS-rebinding page reaches the API under its own name, so it is
//     turned away here.
//  2. Origin, when sent: http(s) with a host allowed by rule 1; else 403. A page on
//     another site never gets its cross-origin requests served.
//  3. Authorization: Bearer TOKEN when a token is configured (RFC 6750); else 401 with
//     WWW-Authenticate.
//  4. POST, PUT, PATCH and DELETE carry Content-Type: application/json; else 415. A web
//     page can send text/plain, form or bodyless requests cross-site without a CORS
//     preflight ("simple" requests), but not application/json.
//
// GET and HEAD of /healthz and /readyz skip every check: they tell nothing but "ok", and
// orchestrators probe them by IP (a Kubernetes probe's Host is the pod's address).

// minTokenLen is the shortest admin token accepted.
const minTokenLen = 16

// defaultAdminListen is AdminConfig.Listen's default.
const defaultAdminListen = "127.0.0.1:8080"

// Validate checks the admin keys that need no I/O: one of token and token_file, a token
// long enough to resist guessing, and admin.hosts entries that are bare hosts.
func (c AdminConfig) Validate() error {
	var errs []error
	if c.Token != "" && c.TokenFile != "" {
		errs = append(errs, errors.New("admin.token_file: set admin.token or admin.token_file, not both"))
	}
	if c.Token != "" {
		if err := checkToken(c.Token); err != nil {
			errs = append(errs, fmt.Errorf("admin.token: %w", err))
		}
	}
	if host, _, err := net.SplitHostPort(cmpOr(c.Listen, defaultAdminListen)); err == nil && !loopbackHost(host) &&
		c.Token == "" && c.TokenFile == "" {
		errs = append(errs, fmt.Errorf("admin.listen: %s is not a loopback address and no token is set; set admin.token or "+
			"admin.token_file, or listen on 127.0.0.1", c.Listen))
	}
	for i, h := range c.Hosts {
		if !validHost(h) {
			errs = append(errs, fmt.Errorf("admin.hosts.%d: %q is not a host name or IP address (give it without scheme, port or path)", i, h))
		}
	}
	return errors.Join(errs...)
}

// checkToken reports a token too short or not sendable in one header; it never repeats it.
func checkToken(tok string) error {
	if len(tok) < minTokenLen {
		return fmt.Errorf("%d characters; want at least %d (e.g. openssl rand -hex 32)", len(tok), minTokenLen)
	}
	for _, r := range tok {
		if r <= ' ' || r >= 0x7f {
			return errors.New("contains white space, control or non-ASCII characters; a bearer token is sent in one header")
		}
	}
	return nil
}

// validHost reports whether h is an IP literal (IPv6 optionally in brackets) or a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// NewGuard puts the admin API api behind the checks above, as configured by cfg; a
// listener serves what it returns. It reads cfg.TokenFile, and refuses a Listen address
// reachable beyond loopback (0.0.0.0, ::, a LAN address, a host name) without a token.
func NewGuard(cfg AdminConfig, api http.Handler) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &guard{next: api, names: map[string]bool{}, addrs: map[netip.Addr]bool{}}
	tok := cfg.Token
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin.token_file: %w", err)
		}
		if tok = strings.TrimSpace(string(b)); tok == "" {
			return nil, fmt.Errorf("admin.token_file: %s is empty", cfg.TokenFile)
		}
		if err := checkToken(tok); err != nil {
			return nil, fmt.Errorf("admin.token_file: the token in %s: %w", cfg.TokenFile, err)
		}
	}
	if tok != "" {
		sum := sha256.Sum256([]byte(tok))
		g.token = &sum
	}

	listen := cfg.Listen
	if listen == "" {
		listen = defaultAdminListen
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	if !loopbackHost(host) {
		if g.token == nil {
			return nil, fmt.Errorf("admin.listen: %s is not a loopback address and no token is set: anyone who can reach it "+
				"could read callers' numbers and freezes, change agents' states and reload the config; set admin.token "+
				"or admin.token_file (HOTLINE_ADMIN_TOKEN, HOTLINE_ADMIN_TOKEN_FILE), or listen on 127.0.0.1", listen)
		}
		// Bound to one address or name: requests naming it are for us (curl http://10.0.0.5:8080/...).
		// A wildcard (0.0.0.0, ::, "") names no host: admin.hosts lists them.
		g.allow(host)
	}
	for _, h := range cfg.Hosts {
		g.allow(h)
	}
	return g, nil
}

// loopbackHost reports whether a listen host binds loopback only: a loopback IP literal or
// localhost. "" (every interface), 0.0.0.0, ::, other addresses and names do not.
func loopbackHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().IsLoopback()
	}
	return strings.EqualFold(host, "localhost")
}

// guard is the admin API's access control; see the top of this file.
type guard struct {
	next  http.Handler
	token *[sha256.Size]byte // of the token; nil: none configured
	names map[string]bool    // lower-case host names allowed besides localhost
	addrs map[netip.Addr]bool
}

// allow adds a host name or a specific IP address to those the Host header may name.
func (g *guard) allow(h string) {
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		if ip = ip.Unmap().WithZone(""); !ip.IsUnspecified() {
			g.addrs[ip] = true
		}
		return
	}
	if h != "" {
		g.names[strings.ToLower(h)] = true
	}
}

// allowedHost reports whether host (without port) names this server: a loopback IP
// literal, localhost, or one allowed by allow; with a token, any IP literal too (a scraper
// or a probe reaching a pod by its address: DNS rebinding needs a name, and the request
// still needs the token).
func (g *guard) allowedHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap().WithZone("")
		return ip.IsLoopback() || g.addrs[ip] || g.token != nil
	}
	host = strings.ToLower(host)
	return host == "localhost" || g.names[host]
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if probe(r) {
		g.next.ServeHTTP(w, r)
		return
	}
	if r.Host == "" || !g.allowedHost(hostOnly(r.Host)) {
		refuse(w, http.StatusMisdirectedRequest, "this host name is not served here; list it in admin.hosts")
		return
	}
	for _, o := range r.Header.Values("Origin") {
		if !g.allowedOrigin(o) {
			refuse(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
	}
	if g.token != nil {
		tok, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotline"`)
			refuse(w, http.StatusUnauthorized, "bearer token required (Authorization: Bearer TOKEN)")
			return
		}
		sum := sha256.Sum256([]byte(tok)) // equal lengths: the compare leaks nothing of the token
		if subtle.ConstantTimeCompare(sum[:], g.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotline", error="invalid_token"`)
			refuse(w, http.StatusUnauthorized, "wrong bearer token")
			return
		}
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			refuse(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json")
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// probe reports a health probe: open to all, it tells nothing.
func probe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
}

// allowedOrigin reports whether an Origin header names an http(s) origin on an allowed
// host; "null" (sandboxed frames, file: pages) is not one.
func (g *guard) allowedOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	return g.allowedHost(hostOnly(u.Host))
}

// hostOnly strips the port from a Host header value, and the brackets from an IPv6 literal.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header (RFC 6750 §2.1; the
// scheme is case-insensitive, RFC 9110 §11.1).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	return tok, tok != ""
}

func refuse(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
