package ivr

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/hotline-ivr/hotline/queue/store"
)

// FreezeConfig configures the emergency account-freeze lane (issue 6).
type FreezeConfig struct {
	// Enabled turns the lane on; the menu's freeze action (e.g. global key 9) starts it.
	Enabled bool `mapstructure:"enabled"`
	// Accounts is the accounts file (YAML or CSV), relative to the data directory; default
	// accounts.yaml, written with demo accounts on first start when missing.
	Accounts string `mapstructure:"accounts"`
	// Window: freezes of one account within it are one freeze, with one reference; default 10m.
	Window time.Duration `mapstructure:"window"`
	// CheckDigits asks the caller for that many digits of their ID before freezing (0: no
	// check). A caller whose identity no trusted trunk vouched for is always asked, for at
	// least UntrustedCheckDigits digits: a From header is a claim anyone can write.
	CheckDigits int `mapstructure:"check_digits"`
	// TrustFrom believes the From caller ID as if a trusted trunk had asserted it, so that
	// untrusted callers skip the check. Only for closed networks and tests; default off.
	TrustFrom bool `mapstructure:"trust_from"`
	// KeyTimeout is how long the lane waits for keys; default 8s.
	KeyTimeout time.Duration   `mapstructure:"key_timeout"`
	RateLimit  FreezeRateLimit `mapstructure:"rate_limit"`
	// RecoveryQueue, when set, is offered after the freeze ("press 1 to speak to someone"):
	// the caller joins it at RecoveryPriority (default 1000), ahead of every ordinary caller.
	RecoveryQueue    string        `mapstructure:"recovery_queue"`
	RecoveryPriority int           `mapstructure:"recovery_priority"`
	Webhook          WebhookConfig `mapstructure:"webhook"`
}

// FreezeRateLimit bounds freeze attempts, counted in the audit log.
type FreezeRateLimit struct {
	PerCaller  int `mapstructure:"per_caller"`  // attempts per caller ID per period; default 5
	PerAccount int `mapstructure:"per_account"` // attempts per account per period; default 5
	// PerSource bounds attempts per signalling source address per period, for calls that
	// do not come from a trunk (a trunk carries every caller of a carrier); default 20.
	PerSource int           `mapstructure:"per_source"`
	Period    time.Duration `mapstructure:"period"` // default 1h
}

// UntrustedCheckDigits is the least number of check digits asked of a caller whose
// identity is not vouched for.
const UntrustedCheckDigits = 4

// Validate reports every problem, naming the config key.
func (c FreezeConfig) Validate() error {
	var errs []error
	if c.Window < 0 || c.KeyTimeout < 0 || c.RateLimit.Period < 0 {
		errs = append(errs, errors.New("freeze: window, key_timeout and rate_limit.period must not be negative"))
	}
	if c.CheckDigits < 0 || c.CheckDigits > 12 {
		errs = append(errs, fmt.Errorf("freeze.check_digits: %d is not between 0 and 12", c.CheckDigits))
	}
	if c.Webhook.Poll < 0 || c.Webhook.MinBackoff < 0 || c.Webhook.MaxBackoff < 0 || c.Webhook.Timeout < 0 {
		errs = append(errs, errors.New("freeze.webhook: timeout, min_backoff, max_backoff and poll must not be negative"))
	}
	if c.Webhook.URL != "" && c.Webhook.Secret == "" {
		errs = append(errs, errors.New("freeze.webhook.secret: required with a webhook url (bodies are signed)"))
	}
	return errors.Join(errs...)
}

// Account is one account the lane can freeze.
type Account struct {
	ID        string   `json:"id" yaml:"id"`
	Name      string   `json:"name,omitempty" yaml:"name"`
	CallerIDs []string `json:"caller_ids" yaml:"caller_ids"` // From users / numbers that identify it
	Check     string   `json:"-" yaml:"check"`               // digits for the extra check (e.g. last 4 of an ID)
}

// Accounts is the accounts source: by ID and by caller ID.
type Accounts struct {
	byID     map[string]Account
	byCaller map[string][]string
}

