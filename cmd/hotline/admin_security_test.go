package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Issue #10 finding 2 at the listener: `hotline serve` refuses an admin API reachable beyond
// loopback without a token, and with one the real listener refuses whoever lacks it.

const testAdminToken = "e2e-admin-token-0123456789abcdef"

// e2eConfigAdmin writes the e2e config with its admin section replaced by admin (the keys
// under admin:, indented by two spaces).
func e2eConfigAdmin(t *testing.T, admin string) string {
	t.Helper()
	path := e2eConfigWith(t, "")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const orig = "admin:\n  listen: 127.0.0.1:0\n  call_history: 50\n"
	if !strings.Contains(string(data), orig) {
		t.Fatalf("%s has no admin section %q to replace", e2eConfig, orig)
	}
	data = []byte(strings.Replace(string(data), orig, "admin:\n"+admin, 1))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAdminSecurity_ServeRefusesOpenNonLoopbackListen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, listen string }{
		{"every IPv4 interface", "0.0.0.0:0"},
		{"every interface", ":0"},
		{"every IPv6 interface", "'[::]:0'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := e2eConfigAdmin(t, "  listen: "+tc.listen+"\n")
			s, err := start(context.Background(), path, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				s.stop(nil)
				t.Fatalf("serve started with admin.listen %s and no token", tc.listen)
			}
			for _, want := range []string{"admin.listen: " + strings.Trim(tc.listen, "'") + " is not a loopback address and no token is set", "set admin.token or admin.token_file"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

// With a token (here from admin.token_file) the server listens on every interface, and its
// real listener wants the token for everything but the health probes.
func TestAdminSecurity_TokenGuardsTheListener(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(testAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := startTestServerWith(t, e2eConfigAdmin(t, "  listen: 0.0.0.0:0\n  token_file: "+tokenFile+"\n"))
	_, port, err := net.SplitHostPort(s.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + port
	const auth = "Bearer " + testAdminToken
	for _, tc := range []struct {
		name, method, path string
		host, auth, ctype  string
		code               int
	}{
		{"calls without the token", "GET", "/api/v1/calls", "", "", "", 401},
		{"calls with a wrong token", "GET", "/api/v1/calls", "", "Bearer " + strings.Repeat("x", len(testAdminToken)), "", 401},
		{"calls with the token", "GET", "/api/v1/calls", "", auth, "", 200},
		{"metrics without the token", "GET", "/metrics", "", "", "", 401},
		{"metrics with the token", "GET", "/metrics", "", auth, "", 200},
		{"reload without the token", "POST", "/api/v1/reload", "", "", "application/json", 401},
		{"reload as text/plain", "POST", "/api/v1/reload", "", auth, "text/plain", 415},
		{"reload with the token", "POST", "/api/v1/reload", "", auth, "application/json", 200},
		{"a rebound host name", "GET", "/api/v1/calls", "attacker.example", auth, "", 421},
		{"healthz", "GET", "/healthz", "", "", "", 200},
		{"readyz", "GET", "/readyz", "attacker.example", "", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("%s %s: %s %s, want %d", tc.method, tc.path, resp.Status, body, tc.code)
			}
			if tc.code == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="hotline"`) {
				t.Errorf("401 with WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// HOTLINE_ADMIN_TOKEN, HOTLINE_ADMIN_TOKEN_FILE and HOTLINE_ADMIN_HOSTS reach the config even
// when the file leaves the keys out.
func TestConfig_AdminSecurityFromEnvironment(t *testing.T) {
	t.Setenv("HOTLINE_ADMIN_TOKEN", testAdminToken)
	t.Setenv("HOTLINE_ADMIN_TOKEN_FILE", "/run/secrets/none")
	t.Setenv("HOTLINE_ADMIN_HOSTS", "hotline.example.net,192.0.2.7")
	l, err := loadConfig(e2eConfig)
	if err != nil {
		t.Fatal(err)
	}
	if l.Admin.Token != testAdminToken || l.Admin.TokenFile != "/run/secrets/none" ||
		!slices.Equal(l.Admin.Hosts, []string{"hotline.example.net", "192.0.2.7"}) {
		t.Errorf("admin from the environment: token set %v, token_file %q, hosts %q",
			l.Admin.Token == testAdminToken, l.Admin.TokenFile, l.Admin.Hosts)
	}
	// Both set is an error `hotline validate` reports with its key.
	if _, err := buildMenu(l); err == nil || !strings.Contains(err.Error(), "admin.token_file: set admin.token or admin.token_file, not both") {
		t.Errorf("token and token_file both set: %v", err)
	}
}

// `hotline validate` reports a short admin token and a malformed admin.hosts entry by key and
// line, without printing the token.
func TestConfig_AdminKeysValidated(t *testing.T) {
	t.Parallel()
	path := e2eConfigAdmin(t, "  listen: 127.0.0.1:0\n  token: tooshort\n  hosts: [ok.example, 'http://x.example']\n")
	code, _, stderr := runValidate(t, path)
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d:\n%s", code, exitInvalid, stderr)
	}
	for _, want := range []string{"admin.token: 8 characters; want at least 16", `admin.hosts.1: "http://x.example" is not a host name`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("validate output lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "tooshort") {
		t.Errorf("validate printed the token:\n%s", stderr)
	}
}
