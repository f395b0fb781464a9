package ivr

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// Issue #10 finding 2 replayed against the guarded admin API: a DNS-rebinding page (its own
// Host), a cross-site page (its Origin), a "simple" cross-site POST (text/plain or no body),
// and, with a token, anyone without it.

const testToken = "s3cret-admin-token-0123456789"

// hdr is a request's headers; "Host" sets r.Host (default 127.0.0.1:8080).
type hdr map[string]string

// send serves one request through h.
func send(h http.Handler, method, target string, hd hdr, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = "127.0.0.1:8080"
	for k, v := range hd {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, r)
	return rr
}

// guardedAdmin is the admin API of e behind a guard built from cfg.
func guardedAdmin(t *testing.T, e *Engine, cfg AdminConfig) (http.Handler, *Admin) {
	t.Helper()
	a := NewAdmin(e)
	h, err := NewGuard(cfg, a)
	must(t, err)
	return h, a
}

// countReloads makes e's reloads fail after counting them: a 422 means the request got through.
func countReloads(e *Engine) *atomic.Int32 {
	var n atomic.Int32
	e.SetLoader(func() (*Menu, error) {
		n.Add(1)
		return nil, errors.New("loader ran")
	})
	return &n
}

// Without a token, on loopback: local use stays open, but the browser-borne attacks of the
// finding are refused before the API runs, and POST /api/v1/reload never reloads.
func TestAdminGuard_OpenLoopbackRefusesBrowserAttacks(t *testing.T) {
	t.Parallel()
	const json = "application/json"
	for _, tc := range []struct {
		name   string
		method string
		path   string
		hd     hdr
		code   int
	}{
		{"rebinding: Host attacker.example reads calls", "GET", "/api/v1/calls", hdr{"Host": "attacker.example"}, 421},
		{"rebinding: Host with port", "GET", "/api/v1/freezes", hdr{"Host": "attacker.example:8080"}, 421},
		{"rebinding: loopback-looking name", "GET", "/api/v1/calls", hdr{"Host": "127.0.0.1.attacker.example"}, 421},
		{"rebinding: localhost subdomain", "GET", "/api/v1/calls", hdr{"Host": "localhost.attacker.example"}, 421},
		{"rebinding: reload", "POST", "/api/v1/reload", hdr{"Host": "attacker.example", "Content-Type": json}, 421},
		{"rebinding: metrics", "GET", "/metrics", hdr{"Host": "attacker.example"}, 421},
		{"no Host", "GET", "/api/v1/calls", hdr{"Host": ""}, 421},
		{"cross-site Origin reads calls", "GET", "/api/v1/calls", hdr{"Origin": "http://attacker.example"}, 403},
		{"cross-site Origin reloads", "POST", "/api/v1/reload", hdr{"Origin": "http://attacker.example", "Content-Type": json}, 403},
		{"Origin null", "POST", "/api/v1/reload", hdr{"Origin": "null", "Content-Type": json}, 403},
		{"Origin of another scheme", "GET", "/api/v1/calls", hdr{"Origin": "file://localhost"}, 403},
		{"simple POST: text/plain reload", "POST", "/api/v1/reload", hdr{"Content-Type": "text/plain"}, 415},
		{"simple POST: form reload", "POST", "/api/v1/reload", hdr{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"simple POST: no body, no type", "POST", "/api/v1/reload", nil, 415},
		{"lookalike type", "POST", "/api/v1/reload", hdr{"Content-Type": "application/jsonx"}, 415},
		{"reload from curl on 127.0.0.1", "POST", "/api/v1/reload", hdr{"Content-Type": json}, 422},
		{"reload with a charset", "POST", "/api/v1/reload", hdr{"Content-Type": "application/json; charset=utf-8"}, 422},
		{"reload from localhost", "POST", "/api/v1/reload", hdr{"Host": "LocalHost:8080", "Content-Type": json}, 422},
		{"reload from [::1]", "POST", "/api/v1/reload", hdr{"Host": "[::1]:8080", "Content-Type": json}, 422},
		{"reload from a same-host page", "POST", "/api/v1/reload", hdr{"Origin": "http://127.0.0.1:8080", "Content-Type": json}, 422},
		{"calls from 127.0.0.2", "GET", "/api/v1/calls", hdr{"Host": "127.0.0.2"}, 200},
		{"calls from localhost without port", "GET", "/api/v1/calls", hdr{"Host": "localhost"}, 200},
		{"calls from a localhost page", "GET", "/api/v1/calls", hdr{"Origin": "http://localhost:3000"}, 200},
		{"healthz is a probe", "GET", "/healthz", hdr{"Host": "10.1.2.3:8080", "Origin": "http://attacker.example"}, 200},
		{"readyz is a probe", "GET", "/readyz", hdr{"Host": "attacker.example"}, 503},
		{"only GET of a probe skips the checks", "POST", "/healthz", hdr{"Host": "attacker.example"}, 421},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEngine(t)
			reloads := countReloads(e)
			h, _ := guardedAdmin(t, e, AdminConfig{Listen: "127.0.0.1:8080"})
			rr := send(h, tc.method, tc.path, tc.hd, "")
			if rr.Code != tc.code {
				t.Fatalf("%s %s %v: %d %s, want %d", tc.method, tc.path, tc.hd, rr.Code, rr.Body, tc.code)
			}
			if got := reloads.Load(); tc.path == "/api/v1/reload" && (got == 1) != (tc.code == 422) {
				t.Errorf("reloads run: %d (status %d)", got, rr.Code)
			}
			if rr.Code >= 400 && rr.Code != 422 && rr.Code != 503 && !strings.Contains(rr.Body.String(), `"error"`) {
				t.Errorf("refusal without a JSON error: %s", rr.Body)
			}
		})
	}
}

