package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// FreezeState is where a freeze is with the account system.
type FreezeState string

// Freeze states.
const (
	FreezeRecorded FreezeState = "recorded" // stored; the webhook (if any) not yet delivered
	FreezeNotified FreezeState = "notified" // the account system acknowledged it (2xx)
)

// ReferenceDigits is the length of a freeze reference number, read back to
// the caller digit by digit.
const ReferenceDigits = 8

// Freeze is one recorded account freeze.
type Freeze struct {
	ID        int64       `json:"id"`
	Account   string      `json:"account"`
	CallerID  string      `json:"caller_id"`
	CallID    string      `json:"call_id"`
	CreatedAt time.Time   `json:"created_at"`
	Reference string      `json:"reference"` // ReferenceDigits digits, unique
	State     FreezeState `json:"state"`
}

const freezeCols = `id, account, caller_id, call_id, created_at, reference, state`

func scanFreeze(s scanner) (Freeze, error) {
	var f Freeze
	var created int64
	err := s.Scan(&f.ID, &f.Account, &f.CallerID, &f.CallID, &created, &f.Reference, &f.State)
	f.CreatedAt = fromMS(created)
	return f, err
}

// NewFreeze is a freeze to record.
type NewFreeze struct {
	Account  string
	CallerID string
	CallID   string
	// Window: a freeze of the same account recorded less than Window ago
	// is the same freeze (duplicate presses, two calls at once).
	Window time.Duration
	// Webhook, when set, builds the webhook body for the recorded freeze;
	// it is queued in the outbox in the same transaction. Nil: no webhook.
	Webhook func(Freeze) ([]byte, error)
}

