package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/sip"
)

// `hotline cert` writes a pair that loads, verifies for its hosts when trusted as a root,
// passes sip.tls validation, keeps the key private, and is not overwritten by accident.
func TestCert_WritesUsablePair(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tls") // created by the command
	var out bytes.Buffer
	cmd := certCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--host", "127.0.0.1,localhost", "--out", dir, "--days", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("hotline cert: %v", err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if !strings.Contains(out.String(), "cert: "+certPath) || !strings.Contains(out.String(), "key: "+keyPath) {
		t.Errorf("output lacks the config lines:\n%s", out.String())
	}
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatalf("LoadX509KeyPair: %v", err)
	}
	leaf := pair.Leaf
	if left := time.Until(leaf.NotAfter); left < 47*time.Hour || left > 49*time.Hour {
		t.Errorf("valid until %v: want about 2 days", leaf.NotAfter)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "192.0.2.1"}); err == nil {
		t.Error("verifies for an address it was not made for")
	}
	cfg := sip.Config{TLS: sip.TLSConfig{Listen: "127.0.0.1:5061", Cert: certPath, Key: keyPath}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("sip.tls with the pair: %v", err)
	}

	if _, _, _, err := writeSelfSigned(dir, []string{"127.0.0.1"}, time.Hour, false, time.Now()); err == nil ||
		!strings.Contains(err.Error(), "exists (--force to overwrite)") {
		t.Errorf("second run without --force: %v", err)
	}
	os.Chmod(keyPath, 0o644)
	if _, _, _, err := writeSelfSigned(dir, []string{"127.0.0.1"}, time.Hour, true, time.Now()); err != nil {
		t.Fatalf("--force: %v", err)
	}
	again, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil || again.Leaf.Equal(leaf) {
		t.Errorf("--force did not write a new pair: %v", err)
	}
	if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
		t.Errorf("key.pem rewritten with mode %v; want 0600", st.Mode().Perm())
	}
	for _, bad := range [][]string{{}, {"a b"}, {"sip:x"}} {
		if _, _, _, err := writeSelfSigned(t.TempDir(), bad, time.Hour, false, time.Now()); err == nil {
			t.Errorf("hosts %q: no error", bad)
		}
	}
}

// tlsE2EConfig writes the e2e config with sip.tls set to the pair in certDir.
func tlsE2EConfig(t *testing.T, certDir string) string {
	t.Helper()
	orig, err := os.ReadFile(e2eConfig)
	if err != nil {
		t.Fatal(err)
	}
	prompts, _ := filepath.Abs("../../testdata/prompts")
	data := strings.ReplaceAll(string(orig), "../prompts", prompts)
	tlsKeys := "sip:\n  tls:\n    listen: 127.0.0.1:0\n" +
		"    cert: " + filepath.Join(certDir, "cert.pem") + "\n    key: " + filepath.Join(certDir, "key.pem") + "\n"
	if !strings.Contains(data, "sip:\n") {
		t.Fatal("e2e config has no sip section")
	}
	data = strings.Replace(data, "sip:\n", tlsKeys, 1)
	path := filepath.Join(t.TempDir(), "hotline.yaml")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a log sink the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `hotline serve` with sip.tls answers TLS handshakes with the configured certificate;
// SIGHUP swaps in a renewed one, and a broken file on SIGHUP keeps it and is logged.
func TestServe_TLSCertificateReloadsOnSIGHUP(t *testing.T) {
	t.Parallel()
	certDir := t.TempDir()
	if _, _, _, err := writeSelfSigned(certDir, []string{"127.0.0.1"}, time.Hour, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := tlsE2EConfig(t, certDir)
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	s, err := start(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		cancel()
		t.Fatalf("start: %v", err)
	}
	hup := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- s.run(ctx, hup, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	if s.TLSAddr == "" {
		t.Fatal("no TLS address")
	}

	// served returns the certificate a handshake gets, verified as a phone trusting
	// cert.pem would (or nil when that fails).
	served := func(trust *x509.Certificate) *x509.Certificate {
		t.Helper()
		roots := x509.NewCertPool()
		roots.AddCert(trust)
		conn, err := tls.Dial("tcp", s.TLSAddr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			return nil
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	load := func() *x509.Certificate {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return pair.Leaf
	}
	first := load()
	if c := served(first); c == nil || !c.Equal(first) {
		t.Fatal("handshake: not the configured certificate")
	}

	if _, _, _, err := writeSelfSigned(certDir, []string{"127.0.0.1"}, time.Hour, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	renewed := load()
	hup <- syscall.SIGHUP
	deadline := time.Now().Add(5 * time.Second)
	for c := served(renewed); c == nil || !c.Equal(renewed); c = served(renewed) {
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate is not served after SIGHUP; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := os.WriteFile(filepath.Join(certDir, "cert.pem"), []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	for !strings.Contains(logs.String(), "tls certificate not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the failed reload:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "sip.tls.cert: "+filepath.Join(certDir, "cert.pem")+": no PEM") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
	if c := served(renewed); c == nil || !c.Equal(renewed) {
		t.Error("after a failed reload the certificate in use changed")
	}
}

// `hotline validate` names the sip.tls key at fault, with its position in the file.
func TestValidate_TLSProblems(t *testing.T) {
	t.Parallel()
	certDir, otherDir := t.TempDir(), t.TempDir()
	for _, d := range []string{certDir, otherDir} {
		if _, _, _, err := writeSelfSigned(d, []string{"127.0.0.1"}, time.Hour, false, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		cert, key  string
		wantInLine string
	}{
		{"missing key file", filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "nokey.pem"),
			"sip.tls.key: open " + filepath.Join(certDir, "nokey.pem")},
		{"unreadable PEM", e2eConfig, filepath.Join(certDir, "key.pem"),
			"sip.tls.cert: " + e2eConfig + ": no PEM \"CERTIFICATE\" block"},
		{"key of another certificate", filepath.Join(certDir, "cert.pem"), filepath.Join(otherDir, "key.pem"),
			"sip.tls.key: " + filepath.Join(otherDir, "key.pem") + " is not the private key of the certificate in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tlsE2EConfig(t, t.TempDir())
			data, _ := os.ReadFile(path)
			cfg := strings.Replace(string(data), "    cert: ", "    cert: "+tc.cert+" #", 1)
			cfg = strings.Replace(cfg, "    key: ", "    key: "+tc.key+" #", 1)
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runValidate(t, path)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d:\n%s", code, exitInvalid, stderr)
			}
			if !regexp.MustCompile(regexp.QuoteMeta(path) + `:\d+:\d+: ` + regexp.QuoteMeta(tc.wantInLine)).MatchString(stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantInLine, stderr)
			}
		})
	}
}
