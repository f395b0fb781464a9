package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashEnv names the store file the helper process writes to.
const crashEnv = "HOTLINE_STORE_CRASH_DB"

// TestMain runs crashHelper instead of the tests in the process that
// TestCrash_KillDuringWrites starts and kills.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashHelper(path)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashHelper is the process TestCrash_KillDuringWrites kills: it loops over
// write transactions (add a callback, claim one, start its dial, complete
// some) and prints each one after its commit.
func crashHelper(path string) {
	db, err := Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush() // after the commit, before the next transaction
	}
	for i := 1; ; i++ {
		now := at(time.Duration(i) * time.Millisecond)
		c, err := db.AddCallback(ctx, NewCallback{Queue: "q", CallerNumber: "+1", CallID: fmt.Sprint("call-", i),
			Arrival: now}, now)
		if err != nil {
			say("error %v", err)
			os.Exit(1)
		}
		say("added %d", c.ID)
		if i%3 != 0 {
			continue
		}
		c, err = db.ClaimDueCallback(ctx, "child", now, time.Hour)
		if err != nil {
			say("error %v", err)
			os.Exit(1)
		}
		say("claimed %d", c.ID)
		if _, err := db.StartAttempt(ctx, c.ID, "child", now, time.Hour); err != nil {
			say("error %v", err)
			os.Exit(1)
		}
		say("dialing %d", c.ID)
		if i%2 == 0 {
			if _, err := db.CompleteAttempt(ctx, c.ID, "child", now, OutcomeNoAnswer, at(30*time.Minute)); err != nil {
				say("error %v", err)
				os.Exit(1)
			}
			say("completed %d", c.ID)
		}
	}
}

// TestCrash_KillDuringWrites kills (SIGKILL) a process in the middle of its
// write loop, then checks the file: every callback it reported committed is
// there, and no callback is claimed twice: not while the dead process's
// lease holds, and once each after.
func TestCrash_KillDuringWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1") // TestMain runs crashHelper
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() { // never leave the helper running if the test fails early
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	const kill = 90 // added callbacks before the kill
	added := map[int64]bool{}
	state := map[int64]string{} // last reported step per claimed callback
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		verb, arg, _ := strings.Cut(sc.Text(), " ")
		if verb == "error" {
			t.Fatalf("helper: %s", arg)
		}
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			continue
		}
		switch verb {
		case "added":
			added[id] = true
		default:
			state[id] = verb
		}
		if len(added) == kill && !killed {
			killed = true
			// Kill mid-loop; keep reading what it printed before dying.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	waited = true
	if err := cmd.Wait(); err == nil {
		t.Fatal("helper exited cleanly; want killed")
	}
	if len(added) < kill {
		t.Fatalf("helper added only %d callbacks", len(added))
	}

	db := openPath(t, path)
	ctx := context.Background()
	var ok string
	if err := db.r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %s, %v", ok, err)
	}
	all, err := db.ListCallbacks(ctx, CallbackFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[int64]Callback{}
	for _, c := range all {
		rows[c.ID] = c
	}
	for id := range added {
		if _, ok := rows[id]; !ok {
			t.Errorf("callback %d was committed but is gone", id)
		}
	}
	for id, step := range state {
		c := rows[id]
		// The row is at the last reported step, or one step on (committed,
		// then killed before printing).
		okStates := map[string][]CallbackState{
			"claimed":   {CallbackClaimed, CallbackDialing},
			"dialing":   {CallbackDialing, CallbackPending},
			"completed": {CallbackPending},
		}[step]
		if !slices.Contains(okStates, c.State) {
			t.Errorf("callback %d reported %s, stored %s", id, step, c.State)
		}
	}

	// The dead process's leases (1 h) still hold: only never-claimed
	// callbacks are handed out.
	claimedBy := map[int64]string{}
	claimAll := func(owner string, now time.Time) {
		for {
			c, err := db.ClaimDueCallback(ctx, owner, now, 24*time.Hour)
			if errors.Is(err, ErrNoneDue) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if prev, dup := claimedBy[c.ID]; dup {
				t.Errorf("callback %d claimed twice: by %s, then %s", c.ID, prev, owner)
			}
			claimedBy[c.ID] = owner
			if owner == "restart" {
				if s := state[c.ID]; s == "claimed" || s == "dialing" || s == "completed" {
					t.Errorf("callback %d (%s by the dead process) claimed within its lease", c.ID, s)
				}
			}
			if c.State != CallbackClaimed || c.LeaseOwner != owner {
				t.Errorf("claimed %+v", c)
			}
			if owner == "later" && rows[c.ID].State == CallbackDialing && (!c.Interrupted || c.Attempts != 1) {
				t.Errorf("dial cut by the crash: %+v; want interrupted, one attempt", c)
			}
		}
	}
	claimAll("restart", at(time.Minute))
	// After the leases and retry delays: everything else, once.
	claimAll("later", at(3*time.Hour))
	if len(claimedBy) != len(rows) {
		t.Errorf("%d of %d callbacks claimed after the crash", len(claimedBy), len(rows))
	}
	t.Logf("killed after %d adds, %d claims reported; %d rows", len(added), len(state), len(rows))
}
