package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CallbackState is where a callback is in its life.
type CallbackState string

// Callback states. Pending, claimed and dialing are live; done, failed and
// canceled are final.
const (
	CallbackPending  CallbackState = "pending"  // waiting for its turn (NextAttemptAt)
	CallbackClaimed  CallbackState = "claimed"  // a dispatcher holds the lease (agent-first: reserving an agent)
	CallbackDialing  CallbackState = "dialing"  // an attempt is under way
	CallbackDone     CallbackState = "done"     // the caller answered
	CallbackFailed   CallbackState = "failed"   // attempts exhausted
	CallbackCanceled CallbackState = "canceled" // canceled (admin API)
)

// Outcome is how an attempt, or a callback, ended.
type Outcome string

// Attempt outcomes. Others (a SIP reason) may be stored as they are.
const (
	OutcomeAnswered    Outcome = "answered"
	OutcomeNoAnswer    Outcome = "no-answer"
	OutcomeBusy        Outcome = "busy"
	OutcomeRejected    Outcome = "rejected"
	OutcomeError       Outcome = "error"
	OutcomeInterrupted Outcome = "interrupted" // the dialler's lease ran out mid-dial (a crash)
	OutcomeCanceled    Outcome = "canceled"
)

// Callback is one stored callback.
type Callback struct {
	ID            int64         `json:"id"`
	Queue         string        `json:"queue"`
	CallID        string        `json:"call_id,omitempty"` // the call that asked for it, if given
	CallerNumber  string        `json:"caller_number"`
	CallerName    string        `json:"caller_name,omitempty"`
	Arrival       time.Time     `json:"arrival"` // original arrival: the kept place
	Priority      int           `json:"priority"`
	State         CallbackState `json:"state"`
	Attempts      int           `json:"attempts"`        // dials started
	NextAttemptAt time.Time     `json:"next_attempt_at"` // pending: due at
	LeaseOwner    string        `json:"lease_owner,omitempty"`
	LeaseUntil    time.Time     `json:"lease_until,omitzero"`
	Outcome       Outcome       `json:"outcome,omitempty"` // of the last attempt, or the final outcome
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
	// Interrupted is set by a claim that took over a dial whose lease ran
	// out: that attempt is recorded (Attempts counts it) and may have
	// reached the caller.
	Interrupted bool `json:"interrupted,omitempty"`
}

const callbackCols = `id, queue, coalesce(call_id, ''), caller_number, caller_name, arrival, priority, state,
	attempts, next_attempt_at, lease_owner, lease_until, outcome, created_at, updated_at`

func scanCallback(s scanner) (Callback, error) {
	var c Callback
	var arrival, next, lease, created, updated int64
	err := s.Scan(&c.ID, &c.Queue, &c.CallID, &c.CallerNumber, &c.CallerName, &arrival, &c.Priority, &c.State,
		&c.Attempts, &next, &c.LeaseOwner, &lease, &c.Outcome, &created, &updated)
	c.Arrival, c.NextAttemptAt, c.LeaseUntil = fromMS(arrival), fromMS(next), fromMS(lease)
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return c, err
}

// NewCallback is a callback to add.
type NewCallback struct {
	Queue        string
	CallerNumber string
	CallerName   string
	// CallID, when set, makes AddCallback idempotent: a second add for the
	// same call returns the first callback.
	CallID   string
	Arrival  time.Time // original arrival; zero means now
	Priority int
	// NotBefore is when the first attempt is due; zero means now.
	NotBefore time.Time
	// Limit, when set, caps the callbacks stored since Limit.Since; checked in the same
	// transaction as the insert, so that callers racing each other cannot pass it.
	Limit CallbackLimit
}

// CallbackLimit caps how many callbacks may be stored over a period (a day, say): for one
// number (across queues) and for one queue. Zero fields cap nothing.
type CallbackLimit struct {
	Since     time.Time
	PerNumber int
	PerQueue  int
}

