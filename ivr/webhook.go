package ivr

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/hotline-ivr/hotline/queue/store"
)

// WebhookConfig configures the freeze webhook: the account system's endpoint.
type WebhookConfig struct {
	// URL receives POST application/json for each freeze; empty: no webhook.
	URL string `mapstructure:"url"`
	// Secret signs each body: header X-Hotline-Signature: sha256=<hex HMAC-SHA256(secret, body)>.
	Secret string `mapstructure:"secret"`
	// Timeout bounds one delivery attempt; default 5 s.
	Timeout time.Duration `mapstructure:"timeout"`
	// MinBackoff is the first delay between attempts, doubling each time; default 1 s.
	MinBackoff time.Duration `mapstructure:"min_backoff"`
	// MaxBackoff caps the delay between attempts; default 5 min.
	MaxBackoff time.Duration `mapstructure:"max_backoff"`
	// Poll is how often the outbox is checked for deliveries due (a retry, or one left by
	// a crash); a new freeze is sent at once whatever it is. Default 500ms.
	Poll time.Duration `mapstructure:"poll"`
}

// SignatureHeader carries the HMAC-SHA256 of the body under the shared secret.
const SignatureHeader = "X-Hotline-Signature"

// Sign returns the X-Hotline-Signature value of body under secret, for receivers to compare
// (in constant time) with what they were sent.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// outbox is what the sender needs of the store (STYLE.md B1).
type outbox interface {
	ClaimWebhook(ctx context.Context, now time.Time, lease time.Duration) (store.Webhook, error)
	MarkWebhookDelivered(ctx context.Context, id int64, now time.Time) error
	MarkWebhookFailed(ctx context.Context, id int64, now time.Time, reason string, retryAt time.Time) error
}

// webhookSender delivers the durable outbox until each webhook gets a 2xx. It is the only
// goroutine that sends; a crash loses nothing because a claimed webhook whose lease runs
// out is due again, with the same Idempotency-Key and body.
type webhookSender struct {
	cfg     WebhookConfig
	box     outbox
	client  *http.Client
	wake    chan struct{}
	now     func() time.Time
	log     *slog.Logger
	results func(outcome string) // metrics hook
}

func newWebhookSender(cfg WebhookConfig, box outbox, log *slog.Logger, results func(string)) *webhookSender {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	return &webhookSender{
		cfg: cfg, box: box, log: log, results: results, now: time.Now,
		client: &http.Client{Timeout: cfg.Timeout},
		wake:   make(chan struct{}, 1),
	}
}

// poke asks the sender to look at the outbox now (a freeze was just recorded).
func (s *webhookSender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends, polling at least every poll for retries that fall due.
func (s *webhookSender) run(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for s.sendOne(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// sendOne claims and delivers one due webhook; false when none is due (or on a store error).
func (s *webhookSender) sendOne(ctx context.Context) bool {
	now := s.now()
	w, err := s.box.ClaimWebhook(ctx, now, s.cfg.Timeout+10*time.Second)
	if err != nil {
		if !errors.Is(err, store.ErrNoneDue) && ctx.Err() == nil {
			s.log.Error("webhook outbox", "err", err)
		}
		return false
	}
	err = s.deliver(ctx, w)
	now = s.now()
	if err == nil {
		if err := s.box.MarkWebhookDelivered(ctx, w.ID, now); err != nil {
			s.log.Error("webhook delivered but not marked; it will be sent again with the same key", "id", w.ID, "err", err)
		}
		s.results("delivered")
		return true
	}
	backoff := s.cfg.MinBackoff << min(w.Attempts-1, 20)
	backoff = min(backoff, s.cfg.MaxBackoff)
	s.log.Warn("webhook delivery failed; will retry", "id", w.ID, "attempt", w.Attempts, "retry_in", backoff, "err", err)
	if err := s.box.MarkWebhookFailed(ctx, w.ID, now, err.Error(), now.Add(backoff)); err != nil {
		s.log.Error("webhook outbox", "err", err)
	}
	s.results("retry")
	return true
}

func (s *webhookSender) deliver(ctx context.Context, w store.Webhook) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(w.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", w.IdempotencyKey)
	req.Header.Set(SignatureHeader, Sign(s.cfg.Secret, w.Body))
	req.Header.Set("User-Agent", "Hotline")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: %s", s.cfg.URL, resp.Status)
	}
	return nil
}
