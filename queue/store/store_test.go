package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// open opens a store in a fresh directory and closes it at the end.
func open(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hotline.db")
	return openPath(t, path), path
}

func openPath(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func add(t *testing.T, db *DB, nc NewCallback, now time.Time) Callback {
	t.Helper()
	if nc.Queue == "" {
		nc.Queue = "billing"
	}
	if nc.CallerNumber == "" {
		nc.CallerNumber = "+15550100"
	}
	c, err := db.AddCallback(context.Background(), nc, now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpen_SchemaAndPragmas(t *testing.T) {
	t.Parallel()
	db, path := open(t)
	ctx := context.Background()
	var mode string
	var sync, timeout int
	row := db.w.QueryRowContext(ctx, `SELECT (SELECT journal_mode FROM pragma_journal_mode), (SELECT synchronous FROM pragma_synchronous), (SELECT timeout FROM pragma_busy_timeout)`)
	if err := row.Scan(&mode, &sync, &timeout); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 || timeout != int(busyTimeout.Milliseconds()) {
		t.Errorf("journal_mode %s, synchronous %d, busy_timeout %d; want wal, 2 (FULL), %d", mode, sync, timeout, busyTimeout.Milliseconds())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening applies nothing twice.
	db2 := openPath(t, path)
	var versions []int
	rows, err := db2.r.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		rows.Scan(&v)
		versions = append(versions, v)
	}
	rows.Close()
	if want := []int{1, 2, 3}; !slices.Equal(versions, want) {
		t.Errorf("schema versions %v, want %v", versions, want)
	}
	// Readers cannot write.
	if _, err := db2.r.ExecContext(ctx, `DELETE FROM callbacks`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestOpen_RefusesNewerSchema(t *testing.T) {
	t.Parallel()
	db, path := open(t)
	if _, err := db.w.Exec(`INSERT INTO schema_migrations (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db2, err := Open(path); err == nil {
		db2.Close()
		t.Fatal("opened a schema from the future")
	}
}

func TestCallbacks_DurableAcrossReopen(t *testing.T) {
	t.Parallel()
	db, path := open(t)
	ctx := context.Background()
	want := add(t, db, NewCallback{Queue: "billing", CallerNumber: "+15550101", CallerName: "Ada", CallID: "call-1",
		Arrival: at(-10 * time.Minute), Priority: 2, NotBefore: at(time.Minute)}, t0)
	if want.ID == 0 || want.State != CallbackPending || !want.Arrival.Equal(at(-10*time.Minute)) || !want.NextAttemptAt.Equal(at(time.Minute)) {
		t.Fatalf("added %+v", want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openPath(t, path)
	got, err := db.ListCallbacks(ctx, CallbackFilter{Queue: "billing", States: []CallbackState{CallbackPending, CallbackClaimed, CallbackDialing}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != want {
		t.Errorf("after reopen: %+v\nwant %+v", got, want)
	}
}

func TestCallbacks_AddIdempotentPerCall(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	a := add(t, db, NewCallback{CallID: "call-7", Priority: 1}, t0)
	b := add(t, db, NewCallback{CallID: "call-7", Priority: 5}, at(time.Second))
	c := add(t, db, NewCallback{}, t0)
	d := add(t, db, NewCallback{}, t0)
	if a != b {
		t.Errorf("second add for one call: %+v, want the first %+v", b, a)
	}
	if c.ID == d.ID || c.ID == a.ID {
		t.Errorf("callbacks without a call ID share an ID: %d %d %d", a.ID, c.ID, d.ID)
	}
}

// Caps are counted in the insert's transaction: a third callback for one number within the
// period is refused, older ones do not count, the call's own callback passes again, and the
// queue's cap counts every number.
func TestCallbacks_Limits(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	lim := func(now time.Time) CallbackLimit {
		return CallbackLimit{Since: now.Add(-24 * time.Hour), PerNumber: 2, PerQueue: 4}
	}
	try := func(number, callID string, now time.Time) error {
		_, err := db.AddCallback(ctx, NewCallback{Queue: "billing", CallerNumber: number, CallID: callID, Limit: lim(now)}, now)
		return err
	}
	steps := []struct {
		number, callID string
		now            time.Time
		want           error
	}{
		{"+15550100", "c1", at(0), nil},
		{"+15550100", "c2", at(time.Hour), nil},
		{"+15550100", "c3", at(2 * time.Hour), ErrLimit},       // a third within the day
		{"+15550100", "c2", at(2 * time.Hour), nil},            // the same call again: its own row
		{"+15550100", "c4", at(25 * time.Hour), nil},           // the first has aged out
		{"+15550101", "c5", at(25 * time.Hour), nil},           // the queue's third today
		{"+15550102", "c6", at(25 * time.Hour), nil},           // its fourth
		{"+15550103", "c7", at(25 * time.Hour), ErrLimit},      // its fifth: the queue's cap
		{"+15550103", "c8", at(25 * time.Hour), ErrLimit},      // still
		{"+15550103", "", at(49*time.Hour + time.Minute), nil}, // a new day
	}
	for i, st := range steps {
		if err := try(st.number, st.callID, st.now); !errors.Is(err, st.want) {
			t.Fatalf("step %d (%s, %s): %v, want %v", i, st.number, st.callID, err, st.want)
		}
	}
}

func TestCallbacks_ClaimOrderDueAndLease(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	late := add(t, db, NewCallback{Arrival: at(-time.Hour), NotBefore: at(time.Hour)}, t0)
	low := add(t, db, NewCallback{Arrival: at(-3 * time.Minute)}, t0)
	high := add(t, db, NewCallback{Arrival: at(-1 * time.Minute), Priority: 9}, t0)
	old := add(t, db, NewCallback{Arrival: at(-5 * time.Minute)}, t0)
	var got []int64
	for {
		c, err := db.ClaimDueCallback(ctx, "n1", t0, time.Minute)
		if errors.Is(err, ErrNoneDue) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.State != CallbackClaimed || c.LeaseOwner != "n1" || !c.LeaseUntil.Equal(at(time.Minute)) {
			t.Errorf("claimed %+v", c)
		}
		got = append(got, c.ID)
	}
	if want := []int64{high.ID, old.ID, low.ID}; !slices.Equal(got, want) {
		t.Errorf("claim order %v, want %v (priority, then arrival; not the one due later)", got, want)
	}
	// Within the lease nobody else gets them; after it, they come back once.
	if _, err := db.ClaimDueCallback(ctx, "n2", at(59*time.Second), time.Minute); !errors.Is(err, ErrNoneDue) {
		t.Errorf("claim within the lease: %v, want ErrNoneDue", err)
	}
	if _, err := db.ClaimCallback(ctx, high.ID, "n2", at(59*time.Second), time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("claim by ID within the lease: %v, want ErrLeaseLost", err)
	}
	if err := db.RenewLease(ctx, high.ID, "n1", at(50*time.Second), time.Hour); err != nil {
		t.Fatal(err)
	}
	c, err := db.ClaimDueCallback(ctx, "n2", at(61*time.Second), time.Minute)
	if err != nil || c.ID != old.ID || c.LeaseOwner != "n2" {
		t.Errorf("after the lease: %+v, %v; want %d (high's lease was renewed)", c, err, old.ID)
	}
	if err := db.RenewLease(ctx, old.ID, "n1", at(62*time.Second), time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("renewing a lost lease: %v", err)
	}
	c, err = db.ClaimCallback(ctx, late.ID, "n2", at(time.Hour), time.Minute)
	if err != nil || c.ID != late.ID {
		t.Errorf("ClaimCallback when due: %+v, %v", c, err)
	}
}

func TestCallbacks_Attempts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		outcome   Outcome
		retryAt   time.Time
		wantState CallbackState
	}{
		{"answered", OutcomeAnswered, at(time.Hour), CallbackDone},
		{"no answer, retry", OutcomeNoAnswer, at(5 * time.Minute), CallbackPending},
		{"busy, final", OutcomeBusy, time.Time{}, CallbackFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, _ := open(t)
			ctx := context.Background()
			cb := add(t, db, NewCallback{}, t0)
			if _, err := db.StartAttempt(ctx, cb.ID, "n1", t0, time.Minute); !errors.Is(err, ErrLeaseLost) {
				t.Errorf("attempt without a claim: %v", err)
			}
			if _, err := db.ClaimCallback(ctx, cb.ID, "n1", t0, time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := db.StartAttempt(ctx, cb.ID, "n2", t0, time.Minute); !errors.Is(err, ErrLeaseLost) {
				t.Errorf("attempt by another owner: %v", err)
			}
			c, err := db.StartAttempt(ctx, cb.ID, "n1", at(time.Second), 2*time.Minute)
			if err != nil || c.State != CallbackDialing || c.Attempts != 1 || !c.LeaseUntil.Equal(at(2*time.Minute+time.Second)) {
				t.Fatalf("StartAttempt: %+v, %v", c, err)
			}
			if _, err := db.CompleteAttempt(ctx, cb.ID, "n2", at(30*time.Second), tc.outcome, tc.retryAt); !errors.Is(err, ErrLeaseLost) {
				t.Errorf("complete by another owner: %v", err)
			}
			c, err = db.CompleteAttempt(ctx, cb.ID, "n1", at(30*time.Second), tc.outcome, tc.retryAt)
			if err != nil || c.State != tc.wantState || c.Outcome != tc.outcome || c.LeaseOwner != "" {
				t.Fatalf("CompleteAttempt: %+v, %v; want %s", c, err, tc.wantState)
			}
			if tc.wantState == CallbackPending && !c.NextAttemptAt.Equal(tc.retryAt) {
				t.Errorf("next attempt %v, want %v", c.NextAttemptAt, tc.retryAt)
			}
			as, err := db.Attempts(ctx, cb.ID)
			if err != nil || len(as) != 1 || as[0].Outcome != tc.outcome || !as[0].Started.Equal(at(time.Second)) || !as[0].Ended.Equal(at(30*time.Second)) {
				t.Errorf("attempts %+v, %v", as, err)
			}
			_, err = db.ClaimDueCallback(ctx, "n1", at(10*time.Minute), time.Minute)
			if want := tc.wantState == CallbackPending; (err == nil) != want {
				t.Errorf("claimable after completion: %v, want %v", err, want)
			}
		})
	}
}

// A dial whose dialler died stays recorded: not redialled within the lease,
// claimable after it, with the attempt counted and closed as interrupted.
func TestCallbacks_ExpiredDialIsInterrupted(t *testing.T) {
	t.Parallel()
	db, path := open(t)
	ctx := context.Background()
	cb := add(t, db, NewCallback{}, t0)
	if _, err := db.ClaimCallback(ctx, cb.ID, "dead", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := db.StartAttempt(ctx, cb.ID, "dead", at(time.Second), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	db.Close() // the process dies mid-dial
	db = openPath(t, path)
	if _, err := db.ClaimDueCallback(ctx, "new", at(2*time.Minute), time.Minute); !errors.Is(err, ErrNoneDue) {
		t.Fatalf("claimed within the dialler's lease: %v", err)
	}
	c, err := db.ClaimDueCallback(ctx, "new", at(2*time.Minute+time.Second), time.Minute)
	if err != nil || !c.Interrupted || c.Attempts != 1 || c.Outcome != OutcomeInterrupted || c.LeaseOwner != "new" {
		t.Fatalf("after the lease: %+v, %v", c, err)
	}
	as, _ := db.Attempts(ctx, cb.ID)
	if len(as) != 1 || as[0].Outcome != OutcomeInterrupted || as[0].Owner != "dead" {
		t.Errorf("attempts %+v", as)
	}
	if _, err := db.CompleteAttempt(ctx, cb.ID, "dead", at(3*time.Minute), OutcomeAnswered, time.Time{}); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the old owner completed a taken-over dial: %v", err)
	}
	if err := db.ReleaseCallback(ctx, cb.ID, "new", at(3*time.Minute), at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c, _ := db.Callback(ctx, cb.ID); c.State != CallbackPending || !c.NextAttemptAt.Equal(at(time.Hour)) || c.Attempts != 1 {
		t.Errorf("released: %+v", c)
	}
}

func TestCallbacks_Cancel(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	pending := add(t, db, NewCallback{}, t0)
	dialing := add(t, db, NewCallback{}, t0)
	if _, err := db.ClaimCallback(ctx, dialing.ID, "n1", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := db.StartAttempt(ctx, dialing.ID, "n1", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{pending.ID, dialing.ID} {
		if err := db.CancelCallback(ctx, id, at(time.Second)); err != nil {
			t.Fatal(err)
		}
		if c, _ := db.Callback(ctx, id); c.State != CallbackCanceled {
			t.Errorf("callback %d is %s after cancel", id, c.State)
		}
	}
	if _, err := db.CompleteAttempt(ctx, dialing.ID, "n1", at(2*time.Second), OutcomeAnswered, time.Time{}); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("completing a canceled dial: %v, want ErrLeaseLost", err)
	}
	if err := db.CancelCallback(ctx, pending.ID, at(3*time.Second)); !errors.Is(err, ErrFinished) {
		t.Errorf("cancel twice: %v, want ErrFinished", err)
	}
	if err := db.CancelCallback(ctx, 999, at(3*time.Second)); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel unknown: %v, want ErrNotFound", err)
	}
	if _, err := db.ClaimDueCallback(ctx, "n2", at(time.Hour), time.Minute); !errors.Is(err, ErrNoneDue) {
		t.Errorf("a canceled callback was claimed: %v", err)
	}
	if _, err := db.Callback(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Callback(999): %v", err)
	}
}

// Several claimers in one process and two handles on one file (as two
// processes would hold): every callback is claimed exactly once.
func TestCallbacks_ConcurrentClaimersClaimEachOnce(t *testing.T) {
	t.Parallel()
	db1, path := open(t)
	db2 := openPath(t, path)
	ctx := context.Background()
	const n = 60
	for i := range n {
		add(t, db1, NewCallback{CallID: fmt.Sprint("call-", i), Arrival: at(time.Duration(i) * time.Millisecond)}, t0)
	}
	var mu sync.Mutex
	claims := map[int64][]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 6 {
		db := []*DB{db1, db2}[w%2]
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				c, err := db.ClaimDueCallback(ctx, owner, at(time.Second), time.Hour)
				if errors.Is(err, ErrNoneDue) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				claims[c.ID] = append(claims[c.ID], owner)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claims) != n {
		t.Errorf("%d callbacks claimed, want %d", len(claims), n)
	}
	for id, owners := range claims {
		if len(owners) != 1 {
			t.Errorf("callback %d claimed by %v", id, owners)
		}
	}
}

func TestAbandoned(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	a := Abandoned{Queue: "billing", Caller: "+100", Arrival: t0, Priority: 1, Expires: at(5 * time.Minute)}
	if err := db.SaveAbandoned(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveAbandoned(ctx, Abandoned{Queue: "billing", Caller: "+200", Arrival: t0, Expires: at(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := db.LookupAbandoned(ctx, "billing", "+100", at(4*time.Minute)); err != nil || !ok || got != a {
		t.Errorf("lookup within the window: %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := db.LookupAbandoned(ctx, "support", "+100", at(time.Minute)); ok {
		t.Error("found in another queue")
	}
	if _, ok, _ := db.LookupAbandoned(ctx, "billing", "+100", at(5*time.Minute)); ok {
		t.Error("found after expiry")
	}
	// Saving again (abandoned twice) replaces.
	a.Expires = at(10 * time.Minute)
	if err := db.SaveAbandoned(ctx, a); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListAbandoned(ctx, "billing", at(2*time.Minute))
	if err != nil || len(list) != 1 || list[0] != a {
		t.Errorf("list: %+v, %v", list, err)
	}
	if n, err := db.ExpireAbandoned(ctx, at(2*time.Minute)); err != nil || n != 1 {
		t.Errorf("expired %d, %v; want 1", n, err)
	}
	if err := db.DeleteAbandoned(ctx, "billing", "+100"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.LookupAbandoned(ctx, "billing", "+100", t0); ok {
		t.Error("found after delete")
	}
}

func TestFreeze_IdempotentWithinWindow(t *testing.T) {
	t.Parallel()
	db, path := open(t)
	ctx := context.Background()
	body := func(f Freeze) ([]byte, error) {
		return fmt.Appendf(nil, `{"account":%q,"reference":%q}`, f.Account, f.Reference), nil
	}
	nf := NewFreeze{Account: "acct-1", CallerID: "+100", CallID: "call-1", Window: 10 * time.Minute, Webhook: body}
	f1, created, err := db.CreateFreeze(ctx, nf, t0)
	if err != nil || !created || len(f1.Reference) != ReferenceDigits || f1.State != FreezeRecorded {
		t.Fatalf("first freeze: %+v, %v, %v", f1, created, err)
	}
	nf.CallID = "call-2"
	f2, created, err := db.CreateFreeze(ctx, nf, at(9*time.Minute))
	if err != nil || created || f2 != f1 {
		t.Errorf("second call within the window: %+v, created %v, %v; want the first freeze", f2, created, err)
	}
	f3, created, err := db.CreateFreeze(ctx, nf, at(11*time.Minute))
	if err != nil || !created || f3.Reference == f1.Reference {
		t.Errorf("after the window: %+v, created %v, %v; want a new freeze", f3, created, err)
	}
	other, created, _ := db.CreateFreeze(ctx, NewFreeze{Account: "acct-2", Window: time.Hour}, t0)
	if !created {
		t.Error("another account shares a freeze")
	}
	db.Close()
	db = openPath(t, path)
	ws, err := db.Webhooks(ctx, f1.ID)
	if err != nil || len(ws) != 1 || string(ws[0].Body) != fmt.Sprintf(`{"account":"acct-1","reference":%q}`, f1.Reference) {
		t.Errorf("outbox for the first freeze: %+v, %v", ws, err)
	}
	if ws, _ := db.Webhooks(ctx, other.ID); len(ws) != 0 {
		t.Errorf("freeze without a webhook has outbox rows: %+v", ws)
	}
	if got, err := db.FreezeByReference(ctx, f1.Reference); err != nil || got != f1 {
		t.Errorf("by reference: %+v, %v", got, err)
	}
	if list, _ := db.ListFreezes(ctx, 2); len(list) != 2 || list[0].ID != f3.ID {
		t.Errorf("latest freezes: %+v", list)
	}
}

// Two calls for one account at once, on two handles: one freeze, one
// webhook.
func TestFreeze_ConcurrentCallsOneFreeze(t *testing.T) {
	t.Parallel()
	db1, path := open(t)
	db2 := openPath(t, path)
	ctx := context.Background()
	var wg sync.WaitGroup
	refs := make([]string, 8)
	created := make([]bool, 8)
	for i := range refs {
		db := []*DB{db1, db2}[i%2]
		wg.Go(func() {
			f, c, err := db.CreateFreeze(ctx, NewFreeze{Account: "acct-9", CallID: fmt.Sprint("call-", i), Window: time.Minute,
				Webhook: func(Freeze) ([]byte, error) { return []byte("{}"), nil }}, at(time.Duration(i)*time.Millisecond))
			if err != nil {
				t.Error(err)
			}
			refs[i], created[i] = f.Reference, c
		})
	}
	wg.Wait()
	n := 0
	for i, r := range refs {
		if r != refs[0] {
			t.Errorf("call %d got reference %s, call 0 %s", i, r, refs[0])
		}
		if created[i] {
			n++
		}
	}
	list, _ := db1.ListFreezes(ctx, 0)
	ws, _ := db1.Webhooks(ctx, list[0].ID)
	if n != 1 || len(list) != 1 || len(ws) != 1 {
		t.Errorf("%d created, %d freezes, %d webhooks; want one each", n, len(list), len(ws))
	}
}

func TestWebhookOutbox(t *testing.T) {
	t.Parallel()
	db, path := open(t)
	ctx := context.Background()
	f, _, err := db.CreateFreeze(ctx, NewFreeze{Account: "a", Window: time.Minute,
		Webhook: func(Freeze) ([]byte, error) { return []byte(`{"a":1}`), nil }}, t0)
	if err != nil {
		t.Fatal(err)
	}
	w1, err := db.ClaimWebhook(ctx, t0, 30*time.Second)
	if err != nil || w1.FreezeID != f.ID || w1.Attempts != 1 || w1.IdempotencyKey == "" {
		t.Fatalf("claim: %+v, %v", w1, err)
	}
	if _, err := db.ClaimWebhook(ctx, at(29*time.Second), 30*time.Second); !errors.Is(err, ErrNoneDue) {
		t.Errorf("claimed twice within the lease: %v", err)
	}
	if err := db.MarkWebhookFailed(ctx, w1.ID, at(time.Second), "503 Service Unavailable", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The sender crashes after the next claim: due again when its lease ends, same key and body.
	w2, err := db.ClaimWebhook(ctx, at(time.Minute), 30*time.Second)
	if err != nil || w2.Attempts != 2 || w2.LastError != "503 Service Unavailable" {
		t.Fatalf("retry: %+v, %v", w2, err)
	}
	db.Close()
	db = openPath(t, path)
	w3, err := db.ClaimWebhook(ctx, at(time.Minute+30*time.Second), 30*time.Second)
	if err != nil || w3.IdempotencyKey != w1.IdempotencyKey || string(w3.Body) != string(w1.Body) || w3.Attempts != 3 {
		t.Fatalf("after the crash: %+v, %v", w3, err)
	}
	if err := db.MarkWebhookDelivered(ctx, w3.ID, at(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkWebhookDelivered(ctx, w3.ID, at(3*time.Minute)); err != nil {
		t.Errorf("delivered twice: %v", err)
	}
	if _, err := db.ClaimWebhook(ctx, at(time.Hour), 30*time.Second); !errors.Is(err, ErrNoneDue) {
		t.Errorf("a delivered webhook was claimed: %v", err)
	}
	if got, _ := db.FreezeByReference(ctx, f.Reference); got.State != FreezeNotified {
		t.Errorf("freeze state %s after delivery", got.State)
	}
	if err := db.MarkWebhookDelivered(ctx, 999, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown webhook: %v", err)
	}
}

func TestAudit(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	recs := []AuditRecord{
		{Time: t0, Kind: "freeze", Caller: "+100", Account: "a", Outcome: "frozen"},
		{Time: at(time.Second), Kind: "freeze", Caller: "+100", Account: "a", Outcome: "refused", Reason: "rate-limit"},
		{Time: at(2 * time.Second), Kind: "freeze", Caller: "+200", Outcome: "refused", Reason: "unknown-account", Source: "192.0.2.7"},
	}
	for _, r := range recs {
		if err := db.Audit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Audit(ctx, AuditRecord{Kind: "freeze"}); err == nil {
		t.Error("record without time and outcome accepted")
	}
	if n, err := db.CountAudit(ctx, AuditFilter{Kind: "freeze", Caller: "+100", Since: at(time.Second)}); err != nil || n != 1 {
		t.Errorf("count: %d, %v", n, err)
	}
	if n, err := db.CountAudit(ctx, AuditFilter{Kind: "freeze", Source: "192.0.2.7"}); err != nil || n != 1 {
		t.Errorf("count by source: %d, %v", n, err)
	}
	list, err := db.ListAudit(ctx, AuditFilter{Outcome: "refused", Limit: 10})
	if err != nil || len(list) != 2 || list[0].Reason != "unknown-account" || list[0].Source != "192.0.2.7" || !list[1].Time.Equal(at(time.Second)) {
		t.Errorf("list: %+v, %v", list, err)
	}
}