// overLimit reports which cap, if any, another callback like nc would pass.
func overLimit(ctx context.Context, tx *sql.Tx, nc NewCallback) (string, error) {
	l := nc.Limit
	for _, c := range []struct {
		name, col, val string
		max            int
	}{{"per-number", "caller_number", nc.CallerNumber, l.PerNumber}, {"per-queue", "queue", nc.Queue, l.PerQueue}} {
		if c.max <= 0 {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM callbacks WHERE `+c.col+` = ? AND created_at >= ?`,
			c.val, ms(l.Since)).Scan(&n); err != nil {
			return "", err
		}
		if n >= c.max {
			return c.name, nil
		}
	}
	return "", nil
}

// AddCallback stores a callback and returns it once it is committed: only
// then may the caller hear the confirmation.
func (db *DB) AddCallback(ctx context.Context, nc NewCallback, now time.Time) (Callback, error) {
	if nc.Queue == "" || nc.CallerNumber == "" {
		return Callback{}, errors.New("store: add callback: queue and caller number are required")
	}
	arrival := nc.Arrival
	if arrival.IsZero() {
		arrival = now
	}
	due := nc.NotBefore
	if due.IsZero() {
		due = now
	}
	var callID any
	if nc.CallID != "" {
		callID = nc.CallID
	}
	var c Callback
	err := db.write(ctx, func(tx *sql.Tx) error {
		if nc.Limit.PerNumber > 0 || nc.Limit.PerQueue > 0 {
			if callID != nil { // this call's own callback, stored already, passes
				var err error
				c, err = scanCallback(tx.QueryRowContext(ctx, `SELECT `+callbackCols+` FROM callbacks WHERE call_id = ?`, callID))
				if err == nil || !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			over, err := overLimit(ctx, tx, nc)
			if err != nil {
				return err
			}
			if over != "" {
				return fmt.Errorf("%w: %s", ErrLimit, over)
			}
		}
		row := tx.QueryRowContext(ctx, `INSERT INTO callbacks
			(queue, call_id, caller_number, caller_name, arrival, priority, state, next_attempt_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)
			ON CONFLICT (call_id) DO NOTHING
			RETURNING `+callbackCols,
			nc.Queue, callID, nc.CallerNumber, nc.CallerName, ms(arrival), nc.Priority, ms(due), ms(now), ms(now))
		var err error
		c, err = scanCallback(row)
		if errors.Is(err, sql.ErrNoRows) { // this call already has one
			c, err = scanCallback(tx.QueryRowContext(ctx, `SELECT `+callbackCols+` FROM callbacks WHERE call_id = ?`, callID))
		}
		return err
	})
	if err != nil {
		return Callback{}, fmt.Errorf("store: add callback: %w", err)
	}
	return c, nil
}

// claimable selects the callbacks a claim may take at ?1 (now): pending and
// due, or held under a lease that has run out.
const claimable = `(state = 'pending' AND next_attempt_at <= ?1)
	OR (state IN ('claimed', 'dialing') AND lease_until <= ?1)`

// ClaimDueCallback leases the next due callback (highest priority, then
// earliest arrival) to owner until now+lease, or returns ErrNoneDue. Among
// any number of concurrent claimers, in this process or others, each
// callback goes to exactly one.
func (db *DB) ClaimDueCallback(ctx context.Context, owner string, now time.Time, lease time.Duration) (Callback, error) {
	return db.claim(ctx, `(SELECT id FROM callbacks WHERE `+claimable+` ORDER BY priority DESC, arrival, id LIMIT 1)`,
		owner, now, lease, ErrNoneDue)
}

// ClaimCallback leases one callback, the one the in-memory queue chose, to
// owner until now+lease. ErrLeaseLost when it is not claimable now
// (another owner's lease holds, it is not due, or it is finished).
func (db *DB) ClaimCallback(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) (Callback, error) {
	return db.claim(ctx, `(SELECT id FROM callbacks WHERE id = ?4 AND (`+claimable+`))`, owner, now, lease, ErrLeaseLost, id)
}

// claim runs the claiming UPDATE; which selects the row with ?1 now and,
// optionally, ?4 the ID.
func (db *DB) claim(ctx context.Context, which, owner string, now time.Time, lease time.Duration, none error, id ...any) (Callback, error) {
	if owner == "" || lease <= 0 {
		return Callback{}, errors.New("store: claim callback: owner and a positive lease are required")
	}
	var c Callback
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanCallback(tx.QueryRowContext(ctx, `UPDATE callbacks
			SET state = 'claimed', lease_owner = ?2, lease_until = ?3, updated_at = ?1
			WHERE id = `+which+`
			RETURNING `+callbackCols, append([]any{ms(now), owner, ms(now.Add(lease))}, id...)...))
		if err != nil {
			return err
		}
		// A dial left under way by a lease that ran out (a crash): it
		// stays recorded as an attempt, closed as interrupted.
		res, err := tx.ExecContext(ctx, `UPDATE callback_attempts SET ended_at = ?, outcome = ?
			WHERE callback_id = ? AND ended_at = 0`, ms(now), OutcomeInterrupted, c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			c.Interrupted = true
			c.Outcome = OutcomeInterrupted
			_, err = tx.ExecContext(ctx, `UPDATE callbacks SET outcome = ? WHERE id = ?`, OutcomeInterrupted, c.ID)
		}
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, none
	}
	if err != nil {
		return Callback{}, fmt.Errorf("store: claim callback: %w", err)
	}
	return c, nil
}

// RenewLease extends owner's lease on a claimed or dialing callback to
// now+lease. ErrLeaseLost when owner no longer holds it.
func (db *DB) RenewLease(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) error {
	_, err := db.leased(ctx, "renew lease", id, owner, now, `UPDATE callbacks SET lease_until = ?3, updated_at = ?4
		WHERE id = ?1 AND lease_owner = ?2 AND state IN ('claimed', 'dialing') AND lease_until > ?4
		RETURNING `+callbackCols, ms(now.Add(lease)))
	return err
}

// StartAttempt records that owner starts dialling a claimed callback: the
// attempt is counted and logged before the dial, and the lease runs to
// now+lease (long enough to cover the dial). ErrLeaseLost when owner no
// longer holds the claim.
func (db *DB) StartAttempt(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) (Callback, error) {
	var c Callback
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanCallback(tx.QueryRowContext(ctx, `UPDATE callbacks
			SET state = 'dialing', attempts = attempts + 1, lease_until = ?3, updated_at = ?4
			WHERE id = ?1 AND lease_owner = ?2 AND state = 'claimed' AND lease_until > ?4
			RETURNING `+callbackCols, id, owner, ms(now.Add(lease)), ms(now)))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO callback_attempts (callback_id, owner, started_at) VALUES (?, ?, ?)`,
			id, owner, ms(now))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, ErrLeaseLost
	}
	if err != nil {
		return Callback{}, fmt.Errorf("store: start attempt %d: %w", id, err)
	}
	return c, nil
}

