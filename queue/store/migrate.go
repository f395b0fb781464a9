package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; migration i brings the schema to
// version i+1. Never edit a released migration: append a new one.
var migrations = []string{
	// 1: callbacks, attempts, abandoned places, freezes, webhook outbox, audit log.
	`
CREATE TABLE callbacks (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	queue           TEXT    NOT NULL,
	call_id         TEXT    UNIQUE,            -- the call that asked; makes AddCallback idempotent
	caller_number   TEXT    NOT NULL,
	caller_name     TEXT    NOT NULL DEFAULT '',
	arrival         INTEGER NOT NULL,          -- original arrival: the kept place
	priority        INTEGER NOT NULL DEFAULT 0,
	state           TEXT    NOT NULL DEFAULT 'pending'
	                CHECK (state IN ('pending', 'claimed', 'dialing', 'done', 'failed', 'canceled')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	lease_owner     TEXT    NOT NULL DEFAULT '',
	lease_until     INTEGER NOT NULL DEFAULT 0,
	outcome         TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE INDEX callbacks_due ON callbacks (state, next_attempt_at);
CREATE INDEX callbacks_lease ON callbacks (state, lease_until);
CREATE INDEX callbacks_queue ON callbacks (queue, state);

CREATE TABLE callback_attempts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	callback_id INTEGER NOT NULL REFERENCES callbacks (id),
	owner       TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,
	ended_at    INTEGER NOT NULL DEFAULT 0,  -- 0 while the dial is under way
	outcome     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX callback_attempts_callback ON callback_attempts (callback_id);

CREATE TABLE abandoned (
	queue      TEXT    NOT NULL,
	caller     TEXT    NOT NULL,
	arrival    INTEGER NOT NULL,
	priority   INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (queue, caller)
);
CREATE INDEX abandoned_expires ON abandoned (expires_at);

CREATE TABLE freezes (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	account    TEXT    NOT NULL,
	caller_id  TEXT    NOT NULL DEFAULT '',
	call_id    TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	reference  TEXT    NOT NULL UNIQUE,
	state      TEXT    NOT NULL DEFAULT 'recorded' CHECK (state IN ('recorded', 'notified'))
);
CREATE INDEX freezes_account ON freezes (account, created_at);

CREATE TABLE webhook_outbox (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	freeze_id       INTEGER NOT NULL REFERENCES freezes (id),
	idempotency_key TEXT    NOT NULL UNIQUE,
	body            BLOB    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	delivered_at    INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, next_attempt_at);

CREATE TABLE audit_log (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	kind    TEXT    NOT NULL,
	caller  TEXT    NOT NULL DEFAULT '',
	account TEXT    NOT NULL DEFAULT '',
	outcome TEXT    NOT NULL,
	reason  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_caller ON audit_log (kind, caller, at);
CREATE INDEX audit_log_account ON audit_log (kind, account, at);
`,
	// 2: callback caps count the callbacks stored per number and per queue over a period.
	`
CREATE INDEX callbacks_number_created ON callbacks (caller_number, created_at);
CREATE INDEX callbacks_queue_created ON callbacks (queue, created_at);
`,
	// 3: audited attempts carry the source address, for per-source limits.
	`
ALTER TABLE audit_log ADD COLUMN source TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_log_source ON audit_log (kind, source, at);
`,
}

// migrate applies the missing migrations in one write transaction, so that
// two processes opening a new file at once apply them once.
func (db *DB) migrate(ctx context.Context) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
		)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var v int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("migrate: schema version %d is newer than this binary's %d", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migrate to version %d: %w", i+1, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, i+1); err != nil {
				return fmt.Errorf("migrate to version %d: %w", i+1, err)
			}
		}
		return nil
	})
}
