package ivr

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// delivery is one request the account system received.
type delivery struct {
	header http.Header
	body   []byte
}

// A freeze reaches the account system exactly once, signed with the shared secret, even when
// the first attempt fails: the retry carries the same Idempotency-Key and body. A second
// freeze gets its own key; it is sent only once the first was settled (one sender, in order),
// which is how the test knows the first was marked delivered.
//
// Real HTTP on loopback: no synctest (sockets do not advance its clock); every wait is on a
// channel with a generous timeout.
func TestWebhook_FreezeDeliveredOnceAfterARetry(t *testing.T) {
	const secret = "s3cret"
	got := make(chan delivery, 8)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{header: r.Header.Clone(), body: body}
		if hits.Add(1) == 1 {
			http.Error(w, "account system busy", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s, want loopback", srv.URL)
	}

	e := newTestEngine(t)
	db := openStore(t)
	accs, err := NewAccounts([]Account{{ID: "A1", CallerIDs: []string{"+200"}}, {ID: "A2", CallerIDs: []string{"+201"}}})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if !e.Close(30 * time.Second) {
			t.Error("the webhook sender did not stop")
		}
	}
	t.Cleanup(stop) // before the store and the server close
	e.EnableFreeze(ctx, FreezeLane{Store: db, Accounts: accs, Config: FreezeConfig{Enabled: true, TrustFrom: true,
		Webhook: WebhookConfig{URL: srv.URL + "/freeze", Secret: secret, MinBackoff: 10 * time.Millisecond}}})

	p := dial(ctx, e, "c1", "+200")
	p.m.press("9")

	wait := func(what string) delivery {
		t.Helper()
		select {
		case d := <-got:
			return d
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s within 20 s", what)
			return delivery{}
		}
	}
	first, second := wait("first attempt"), wait("retry")
	hangup := func(p *phone) {
		t.Helper()
		p.leg.farHangup()
		select {
		case <-p.err:
		case <-time.After(20 * time.Second):
			t.Fatalf("call %s did not end after the caller hung up", p.id)
		}
	}
	hangup(p)
	p2 := dial(ctx, e, "c2", "+201")
	p2.m.press("9")
	third := wait("the second freeze's webhook")
	hangup(p2)
	stop()
	if k := third.header.Get("Idempotency-Key"); k == "" || k == first.header.Get("Idempotency-Key") {
		t.Errorf("the second freeze's key %q, want its own", k)
	}
	if !strings.Contains(string(third.body), `"account":"A2"`) {
		t.Errorf("the second freeze's webhook: %s", third.body)
	}

	for i, d := range []delivery{first, second} {
		if sig := d.header.Get(SignatureHeader); sig != Sign(secret, d.body) {
			t.Errorf("attempt %d: signature %q, want %q", i+1, sig, Sign(secret, d.body))
		}
		if ct := d.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("attempt %d: Content-Type %q", i+1, ct)
		}
	}
	key := first.header.Get("Idempotency-Key")
	if key == "" || second.header.Get("Idempotency-Key") != key {
		t.Errorf("Idempotency-Key %q then %q, want one non-empty key", key, second.header.Get("Idempotency-Key"))
	}
	if string(first.body) != string(second.body) {
		t.Errorf("the retry's body differs:\n%s\n%s", first.body, second.body)
	}
	if Sign(secret, first.body) == Sign("other", first.body) || !strings.HasPrefix(Sign(secret, first.body), "sha256=") {
		t.Errorf("signature %q does not depend on the secret or lacks sha256=", Sign(secret, first.body))
	}

	var body struct {
		Event, Reference, Account string
		CallerID                  string    `json:"caller_id"`
		CallID                    string    `json:"call_id"`
		FrozenAt                  time.Time `json:"frozen_at"`
	}
	must(t, json.Unmarshal(second.body, &body))
	rec := p.rec(t, e)
	if rec.Freeze == nil || rec.Freeze.Reference == "" {
		t.Fatalf("call record freeze %+v", rec.Freeze)
	}
	if body.Event != "account.freeze" || body.Account != "A1" || body.CallerID != "+200" || body.CallID != "c1" ||
		body.Reference != rec.Freeze.Reference || body.FrozenAt.IsZero() {
		t.Errorf("webhook body %+v, want account.freeze of A1 by +200 in c1 with reference %s", body, rec.Freeze.Reference)
	}

	fr, err := db.FreezeByReference(context.Background(), rec.Freeze.Reference)
	must(t, err)
	whs, err := db.Webhooks(context.Background(), fr.ID)
	must(t, err)
	if len(whs) != 1 {
		t.Fatalf("%d webhooks for one freeze, want 1", len(whs))
	}
	if w := whs[0]; w.Attempts != 2 || w.DeliveredAt.IsZero() || w.IdempotencyKey != key || string(w.Body) != string(first.body) {
		t.Errorf("outbox: attempts %d delivered %v key %q, want delivered on attempt 2 with key %q",
			w.Attempts, w.DeliveredAt, w.IdempotencyKey, key)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("the account system got %d requests, want 3 (two for the first freeze, one for the second)", n)
	}
	// The second freeze's delivery may have been cut short by the stop: at least one of each.
	m := metricText(t, e)
	for _, want := range []string{`hotline_freeze_webhooks_total{outcome="delivered"} `, `hotline_freeze_webhooks_total{outcome="retry"} `} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "webhooks"))
		}
	}
}

// A webhook URL without a secret is refused: bodies must be signed.
func TestWebhook_SecretRequired(t *testing.T) {
	t.Parallel()
	err := FreezeConfig{Webhook: WebhookConfig{URL: "https://accounts.example/freeze"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "freeze.webhook.secret") {
		t.Errorf("a webhook without a secret: %v", err)
	}
}

// Sign is HMAC-SHA256 in hex: a known vector (RFC 4231 test case 2).
func TestSign_KnownVector(t *testing.T) {
	t.Parallel()
	const want = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got := Sign("Jefe", []byte("what do ya want for nothing?")); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