// A cross-site page posting an agent's state as text/plain (no preflight) changes nothing;
// the same change as JSON goes through.
func TestAdminGuard_SimplePostLeavesAgentState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		h, a := guardedAdmin(t, e, AdminConfig{Listen: "127.0.0.1:8080"})
		enableTestQueues(t, e, nil, nil, alice())
		synctest.Wait()
		before := apiAgentState(t, a, "support", "alice")
		if before == "logged-out" {
			t.Fatalf("alice starts logged out: the test would prove nothing")
		}
		const path, body = "/api/v1/agents/alice/state", `{"state":"logged-out"}`
		for _, hd := range []hdr{
			{"Content-Type": "text/plain"},
			{"Content-Type": "text/plain", "Origin": "http://attacker.example"},
			{"Content-Type": "application/json", "Origin": "http://attacker.example"},
			{"Content-Type": "application/json", "Host": "attacker.example:8080"},
		} {
			rr := send(h, "POST", path, hd, body)
			synctest.Wait()
			if rr.Code < 400 {
				t.Errorf("POST %v: %d %s, want a refusal", hd, rr.Code, rr.Body)
			}
			if got := apiAgentState(t, a, "support", "alice"); got != before {
				t.Fatalf("POST %v: alice %s, want %s unchanged", hd, got, before)
			}
		}
		if rr := send(h, "POST", path, hdr{"Content-Type": "application/json"}, body); rr.Code != 200 {
			t.Fatalf("POST as JSON from loopback: %d %s", rr.Code, rr.Body)
		}
		synctest.Wait()
		if got := apiAgentState(t, a, "support", "alice"); got != "logged-out" {
			t.Errorf("alice after the JSON POST: %s, want logged-out", got)
		}
	})
}