// CompleteAttempt ends owner's dial of a callback and releases the lease.
// OutcomeAnswered makes the callback done; otherwise it is pending again,
// due at retryAt, or, with a zero retryAt, failed for good. ErrLeaseLost
// when owner no longer holds it (another owner took it over, or it was
// canceled).
func (db *DB) CompleteAttempt(ctx context.Context, id int64, owner string, now time.Time, outcome Outcome, retryAt time.Time) (Callback, error) {
	state := CallbackPending
	switch {
	case outcome == OutcomeAnswered:
		state, retryAt = CallbackDone, time.Time{}
	case retryAt.IsZero():
		state = CallbackFailed
	}
	var c Callback
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanCallback(tx.QueryRowContext(ctx, `UPDATE callbacks
			SET state = ?3, outcome = ?4, next_attempt_at = ?5, lease_owner = '', lease_until = 0, updated_at = ?6
			WHERE id = ?1 AND lease_owner = ?2 AND state = 'dialing'
			RETURNING `+callbackCols, id, owner, state, outcome, ms(retryAt), ms(now)))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE callback_attempts SET ended_at = ?, outcome = ?
			WHERE callback_id = ? AND ended_at = 0`, ms(now), outcome, id)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, ErrLeaseLost
	}
	if err != nil {
		return Callback{}, fmt.Errorf("store: complete attempt %d: %w", id, err)
	}
	return c, nil
}

// ReleaseCallback hands a claimed callback back without dialling (an
// agent-first reservation that found no agent, a shutdown): pending again,
// due at notBefore (zero: now). ErrLeaseLost when owner does not hold the
// claim.
func (db *DB) ReleaseCallback(ctx context.Context, id int64, owner string, now, notBefore time.Time) error {
	if notBefore.IsZero() {
		notBefore = now
	}
	_, err := db.leased(ctx, "release", id, owner, now, `UPDATE callbacks
		SET state = 'pending', lease_owner = '', lease_until = 0, next_attempt_at = ?3, updated_at = ?4
		WHERE id = ?1 AND lease_owner = ?2 AND state = 'claimed'
		RETURNING `+callbackCols, ms(notBefore))
	return err
}

// leased runs a single-statement update guarded by owner's lease; ?1 id,
// ?2 owner, ?3 arg, ?4 now.
func (db *DB) leased(ctx context.Context, what string, id int64, owner string, now time.Time, query string, arg any) (Callback, error) {
	var c Callback
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanCallback(tx.QueryRowContext(ctx, query, id, owner, arg, ms(now)))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, ErrLeaseLost
	}
	if err != nil {
		return Callback{}, fmt.Errorf("store: %s %d: %w", what, id, err)
	}
	return c, nil
}

// CancelCallback cancels a live callback. A dial under way is not stopped
// here: its owner's CompleteAttempt then fails with ErrLeaseLost.
// ErrNotFound for an unknown ID, ErrFinished when it already ended.
func (db *DB) CancelCallback(ctx context.Context, id int64, now time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE callbacks
			SET state = 'canceled', outcome = ?, lease_owner = '', lease_until = 0, updated_at = ?
			WHERE id = ? AND state IN ('pending', 'claimed', 'dialing')`, OutcomeCanceled, ms(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			_, err = tx.ExecContext(ctx, `UPDATE callback_attempts SET ended_at = ?, outcome = ?
				WHERE callback_id = ? AND ended_at = 0`, ms(now), OutcomeCanceled, id)
			return err
		}
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM callbacks WHERE id = ?`, id).Scan(&state); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		return ErrFinished
	})
	if err != nil {
		return fmt.Errorf("store: cancel callback %d: %w", id, err)
	}
	return nil
}

// Callback returns one callback, or ErrNotFound.
func (db *DB) Callback(ctx context.Context, id int64) (Callback, error) {
	c, err := scanCallback(db.r.QueryRowContext(ctx, `SELECT `+callbackCols+` FROM callbacks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, fmt.Errorf("store: callback %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Callback{}, fmt.Errorf("store: callback %d: %w", id, err)
	}
	return c, nil
}

