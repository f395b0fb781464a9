package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors callers branch on.
var (
	// ErrNoneDue: nothing is due to be claimed now.
	ErrNoneDue = errors.New("store: nothing due")
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("store: not found")
	// ErrLeaseLost: the caller no longer holds the row's lease (it
	// expired and another owner claimed it, or the row was canceled).
	ErrLeaseLost = errors.New("store: lease lost")
	// ErrFinished: the callback is already done, failed or canceled.
	ErrFinished = errors.New("store: already finished")
	// ErrLimit: a cap (NewCallback.Limit) refused the callback.
	ErrLimit = errors.New("store: limit reached")
)

// busyTimeout is how long a writer waits for another process's write
// transaction before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// DB is an open store. It is safe for concurrent use. Writes go through
// one connection (SQLite has one writer at a time anyway); reads use a
// small pool of read-only connections, which WAL lets run beside the
// writer.
type DB struct {
	w, r *sql.DB
	path string
}

// Open opens (creating if need be) the SQLite store at path and brings its
// schema up to date.
func Open(path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	dsn := func(params string) string {
		u := url.URL{Scheme: "file", Path: abs, OmitHost: true, RawQuery: params}
		return u.String()
	}
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=on", busyTimeout.Milliseconds())
	w, err := sql.Open("sqlite", dsn(common+"&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	db := &DB{w: w, path: path}
	if err := db.migrate(context.Background()); err != nil {
		w.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(common+"&_query_only=on"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db.r = r
	return db, nil
}

// Close closes the store.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// Path returns the file the store was opened on.
func (db *DB) Path() string { return db.path }

// write runs f in one BEGIN IMMEDIATE transaction and commits it.
func (db *DB) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return tx.Commit()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// isUnique reports a UNIQUE constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// ms stores a time as Unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS reads a time stored by ms.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
