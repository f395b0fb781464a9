package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/sip"
)

// freezeConfig writes the e2e config with the freeze lane on: global key 9, the lane's
// prompts (shortened, see lanePromptFrames), a data dir and the given freeze settings
// (YAML lines under freeze:).
func freezeConfig(t *testing.T, dataDir, freezeYAML string) string {
	t.Helper()
	prompts, _ := filepath.Abs("../../testdata/prompts")
	orig, err := os.ReadFile(e2eConfig)
	if err != nil {
		t.Fatal(err)
	}
	var lane strings.Builder
	for _, name := range ivr.LanePrompts() {
		lane.WriteString("    " + name + ": {file: " + filepath.Join(shortPromptDir("lane"), name+".wav") + "}\n")
	}
	cfg := strings.ReplaceAll(string(orig), "../prompts", prompts)
	cfg = strings.Replace(cfg, "  prompts:\n", "  prompts:\n"+lane.String(), 1)
	cfg = strings.Replace(cfg, "menus:\n", "menus:\n  global_keys:\n    \"9\": {action: freeze}\n", 1)
	cfg += "data_dir: " + dataDir + "\nfreeze:\n  enabled: true\n" + freezeYAML
	if !strings.Contains(freezeYAML, "trust_from") {
		// The test phone's From stands for a carrier's asserted caller ID here; the tests
		// of the default trust say trust_from: false.
		cfg += "  trust_from: true\n"
	}
	path := filepath.Join(t.TempDir(), "hotline.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hook is the account system: a real HTTP server on loopback that checks each request's
// signature and records it.
type hook struct {
	srv      *httptest.Server
	secret   string
	mu       sync.Mutex
	reqs     []hookReq
	fail     int           // answer 503 to this many requests first
	hold     chan struct{} // while open, requests wait unanswered (holdAnswers)
	holdOnce sync.Once
}

type hookReq struct {
	key, sig string
	body     map[string]any
	status   int
}

func newHook(t *testing.T, secret string, fail int) *hook {
	h := &hook{secret: secret, fail: fail}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		h.mu.Lock()
		hold := h.hold
		h.mu.Unlock()
		if hold != nil {
			<-hold
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		req := hookReq{key: r.Header.Get("Idempotency-Key"), sig: r.Header.Get(ivr.SignatureHeader), body: body, status: 200}
		if req.sig != ivr.Sign(h.secret, raw) {
			req.status = http.StatusUnauthorized
		} else if h.fail > 0 {
			h.fail--
			req.status = http.StatusServiceUnavailable
		}
		h.reqs = append(h.reqs, req)
		w.WriteHeader(req.status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// holdAnswers keeps every request to the hook waiting, unanswered, until release is called
// (at the latest at cleanup, before the hook closes).
func (h *hook) holdAnswers(t *testing.T) (release func()) {
	h.mu.Lock()
	h.hold = make(chan struct{})
	hold := h.hold
	h.mu.Unlock()
	release = func() { h.holdOnce.Do(func() { close(hold) }) }
	t.Cleanup(release)
	return release
}

func (h *hook) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

// waitDelivered waits until the hook has answered 2xx once, then a little longer to catch
// any second delivery.
func (h *hook) waitDelivered(t *testing.T) []hookReq {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range h.requests() {
			if r.status == 200 {
				time.Sleep(700 * time.Millisecond)
				return h.requests()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("webhook never delivered; requests: %+v", h.requests())
	return nil
}

// heardDigits collects the reference read back after freeze_done, up to freeze_goodbye.
func heardReference(t *testing.T, ctx context.Context, p *phone.Phone) string {
	t.Helper()
	expectPrompts(t, ctx, p, "freeze_done")
	var ref strings.Builder
	for {
		h, err := p.NextPrompt(ctx)
		if err != nil {
			t.Fatalf("reading back the reference (so far %q): %v", ref.String(), err)
		}
		if h.Prompt == "freeze_goodbye" {
			return ref.String()
		}
		d, ok := strings.CutPrefix(h.Prompt, "digit_")
		if !ok {
			t.Fatalf("heard %q inside the reference read-back", h.Prompt)
		}
		ref.WriteString(d)
	}
}

func freezesOf(t *testing.T, s *server) ivr.FreezesResponse {
	t.Helper()
	var fr ivr.FreezesResponse
	getJSON(t, "http://"+s.AdminAddr+"/api/v1/freezes", &fr)
	return fr
}

// shortPress and shortGap are how the phones of dialAs key: each key held 40 ms with 40 ms
// between keys, the shortest tone and pause a DTMF receiver must take (ITU-T Q.24), where
// the phone's defaults are 100 ms and 60 ms. The freeze tests key in account numbers and
// check digits.
const shortPress, shortGap = 40 * time.Millisecond, 40 * time.Millisecond

// dialAs calls Hotline as user, keying with shortPress and shortGap (RFC 4733).
func dialAs(t *testing.T, ctx context.Context, s *server, prompts map[string]*media.Prompt, user string) *phone.Phone {
	t.Helper()
	p, err := phone.Dial(ctx, "sip:hotline@"+s.SIPAddr, phone.Options{FromUser: user, Prompts: prompts, DigitDuration: shortPress, KeyGap: shortGap})
	if err != nil {
		t.Fatalf("dial as %s: %v", user, err)
	}
	t.Cleanup(func() { hangupQuietly(p) })
	return p
}

// Key 9 in a sub-menu, mid-prompt, freezes the caller-ID account at once: the store has it
// before the caller hears anything, the caller hears the reference digit by digit, and the
// account system gets one signed request with an Idempotency-Key.
func TestE2E_FreezeFromSubMenuMidPromptByCallerID(t *testing.T) {
	t.Parallel()
	h := newHook(t, "s3cret", 0)
	data := t.TempDir()
	cfg := freezeConfig(t, data, "  webhook: {url: "+h.srv.URL+", secret: s3cret}\n")
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := dialAs(t, ctx, s, prompts, "alice")
	expectPrompts(t, ctx, p, "main")
	if err := p.Press(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	expectPrompts(t, ctx, p, "sub")
	if err := p.Press(ctx, "9"); err != nil { // while "sub" plays
		t.Fatal(err)
	}
	ref := heardReference(t, ctx, p)
	expectRemoteHangup(t, p)

	fr := freezesOf(t, s)
	if len(fr.Freezes) != 1 || fr.Freezes[0].Account != "10020030" || fr.Freezes[0].Reference != ref {
		t.Fatalf("freezes %+v, want one of account 10020030 with the reference heard (%s)", fr.Freezes, ref)
	}
	rec := finishedCall(t, s, p.ID())
	if rec.Outcome != ivr.OutcomeFrozen || rec.Freeze == nil || rec.Freeze.Reference != ref {
		t.Fatalf("call record outcome %q freeze %+v, want frozen with %s", rec.Outcome, rec.Freeze, ref)
	}
	if rec.Freeze.RecordedMs > 1000 || rec.Freeze.ConfirmMs > 1000 {
		t.Errorf("key press to record %.1f ms, to confirmation %.1f ms: not within a second", rec.Freeze.RecordedMs, rec.Freeze.ConfirmMs)
	}
	reqs := h.waitDelivered(t)
	if len(reqs) != 1 || reqs[0].key == "" || reqs[0].body["reference"] != ref || reqs[0].body["account"] != "10020030" {
		t.Errorf("webhook requests %+v, want one signed request with the reference and an Idempotency-Key", reqs)
	}

	// `hotline freezes list` shows it too.
	var out bytes.Buffer
	cmd := freezesCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"list", "--config", cfg, "--data", data})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ref) || !strings.Contains(out.String(), "10020030") {
		t.Errorf("hotline freezes list:\n%s\nwant reference %s of account 10020030", out.String(), ref)
	}
}

// A caller whose number identifies no account keys it in, hears it read back, confirms,
// and is frozen; a number that is no account is refused clearly and asked again.
func TestE2E_FreezeUnknownCallerEntersAccount(t *testing.T) {
	t.Parallel()
	cfg := freezeConfig(t, t.TempDir(), "")
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := dialAs(t, ctx, s, prompts, "stranger")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "9")
	expectPrompts(t, ctx, p, "freeze_ask_account")
	p.Press(ctx, "55#")
	expectPrompts(t, ctx, p, "freeze_you_entered", "digit_5", "digit_5", "freeze_confirm")
	p.Press(ctx, "1")
	expectPrompts(t, ctx, p, "freeze_unknown", "freeze_ask_account")
	p.Press(ctx, "10020031#")
	expectPrompts(t, ctx, p, "freeze_you_entered", "digit_1", "digit_0", "digit_0", "digit_2", "digit_0",
		"digit_0", "digit_3", "digit_1", "freeze_confirm")
	p.Press(ctx, "1")
	ref := heardReference(t, ctx, p)
	expectRemoteHangup(t, p)
	fr := freezesOf(t, s)
	if len(fr.Freezes) != 1 || fr.Freezes[0].Account != "10020031" || fr.Freezes[0].Reference != ref {
		t.Fatalf("freezes %+v, want account 10020031 with reference %s", fr.Freezes, ref)
	}
	var reasons []string
	for _, a := range fr.Audit {
		reasons = append(reasons, a.Outcome+"/"+a.Reason)
	}
	if strings.Join(reasons, " ") != "frozen/ refused/unknown-account" { // newest first
		t.Errorf("audit %v, want the unknown account refused, then the freeze", reasons)
	}
}

// Two calls for one account at once, each pressing 9 twice: one freeze, one reference,
// one webhook delivery.
func TestE2E_FreezeTwoCallsOneAccountOneFreeze(t *testing.T) {
	t.Parallel()
	h := newHook(t, "k", 0)
	cfg := freezeConfig(t, t.TempDir(), "  webhook: {url: "+h.srv.URL+", secret: k}\n")
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	refs := make([]string, 2)
	var wg sync.WaitGroup
	for i := range refs {
		p := dialAs(t, ctx, s, prompts, "alice")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.WaitPrompt(ctx, "main"); err != nil {
				t.Error(err)
				return
			}
			p.Press(ctx, "99")
			if _, err := p.WaitPrompt(ctx, "freeze_done"); err != nil {
				t.Error(err)
				return
			}
			var ref strings.Builder
			for {
				h, err := p.NextPrompt(ctx)
				if err != nil || h.Prompt == "freeze_goodbye" {
					break
				}
				ref.WriteString(strings.TrimPrefix(h.Prompt, "digit_"))
			}
			refs[i] = ref.String()
			select {
			case <-p.Done():
			case <-ctx.Done():
				t.Error("the server did not hang up after the goodbye")
			}
		}()
	}
	wg.Wait()
	if refs[0] == "" || refs[0] != refs[1] {
		t.Fatalf("the two calls heard references %q and %q, want one and the same", refs[0], refs[1])
	}
	if fr := freezesOf(t, s); len(fr.Freezes) != 1 {
		t.Fatalf("%d freezes recorded, want 1: %+v", len(fr.Freezes), fr.Freezes)
	}
	if reqs := h.waitDelivered(t); len(reqs) != 1 {
		t.Errorf("%d webhook requests, want 1: %+v", len(reqs), reqs)
	}
}

// Refusals are heard and audited: the extra check answered wrong, and the rate limit.
func TestE2E_FreezeRefusals(t *testing.T) {
	t.Parallel()
	cfg := freezeConfig(t, t.TempDir(), "  check_digits: 4\n  rate_limit: {per_caller: 2, per_account: 10, period: 1h}\n")
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	p := dialAs(t, ctx, s, prompts, "alice")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "9")
	expectPrompts(t, ctx, p, "freeze_ask_check")
	p.Press(ctx, "9999")
	expectPrompts(t, ctx, p, "freeze_wrong_check", "freeze_goodbye")
	expectRemoteHangup(t, p)

	p = dialAs(t, ctx, s, prompts, "alice")
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "9")
	expectPrompts(t, ctx, p, "freeze_ask_check")
	p.Press(ctx, "1234")
	heardReference(t, ctx, p)
	expectRemoteHangup(t, p)

	p = dialAs(t, ctx, s, prompts, "alice") // a third attempt within the hour: refused
	expectPrompts(t, ctx, p, "main")        // before the check is asked (no oracle)
	p.Press(ctx, "9")
	expectPrompts(t, ctx, p, "freeze_refused", "freeze_goodbye")
	expectRemoteHangup(t, p)

	var got []string
	for _, a := range freezesOf(t, s).Audit {
		got = append(got, a.Outcome+"/"+a.Reason)
	}
	if want := "refused/rate-limit-caller frozen/ refused/wrong-check"; strings.Join(got, " ") != want {
		t.Errorf("audit (newest first) %v, want %s", got, want)
	}
}

// The account system is down for a while, and Hotline is killed (kill -9) after recording
// the freeze but before delivering it: after a restart the freeze is delivered once, with the
// same Idempotency-Key on every attempt.
func TestE2E_FreezeWebhookDeliveredOnceAcrossCrash(t *testing.T) {
	t.Parallel()
	h := newHook(t, "k", 2) // 503 twice
	release := h.holdAnswers(t)
	data := t.TempDir()
	cfg := freezeConfig(t, data, "  webhook: {url: "+h.srv.URL+", secret: k, min_backoff: 300ms, poll: 100ms}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, _ := loadConfig(cfg)
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}

	c1 := startChild(t, cfg)
	p, err := phone.Dial(ctx, "sip:hotline@"+c1.sipAddr, phone.Options{FromUser: "bob", Prompts: menu.Prompts, DigitDuration: shortPress, KeyGap: shortGap})
	if err != nil {
		t.Fatal(err)
	}
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "9")
	ref := heardReference(t, ctx, p)
	// The first attempt has waited at the hook for the reference to be heard; now it is
	// refused, and once its failure is recorded (the counter moves after the store write)
	// the server dies: the retry is min_backoff away.
	release()
	for !strings.Contains(getText(t, "http://"+c1.admin+"/metrics"), `hotline_freeze_webhooks_total{outcome="retry"} 1`) {
		if ctx.Err() != nil {
			t.Fatalf("the first webhook attempt was never recorded as failed; requests %+v", h.requests())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c1.kill(t)
	p.Close()

	c2 := startChild(t, cfg) // same data dir: the outbox survives the crash
	reqs := h.waitDelivered(t)
	delivered := 0
	for _, r := range reqs {
		if r.key != reqs[0].key || r.body["reference"] != ref {
			t.Errorf("attempt %+v differs from the first (key %s, reference %s)", r, reqs[0].key, ref)
		}
		if r.status == 200 {
			delivered++
		}
	}
	if delivered != 1 || len(reqs) != 3 {
		t.Errorf("%d requests, %d delivered; want 3 (two refused, one delivered)", len(reqs), delivered)
	}
	var fr ivr.FreezesResponse
	getJSON(t, "http://"+c2.admin+"/api/v1/freezes", &fr)
	if len(fr.Freezes) != 1 || fr.Freezes[0].State != "notified" {
		t.Errorf("after delivery: %+v, want the one freeze notified", fr.Freezes)
	}
}

// At the admission limit a new call is refused with 503, and a caller already in a call
// still reaches the freeze lane: the limit is the lane's headroom.
func TestE2E_FreezeWorksAtTheAdmissionLimit(t *testing.T) {
	t.Parallel()
	cfg := freezeConfig(t, t.TempDir(), "")
	writeFile(t, cfg, mustRead(t, cfg)+"max_calls: 1\n")
	s, prompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := dialAs(t, ctx, s, prompts, "alice")
	expectPrompts(t, ctx, p, "main")
	_, err := phone.Dial(ctx, "sip:hotline@"+s.SIPAddr, phone.Options{FromUser: "bob", Prompts: prompts})
	var rej *sip.RejectError
	if !errors.As(err, &rej) || rej.Code != 503 {
		t.Fatalf("second call at max_calls 1: %v, want 503", err)
	}
	p.Press(ctx, "9")
	if ref := heardReference(t, ctx, p); len(ref) != 8 {
		t.Errorf("reference %q", ref)
	}
	expectRemoteHangup(t, p)
	if m := getText(t, "http://"+s.AdminAddr+"/metrics"); !strings.Contains(m, `hotline_calls_total{direction="inbound",kind="caller",outcome="shed"} 1`) {
		t.Errorf("/metrics does not count the shed call")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trustedCarrier makes every loopback caller a call from the trusted trunk "carrier", whose
// P-Asserted-Identity is believed (RFC 3325 trust domain).
func trustedCarrier(t *testing.T, cfgPath string) string {
	t.Helper()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "sip:\n", "sip:\n  trunks: [{name: carrier, uri: \"sip:127.0.0.1:9\", source: [127.0.0.0/8], trusted: true}]\n", 1)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

// A trusted carrier's P-Asserted-Identity identifies the caller even when the From user is
// anonymous, and needs no check: the carrier vouches for it.
func TestE2E_FreezeByAssertedIdentity(t *testing.T) {
	t.Parallel()
	s, prompts := startTestServerWith(t, trustedCarrier(t, freezeConfig(t, t.TempDir(), "  trust_from: false\n")))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := phone.Dial(ctx, "sip:hotline@"+s.SIPAddr, phone.Options{FromUser: "anonymous", Prompts: prompts, DigitDuration: shortPress, KeyGap: shortGap,
		AssertedIdentity: `"Alice" <sip:+8613800138000@carrier.example>`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hangupQuietly(p) })
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "9")
	ref := heardReference(t, ctx, p)
	expectRemoteHangup(t, p)
	fr := freezesOf(t, s)
	if len(fr.Freezes) != 1 || fr.Freezes[0].Account != "10020030" || fr.Freezes[0].Reference != ref ||
		fr.Freezes[0].CallerID != "+8613800138000" {
		t.Fatalf("freezes %+v, want Alice's account frozen for caller +8613800138000", fr.Freezes)
	}
}

// Issue 10 findings 1 and 6, end to end: a caller from an address no trunk vouches for
// forges P-Asserted-Identity naming Alice's number. The header is ignored (the record
// shows an unverified caller), the freeze lane does not take the forged number as Alice's
// account without her check digits, and nothing is frozen.
func TestE2E_ForgedAssertedIdentityIsNotBelieved(t *testing.T) {
	t.Parallel()
	s, prompts := startTestServerWith(t, freezeConfig(t, t.TempDir(), "  trust_from: false\n  key_timeout: 300ms\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := phone.Dial(ctx, "sip:hotline@"+s.SIPAddr, phone.Options{FromUser: "anonymous", Prompts: prompts, DigitDuration: shortPress, KeyGap: shortGap,
		AssertedIdentity: `"Alice" <sip:+8613800138000@evil.example>`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hangupQuietly(p) })
	expectPrompts(t, ctx, p, "main")
	p.Press(ctx, "9")
	expectPrompts(t, ctx, p, ivr.PromptFreezeAskAccount)
	p.Press(ctx, "10020030#")
	expectPrompts(t, ctx, p, ivr.PromptFreezeYouEntered)
	if _, err := p.WaitPrompt(ctx, ivr.PromptFreezeConfirm); err != nil {
		t.Fatal(err)
	}
	p.Press(ctx, "1")
	expectPrompts(t, ctx, p, ivr.PromptFreezeAskCheck)
	p.Press(ctx, "9999")
	expectPrompts(t, ctx, p, ivr.PromptFreezeWrongCheck)
	expectRemoteHangup(t, p)
	if fr := freezesOf(t, s); len(fr.Freezes) != 0 {
		t.Fatalf("freezes %+v: a forged identity froze an account", fr.Freezes)
	}
	rec := finishedCall(t, s, p.ID())
	if rec.Asserted != nil || rec.Trusted || rec.Outcome != ivr.OutcomeFreezeRefused {
		t.Errorf("record: asserted %+v trusted %v outcome %q; want the header ignored and the freeze refused", rec.Asserted, rec.Trusted, rec.Outcome)
	}
}