// CallbackFilter selects callbacks for ListCallbacks. Zero fields select
// everything.
type CallbackFilter struct {
	Queue  string
	States []CallbackState // e.g. the live ones, to rebuild the queues after a restart
	Limit  int
}

// ListCallbacks returns the callbacks f selects in queue order: highest
// priority, then earliest arrival.
func (db *DB) ListCallbacks(ctx context.Context, f CallbackFilter) ([]Callback, error) {
	var where []string
	var args []any
	if f.Queue != "" {
		where = append(where, "queue = ?")
		args = append(args, f.Queue)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	q := `SELECT ` + callbackCols + ` FROM callbacks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY priority DESC, arrival, id"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list callbacks: %w", err)
	}
	defer rows.Close()
	var out []Callback
	for rows.Next() {
		c, err := scanCallback(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list callbacks: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list callbacks: %w", err)
	}
	return out, nil
}

// Attempt is one dial of a callback.
type Attempt struct {
	ID         int64
	CallbackID int64
	Owner      string
	Started    time.Time
	Ended      time.Time // zero while under way
	Outcome    Outcome
}

// Attempts returns a callback's attempts, oldest first.
func (db *DB) Attempts(ctx context.Context, callbackID int64) ([]Attempt, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, callback_id, owner, started_at, ended_at, outcome
		FROM callback_attempts WHERE callback_id = ? ORDER BY id`, callbackID)
	if err != nil {
		return nil, fmt.Errorf("store: attempts %d: %w", callbackID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var started, ended int64
		if err := rows.Scan(&a.ID, &a.CallbackID, &a.Owner, &started, &ended, &a.Outcome); err != nil {
			return nil, fmt.Errorf("store: attempts %d: %w", callbackID, err)
		}
		a.Started, a.Ended = fromMS(started), fromMS(ended)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: attempts %d: %w", callbackID, err)
	}
	return out, nil
}