// With a token every endpoint but the probes needs it, /metrics and pprof included; the
// listener's own address and admin.hosts are accepted as Host, other names are not.
func TestAdminGuard_Token(t *testing.T) {
	t.Parallel()
	const json = "application/json"
	auth := "Bearer " + testToken
	for _, tc := range []struct {
		name, method, path string
		hd                 hdr
		code               int
		challenge          string // WWW-Authenticate wanted on a 401
	}{
		{"no token", "GET", "/api/v1/calls", nil, 401, `Bearer realm="hotline"`},
		{"wrong token", "GET", "/api/v1/calls", hdr{"Authorization": "Bearer " + testToken + "x"}, 401, `Bearer realm="hotline", error="invalid_token"`},
		{"token prefix", "GET", "/api/v1/calls", hdr{"Authorization": "Bearer " + testToken[:16]}, 401, `Bearer realm="hotline", error="invalid_token"`},
		{"empty bearer", "GET", "/api/v1/calls", hdr{"Authorization": "Bearer "}, 401, `Bearer realm="hotline"`},
		{"basic auth", "GET", "/api/v1/calls", hdr{"Authorization": "Basic " + testToken}, 401, `Bearer realm="hotline"`},
		{"right token", "GET", "/api/v1/calls", hdr{"Authorization": auth}, 200, ""},
		{"scheme in lower case", "GET", "/api/v1/calls", hdr{"Authorization": "bearer " + testToken}, 200, ""},
		{"reload without token", "POST", "/api/v1/reload", hdr{"Content-Type": json}, 401, `Bearer realm="hotline"`},
		{"reload with token", "POST", "/api/v1/reload", hdr{"Content-Type": json, "Authorization": auth}, 422, ""},
		{"reload with token as text/plain", "POST", "/api/v1/reload", hdr{"Content-Type": "text/plain", "Authorization": auth}, 415, ""},
		{"token from a cross-site page", "GET", "/api/v1/calls", hdr{"Authorization": auth, "Origin": "https://attacker.example"}, 403, ""},
		{"token to a rebound name", "GET", "/api/v1/calls", hdr{"Authorization": auth, "Host": "attacker.example"}, 421, ""},
		{"metrics without token", "GET", "/metrics", nil, 401, `Bearer realm="hotline"`},
		{"metrics with token", "GET", "/metrics", hdr{"Authorization": auth}, 200, ""},
		{"pprof without token", "GET", "/debug/pprof/", nil, 401, `Bearer realm="hotline"`},
		{"pprof with token", "GET", "/debug/pprof/", hdr{"Authorization": auth}, 200, ""},
		{"pprof on a rebound name", "GET", "/debug/pprof/", hdr{"Authorization": auth, "Host": "attacker.example"}, 421, ""},
		{"unknown path without token", "GET", "/nope", nil, 401, `Bearer realm="hotline"`},
		{"healthz without token", "GET", "/healthz", nil, 200, ""},
		{"readyz without token", "GET", "/readyz", nil, 503, ""},
		{"the bound address", "GET", "/api/v1/calls", hdr{"Authorization": auth, "Host": "192.0.2.10:8080"}, 200, ""},
		{"an admin.hosts name", "GET", "/api/v1/calls", hdr{"Authorization": auth, "Host": "Hotline.Example.Net:8080"}, 200, ""},
		{"an admin.hosts address", "GET", "/api/v1/calls", hdr{"Authorization": auth, "Host": "[2001:db8::5]:8080"}, 200, ""},
		{"another address, with the token", "GET", "/api/v1/calls", hdr{"Authorization": auth, "Host": "192.0.2.11:8080"}, 200, ""}, // a scraper by pod IP
		{"a name not listed, with the token", "GET", "/api/v1/calls", hdr{"Authorization": auth, "Host": "rebind.example:8080"}, 421, ""},
		{"a page on an admin.hosts name", "POST", "/api/v1/reload", hdr{"Authorization": auth, "Content-Type": json, "Origin": "https://hotline.example.net"}, 422, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEngine(t)
			e.cfg.Admin.Pprof = true
			reloads := countReloads(e)
			h, _ := guardedAdmin(t, e, AdminConfig{Listen: "192.0.2.10:8080", Token: testToken,
				Hosts: []string{"hotline.example.net", "2001:db8::5"}})
			rr := send(h, tc.method, tc.path, tc.hd, "")
			if rr.Code != tc.code {
				t.Fatalf("%s %s %v: %d %s, want %d", tc.method, tc.path, tc.hd, rr.Code, rr.Body, tc.code)
			}
			if got := rr.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if got := reloads.Load(); tc.path == "/api/v1/reload" && (got == 1) != (tc.code == 422) {
				t.Errorf("reloads run: %d (status %d)", got, rr.Code)
			}
		})
	}
}