// CreateFreeze records a freeze, and its webhook in the outbox, in one
// committed transaction, and returns it with created true. If the account
// was already frozen within nf.Window it returns that freeze, with its
// reference, and created false. Concurrent calls for one account, from any
// process, record one freeze.
func (db *DB) CreateFreeze(ctx context.Context, nf NewFreeze, now time.Time) (Freeze, bool, error) {
	if nf.Account == "" {
		return Freeze{}, false, errors.New("store: create freeze: account is required")
	}
	var f Freeze
	created := false
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		f, err = scanFreeze(tx.QueryRowContext(ctx, `SELECT `+freezeCols+` FROM freezes
			WHERE account = ? AND created_at > ? ORDER BY created_at DESC, id DESC LIMIT 1`,
			nf.Account, ms(now.Add(-nf.Window))))
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for try := 0; ; try++ {
			ref, err := reference()
			if err != nil {
				return err
			}
			f, err = scanFreeze(tx.QueryRowContext(ctx, `INSERT INTO freezes (account, caller_id, call_id, created_at, reference)
				VALUES (?, ?, ?, ?, ?) RETURNING `+freezeCols, nf.Account, nf.CallerID, nf.CallID, ms(now), ref))
			if isUnique(err) && try < 10 {
				continue // reference taken: draw again
			}
			if err != nil {
				return err
			}
			break
		}
		created = true
		if nf.Webhook == nil {
			return nil
		}
		body, err := nf.Webhook(f)
		if err != nil {
			return fmt.Errorf("webhook body: %w", err)
		}
		key, err := idempotencyKey()
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_outbox (freeze_id, idempotency_key, body, next_attempt_at)
			VALUES (?, ?, ?, ?)`, f.ID, key, body, ms(now))
		return err
	})
	if err != nil {
		return Freeze{}, false, fmt.Errorf("store: create freeze: %w", err)
	}
	return f, created, nil
}

func reference() (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(ReferenceDigits), nil)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", ReferenceDigits, n), nil
}

func idempotencyKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "freeze-" + hex.EncodeToString(b[:]), nil
}

// FreezeByReference returns the freeze with a reference number, or
// ErrNotFound.
func (db *DB) FreezeByReference(ctx context.Context, ref string) (Freeze, error) {
	f, err := scanFreeze(db.r.QueryRowContext(ctx, `SELECT `+freezeCols+` FROM freezes WHERE reference = ?`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Freeze{}, fmt.Errorf("store: freeze %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Freeze{}, fmt.Errorf("store: freeze %s: %w", ref, err)
	}
	return f, nil
}

// ListFreezes returns the latest freezes, newest first (limit ≤ 0: all).
func (db *DB) ListFreezes(ctx context.Context, limit int) ([]Freeze, error) {
	q := `SELECT ` + freezeCols + ` FROM freezes ORDER BY created_at DESC, id DESC`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := db.r.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: list freezes: %w", err)
	}
	defer rows.Close()
	var out []Freeze
	for rows.Next() {
		f, err := scanFreeze(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list freezes: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list freezes: %w", err)
	}
	return out, nil
}

// Webhook is one outbox delivery: the same IdempotencyKey and Body on
// every attempt.
type Webhook struct {
	ID             int64
	FreezeID       int64
	IdempotencyKey string
	Body           []byte
	Attempts       int       // claims so far, this one included
	NextAttemptAt  time.Time // while claimed: the lease's end
	DeliveredAt    time.Time // zero until delivered
	LastError      string
}

const webhookCols = `id, freeze_id, idempotency_key, body, attempts, next_attempt_at, delivered_at, last_error`

func scanWebhook(s scanner) (Webhook, error) {
	var w Webhook
	var next, delivered int64
	err := s.Scan(&w.ID, &w.FreezeID, &w.IdempotencyKey, &w.Body, &w.Attempts, &next, &delivered, &w.LastError)
	w.NextAttemptAt, w.DeliveredAt = fromMS(next), fromMS(delivered)
	return w, err
}

// ClaimWebhook takes the next undelivered webhook due at now and holds it
// until now+lease (its next attempt time moves there, so no other sender
// takes it meanwhile), or returns ErrNoneDue. The sender then reports
// MarkWebhookDelivered or MarkWebhookFailed; if it crashes, the webhook is
// due again when the lease ends.
func (db *DB) ClaimWebhook(ctx context.Context, now time.Time, lease time.Duration) (Webhook, error) {
	if lease <= 0 {
		return Webhook{}, errors.New("store: claim webhook: a positive lease is required")
	}
	var w Webhook
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		w, err = scanWebhook(tx.QueryRowContext(ctx, `UPDATE webhook_outbox
			SET attempts = attempts + 1, next_attempt_at = ?2
			WHERE id = (SELECT id FROM webhook_outbox WHERE delivered_at = 0 AND next_attempt_at <= ?1
				ORDER BY next_attempt_at, id LIMIT 1)
			RETURNING `+webhookCols, ms(now), ms(now.Add(lease))))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Webhook{}, ErrNoneDue
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("store: claim webhook: %w", err)
	}
	return w, nil
}

// MarkWebhookDelivered records a 2xx for the webhook and marks its freeze
// notified. Delivering an already delivered webhook again is not an error.
func (db *DB) MarkWebhookDelivered(ctx context.Context, id int64, now time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var freezeID int64
		err := tx.QueryRowContext(ctx, `UPDATE webhook_outbox SET delivered_at = ?, last_error = ''
			WHERE id = ? AND delivered_at = 0 RETURNING freeze_id`, ms(now), id).Scan(&freezeID)
		if errors.Is(err, sql.ErrNoRows) {
			if err := tx.QueryRowContext(ctx, `SELECT freeze_id FROM webhook_outbox WHERE id = ?`, id).Scan(&freezeID); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return ErrNotFound
				}
				return err
			}
			return nil // delivered before
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE freezes SET state = 'notified' WHERE id = ?`, freezeID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: webhook %d delivered: %w", id, err)
	}
	return nil
}

// MarkWebhookFailed records a failed attempt and when to retry.
func (db *DB) MarkWebhookFailed(ctx context.Context, id int64, now time.Time, reason string, retryAt time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_outbox SET last_error = ?, next_attempt_at = ?
			WHERE id = ? AND delivered_at = 0`, reason, ms(retryAt), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhook_outbox WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: webhook %d failed: %w", id, err)
	}
	return nil
}

// Webhooks returns a freeze's outbox rows.
func (db *DB) Webhooks(ctx context.Context, freezeID int64) ([]Webhook, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhook_outbox WHERE freeze_id = ? ORDER BY id`, freezeID)
	if err != nil {
		return nil, fmt.Errorf("store: webhooks %d: %w", freezeID, err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("store: webhooks %d: %w", freezeID, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: webhooks %d: %w", freezeID, err)
	}
	return out, nil
}