// NewAccounts indexes accounts; duplicate IDs are an error.
func NewAccounts(list []Account) (*Accounts, error) {
	a := &Accounts{byID: make(map[string]Account), byCaller: make(map[string][]string)}
	for i, acc := range list {
		if acc.ID == "" {
			return nil, fmt.Errorf("accounts[%d]: id is required", i)
		}
		if _, dup := a.byID[acc.ID]; dup {
			return nil, fmt.Errorf("accounts[%d]: id %q appears twice", i, acc.ID)
		}
		a.byID[acc.ID] = acc
		for _, c := range acc.CallerIDs {
			a.byCaller[c] = append(a.byCaller[c], acc.ID)
		}
	}
	return a, nil
}

// byCallerID returns the one account a caller ID identifies, or "" when none or several.
func (a *Accounts) byCallerID(caller string) string {
	if ids := a.byCaller[caller]; len(ids) == 1 {
		return ids[0]
	}
	return ""
}

// FreezeLane is what the engine needs to run the lane: the store, the accounts and the
// webhook sender.
type FreezeLane struct {
	Config   FreezeConfig
	Store    *store.DB
	Accounts *Accounts
}

// EnableFreeze turns the lane on for calls that start from now on. The webhook sender runs
// until ctx ends.
func (e *Engine) EnableFreeze(ctx context.Context, l FreezeLane) {
	c := &l.Config
	if c.Window == 0 {
		c.Window = 10 * time.Minute
	}
	if c.RateLimit.PerCaller == 0 {
		c.RateLimit.PerCaller = 5
	}
	if c.RateLimit.PerAccount == 0 {
		c.RateLimit.PerAccount = 5
	}
	if c.RateLimit.PerSource == 0 {
		c.RateLimit.PerSource = 20
	}
	if c.RateLimit.Period == 0 {
		c.RateLimit.Period = time.Hour
	}
	if c.RecoveryPriority == 0 {
		c.RecoveryPriority = 1000
	}
	f := &freezer{lane: l, log: e.log, metrics: e.metrics, now: e.now}
	if l.Config.Webhook.URL != "" {
		f.sender = newWebhookSender(l.Config.Webhook, l.Store, e.log, func(outcome string) {
			e.metrics.webhooks.WithLabelValues(outcome).Inc()
		})
		e.bg.Add(1)
		go func() {
			defer e.bg.Done()
			f.sender.run(ctx, cmp.Or(l.Config.Webhook.Poll, 500*time.Millisecond))
		}()
	}
	e.freeze = f
}

// freezer records freezes durably, applies rate limits and audits every attempt.
type freezer struct {
	lane    FreezeLane
	sender  *webhookSender
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
}

// webhookBody is the JSON the account system receives.
type webhookBody struct {
	Event     string    `json:"event"`
	Reference string    `json:"reference"`
	Account   string    `json:"account"`
	CallerID  string    `json:"caller_id"`
	CallID    string    `json:"call_id"`
	FrozenAt  time.Time `json:"frozen_at"`
}

// freeze records a freeze of account for the caller, or says why not. A freeze of the same
// account within the window returns that freeze's reference (duplicate presses, two calls).
func (f *freezer) freeze(ctx context.Context, account, caller string, trusted bool, source, callID string) (ref, refused string, err error) {
	now := f.now()
	if refused, err := f.limited(ctx, account, caller, trusted); err != nil || refused != "" {
		return "", refused, err
	}
	nf := store.NewFreeze{Account: account, CallerID: caller, CallID: callID, Window: f.lane.Config.Window}
	if f.sender != nil {
		nf.Webhook = func(fr store.Freeze) ([]byte, error) {
			return json.Marshal(webhookBody{Event: "account.freeze", Reference: fr.Reference, Account: fr.Account,
				CallerID: fr.CallerID, CallID: fr.CallID, FrozenAt: fr.CreatedAt})
		}
	}
	fr, created, err := f.lane.Store.CreateFreeze(ctx, nf, now)
	if err != nil {
		return "", "", err
	}
	if f.sender != nil && created {
		f.sender.poke()
	}
	outcome := "frozen"
	if !created {
		outcome = "duplicate"
	}
	f.audit(ctx, caller, account, source, outcome, "")
	return fr.Reference, "", nil
}

