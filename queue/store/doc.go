// Package store is Hotline's durable state: callbacks and their attempts,
// abandoned callers' places, account freezes with their webhook outbox, and
// the audit log. The default is one embedded SQLite file (modernc.org/sqlite,
// pure Go) in WAL mode under the data directory.
//
// Durability contract: every write is committed (synchronous=FULL) before
// its method returns, so ivr may tell a caller "we will call you back" or
// read back a freeze reference as soon as AddCallback or CreateFreeze
// returns.
//
// Work is handed out with leases. ClaimDueCallback and ClaimWebhook give a
// row to exactly one claimant, even with several *DB handles (processes) on
// one file, because each claim is a single UPDATE ... RETURNING inside a
// BEGIN IMMEDIATE transaction, which SQLite serializes across processes.
// After a crash, a claim whose lease has run out becomes claimable again; a
// dial that was under way stays recorded as an attempt (closed as
// "interrupted"), so it counts against the callback's attempts and is not
// repeated while its lease holds.
//
// Times are stored as Unix milliseconds (0 for unset) and returned in UTC.
// Every method takes a context first and the current time as data: the
// store never reads the clock.
//
// store may import database/sql and the SQLite driver; it imports no other
// Hotline package (package queue does not import it either: ivr joins them).
package store
