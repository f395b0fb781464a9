package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Abandoned is the kept place of a caller who hung up while waiting, so
// that calling again within the window resumes it.
type Abandoned struct {
	Queue    string
	Caller   string // caller ID (number)
	Arrival  time.Time
	Priority int
	Expires  time.Time
}

// SaveAbandoned stores (or replaces) callers' kept places, all in one transaction (a
// server stopping with a thousand callers on hold commits once, not a thousand times).
func (db *DB) SaveAbandoned(ctx context.Context, places ...Abandoned) error {
	for _, a := range places {
		if a.Queue == "" || a.Caller == "" {
			return errors.New("store: save abandoned: queue and caller are required")
		}
	}
	if len(places) == 0 {
		return nil
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		for _, a := range places {
			_, err := tx.ExecContext(ctx, `INSERT INTO abandoned (queue, caller, arrival, priority, expires_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (queue, caller) DO UPDATE SET
				arrival = excluded.arrival, priority = excluded.priority, expires_at = excluded.expires_at`,
				a.Queue, a.Caller, ms(a.Arrival), a.Priority, ms(a.Expires))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save abandoned: %w", err)
	}
	return nil
}

// LookupAbandoned returns the caller's kept place in queue if it has not
// expired at now; false otherwise.
func (db *DB) LookupAbandoned(ctx context.Context, queue, caller string, now time.Time) (Abandoned, bool, error) {
	a := Abandoned{Queue: queue, Caller: caller}
	var arrival, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT arrival, priority, expires_at FROM abandoned
		WHERE queue = ? AND caller = ? AND expires_at > ?`, queue, caller, ms(now)).Scan(&arrival, &a.Priority, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Abandoned{}, false, nil
	}
	if err != nil {
		return Abandoned{}, false, fmt.Errorf("store: lookup abandoned: %w", err)
	}
	a.Arrival, a.Expires = fromMS(arrival), fromMS(expires)
	return a, true, nil
}

// DeleteAbandoned forgets a caller's kept place (it was resumed).
func (db *DB) DeleteAbandoned(ctx context.Context, queue, caller string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM abandoned WHERE queue = ? AND caller = ?`, queue, caller)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete abandoned: %w", err)
	}
	return nil
}

// ListAbandoned returns the places in queue still kept at now, to restore
// them after a restart (queue.Queue.RestoreAbandoned).
func (db *DB) ListAbandoned(ctx context.Context, queue string, now time.Time) ([]Abandoned, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT caller, arrival, priority, expires_at FROM abandoned
		WHERE queue = ? AND expires_at > ? ORDER BY expires_at, caller`, queue, ms(now))
	if err != nil {
		return nil, fmt.Errorf("store: list abandoned: %w", err)
	}
	defer rows.Close()
	var out []Abandoned
	for rows.Next() {
		a := Abandoned{Queue: queue}
		var arrival, expires int64
		if err := rows.Scan(&a.Caller, &arrival, &a.Priority, &expires); err != nil {
			return nil, fmt.Errorf("store: list abandoned: %w", err)
		}
		a.Arrival, a.Expires = fromMS(arrival), fromMS(expires)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list abandoned: %w", err)
	}
	return out, nil
}

// ExpireAbandoned deletes the places expired at now and returns how many.
func (db *DB) ExpireAbandoned(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM abandoned WHERE expires_at <= ?`, ms(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: expire abandoned: %w", err)
	}
	return n, nil
}