// audit appends an attempt to the audit log; a failure is logged, never hidden.
func (f *freezer) audit(ctx context.Context, caller, account, source, outcome, reason string) {
	f.metrics.freezes.WithLabelValues(outcome, reason).Inc()
	err := f.lane.Store.Audit(ctx, store.AuditRecord{Time: f.now(), Kind: "freeze", Caller: caller,
		Account: account, Outcome: outcome, Reason: reason, Source: source})
	if err != nil {
		f.log.Error("freeze audit", "err", err, "caller", caller, "account", account, "outcome", outcome)
	}
}

// limited says which rate limit, if any, refuses another attempt for account by caller:
// every audited attempt counts, refused ones (a wrong check) included, so that guessing an
// account's check digits stops after per_account tries whatever the caller ID says. A
// caller whose identity is vouched for (trusted) is limited per caller only: strangers
// guessing at the account cannot lock its owner out of the freeze.
func (f *freezer) limited(ctx context.Context, account, caller string, trusted bool) (string, error) {
	rl := f.lane.Config.RateLimit
	since := f.now().Add(-rl.Period)
	if caller != "" {
		n, err := f.lane.Store.CountAudit(ctx, store.AuditFilter{Since: since, Kind: "freeze", Caller: caller})
		if err != nil {
			return "", err
		}
		if n >= rl.PerCaller {
			return "rate-limit-caller", nil
		}
	}
	if trusted {
		return "", nil
	}
	n, err := f.lane.Store.CountAudit(ctx, store.AuditFilter{Since: since, Kind: "freeze", Account: account})
	if err != nil {
		return "", err
	}
	if n >= rl.PerAccount {
		return "rate-limit-account", nil
	}
	return "", nil
}

// auditKindAttempt marks a lane entered from a source address that per-source limits count:
// every attempt, whether or not the caller went on to key anything.
const auditKindAttempt = "freeze_attempt"

// attemptFrom counts a lane attempt from source (an IP address) and reports whether the
// source had already reached the per-source limit within the period (the refused attempt
// is then audited by the lane, not counted here). Calls from a trunk (source "") are not
// limited by source.
func (f *freezer) attemptFrom(ctx context.Context, source, caller string) (limited bool, err error) {
	if source == "" {
		return false, nil
	}
	rl := f.lane.Config.RateLimit
	n, err := f.lane.Store.CountAudit(ctx, store.AuditFilter{Since: f.now().Add(-rl.Period), Kind: auditKindAttempt, Source: source})
	if err != nil || n >= rl.PerSource {
		return err == nil, err
	}
	return false, f.lane.Store.Audit(ctx, store.AuditRecord{Time: f.now(), Kind: auditKindAttempt, Caller: caller,
		Outcome: "started", Source: source})
}

func (f *freezer) exists(account string) bool {
	_, ok := f.lane.Accounts.byID[account]
	return ok
}

// checkMatches compares the digits keyed with the last as many digits of the account's
// check ("the last four digits of your ID" against an ID stored whole); an account whose
// check is shorter than what was asked never matches.
func (f *freezer) checkMatches(account, digits string) bool {
	a, ok := f.lane.Accounts.byID[account]
	if !ok || len(a.Check) < len(digits) || digits == "" {
		return false
	}
	return constantTimeEqual(a.Check[len(a.Check)-len(digits):], digits)
}

// ShortChecks counts the accounts whose check has fewer than n digits: callers asked for n
// digits (unverified callers are asked at least UntrustedCheckDigits) can never freeze them.
func (a *Accounts) ShortChecks(n int) int {
	short := 0
	for _, acc := range a.byID {
		if len(acc.Check) < n {
			short++
		}
	}
	return short
}

// LanePrompts lists the prompts a menu must define when the freeze lane is enabled.
func (c FreezeConfig) LanePrompts() []string {
	out := LanePrompts()
	if c.RecoveryQueue != "" {
		out = append(out, PromptFreezeOfferAgent)
	}
	return out
}

// LanePrompts lists the prompts every freeze lane needs.
func LanePrompts() []string {
	out := slices.Clone(lanePrompts)
	for d := '0'; d <= '9'; d++ {
		out = append(out, "digit_"+string(d))
	}
	return out
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
