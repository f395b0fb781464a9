package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AuditRecord is one audited attempt (a freeze, including refused ones),
// with its outcome and reason.
type AuditRecord struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // e.g. "freeze"
	Caller  string    `json:"caller"`
	Account string    `json:"account"`
	Outcome string    `json:"outcome"`          // e.g. "frozen", "refused"
	Reason  string    `json:"reason,omitempty"` // e.g. "rate-limit", "wrong-check", "unknown-account"
	// Source is the IP address the call's signalling came from, for per-source limits.
	Source string `json:"source,omitempty"`
}

// Audit appends a record to the audit log.
func (db *DB) Audit(ctx context.Context, r AuditRecord) error {
	if r.Kind == "" || r.Outcome == "" || r.Time.IsZero() {
		return errors.New("store: audit: time, kind and outcome are required")
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, kind, caller, account, outcome, reason, source)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, ms(r.Time), r.Kind, r.Caller, r.Account, r.Outcome, r.Reason, r.Source)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditFilter selects audit records; zero fields select everything.
type AuditFilter struct {
	Since   time.Time // records at or after
	Kind    string
	Caller  string
	Account string
	Outcome string
	Source  string
	Limit   int // ListAudit only
}

func (f AuditFilter) where() (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if !f.Since.IsZero() {
		add("at >= ?", ms(f.Since))
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Caller != "" {
		add("caller = ?", f.Caller)
	}
	if f.Account != "" {
		add("account = ?", f.Account)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// CountAudit counts the records f selects (rate limits per caller or
// account over a window survive restarts this way).
func (db *DB) CountAudit(ctx context.Context, f AuditFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM audit_log`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count audit: %w", err)
	}
	return n, nil
}

// ListAudit returns the records f selects, newest first.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	where, args := f.where()
	q := `SELECT id, at, kind, caller, account, outcome, reason, source FROM audit_log` + where + ` ORDER BY at DESC, id DESC`
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.ID, &at, &r.Kind, &r.Caller, &r.Account, &r.Outcome, &r.Reason, &r.Source); err != nil {
			return nil, fmt.Errorf("store: list audit: %w", err)
		}
		r.Time = fromMS(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	return out, nil
}