// NewGuard refuses to guard an API reachable beyond loopback with no token, and the config
// mistakes Validate knows; an error never repeats the token.
func TestNewGuard_Config(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	good, short, empty := file("good", "  "+testToken+"\n"), file("short", "abc123\n"), file("empty", "\n")
	for _, tc := range []struct {
		name string
		cfg  AdminConfig
		want string // "" accepted, else a substring of the error
	}{
		{"loopback, no token", AdminConfig{Listen: "127.0.0.1:8080"}, ""},
		{"localhost, no token", AdminConfig{Listen: "localhost:0"}, ""},
		{"[::1], no token", AdminConfig{Listen: "[::1]:8080"}, ""},
		{"the default, no token", AdminConfig{}, ""},
		{"0.0.0.0, no token", AdminConfig{Listen: "0.0.0.0:8080"}, "admin.listen: 0.0.0.0:8080 is not a loopback address and no token is set"},
		{"all interfaces, no token", AdminConfig{Listen: ":8080"}, "set admin.token or admin.token_file"},
		{"::, no token", AdminConfig{Listen: "[::]:8080"}, "admin.listen: [::]:8080 is not a loopback"},
		{"a LAN address, no token", AdminConfig{Listen: "192.168.1.10:8080"}, "admin.listen: 192.168.1.10:8080"},
		{"a name, no token", AdminConfig{Listen: "hotline.lan:8080"}, "admin.listen: hotline.lan:8080"},
		{"0.0.0.0 with a token", AdminConfig{Listen: "0.0.0.0:8080", Token: testToken}, ""},
		{"0.0.0.0 with a token file", AdminConfig{Listen: "0.0.0.0:8080", TokenFile: good}, ""},
		{"no port", AdminConfig{Listen: "127.0.0.1"}, "admin.listen:"},
		{"token and token file", AdminConfig{Listen: "0.0.0.0:8080", Token: testToken, TokenFile: good}, "admin.token_file: set admin.token or admin.token_file, not both"},
		{"short token", AdminConfig{Token: "abc123"}, "admin.token: 6 characters; want at least 16"},
		{"token with a space", AdminConfig{Token: "abcdefgh ijklmnopq"}, "admin.token: contains white space"},
		{"short token file", AdminConfig{TokenFile: short}, "admin.token_file: the token in " + short + ": 6 characters"},
		{"empty token file", AdminConfig{TokenFile: empty}, "admin.token_file: " + empty + " is empty"},
		{"missing token file", AdminConfig{TokenFile: filepath.Join(dir, "nope")}, "admin.token_file: open "},
		{"host with scheme", AdminConfig{Hosts: []string{"ok.example", "http://x.example"}}, `admin.hosts.1: "http://x.example" is not a host name`},
		{"host with port", AdminConfig{Hosts: []string{"x.example:8080"}}, "admin.hosts.0:"},
		{"empty host", AdminConfig{Hosts: []string{""}}, "admin.hosts.0:"},
		{"bracketed IPv6 host", AdminConfig{Hosts: []string{"[2001:db8::1]"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewGuard(tc.cfg, http.NotFoundHandler())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tc.want)
			case err != nil && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "abc123") || strings.Contains(err.Error(), testToken)) {
				t.Errorf("the error repeats the token: %v", err)
			}
		})
	}
}

// The token file's content, trimmed, is the token.
func TestNewGuard_TokenFileIsTrimmed(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(p, []byte("\n "+testToken+" \r\n"), 0o600))
	h, err := NewGuard(AdminConfig{Listen: "0.0.0.0:8080", TokenFile: p}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	must(t, err)
	if rr := send(h, "GET", "/x", hdr{"Authorization": "Bearer " + testToken}, ""); rr.Code != 200 {
		t.Errorf("the trimmed token: %d, want 200", rr.Code)
	}
}

// hotline validate reports what serve would refuse: a listen beyond loopback with no token.
func TestAdminConfig_ValidateRefusesAnOpenListen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  AdminConfig
		fail bool
	}{
		{AdminConfig{Listen: "0.0.0.0:8080"}, true},
		{AdminConfig{Listen: "[::]:8080"}, true},
		{AdminConfig{Listen: "0.0.0.0:8080", TokenFile: "/run/secrets/admin"}, false},
		{AdminConfig{Listen: "127.0.0.1:8080"}, false},
		{AdminConfig{}, false},
	} {
		if err := tc.cfg.Validate(); (err != nil) != tc.fail {
			t.Errorf("Validate(%+v) = %v, want failure %v", tc.cfg, err, tc.fail)
		}
	}
}
