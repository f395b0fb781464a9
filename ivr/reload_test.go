package ivr

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
)

// compileMenu compiles cfg (the test menu changed by edit) with every prompt lasting a second.
func compileMenu(t *testing.T, edit func(*menus.Config)) *Menu {
	t.Helper()
	cfg := testMenuConfig()
	edit(&cfg)
	tree, err := menus.CompileWith(cfg, menus.CompileOptions{Enabled: map[string]bool{
		menus.ActionFreeze: true, menus.ActionEnqueue: true}})
	must(t, err)
	ps := map[string]*media.Prompt{}
	for _, r := range tree.PromptRefs() {
		ps[r.ID] = prompt(r.ID, time.Second)
	}
	return &Menu{Tree: tree, Prompts: ps}
}

// greetInfo is the test menu whose main node greets with "info" instead of "main".
func greetInfo(c *menus.Config) {
	n := c.Nodes["main"]
	n.Prompt = "info"
	c.Nodes["main"] = n
}

func splitLines(err error) []string { return strings.Split(err.Error(), "\n") }

// A reload swaps the menu for calls that start afterwards; a call in progress keeps the menu
// it started with. The menu status shows the version and when it was loaded.
func TestReload_NewCallsGetTheNewMenu(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		v1, started := e.MenuVersion(), time.Now()
		if st := e.MenuStatus(); st.Version != v1 || !st.LoadedAt.Equal(started) || st.Last != nil {
			t.Errorf("status before any reload: %+v", st)
		}
		next := compileMenu(t, greetInfo)
		e.SetLoader(func() (*Menu, error) { return next, nil })

		old := dial(t.Context(), e, "old", "+100")
		synctest.Wait()
		time.Sleep(500 * time.Millisecond) // the old call hears its greeting
		ev, err := e.Reload("signal", splitLines)
		must(t, err)
		v2 := e.MenuVersion()
		if v2 == v1 || v2 != next.Tree.Version() {
			t.Fatalf("version after reload %s (was %s), want %s", v2, v1, next.Tree.Version())
		}
		if !ev.OK || ev.Version != v2 || ev.Trigger != "signal" || !ev.At.Equal(time.Now()) || len(ev.Problems) != 0 {
			t.Errorf("reload event %+v", ev)
		}
		if old.rec(t, e).End != nil {
			t.Fatal("the old call ended before the reload")
		}
		fresh := dial(t.Context(), e, "new", "+101")
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if r := old.rec(t, e); r.TreeVersion != v1 || !strings.HasPrefix(prompts(r), "main timeout main") {
			t.Errorf("call in progress: tree %s prompts %q, want the old menu (%s) throughout", r.TreeVersion, prompts(r), v1)
		}
		if r := fresh.rec(t, e); r.TreeVersion != v2 || !strings.HasPrefix(prompts(r), "info timeout info") {
			t.Errorf("new call: tree %s prompts %q, want the new menu's greeting", r.TreeVersion, prompts(r))
		}
		st := e.MenuStatus()
		if st.Version != v2 || !st.LoadedAt.Equal(started.Add(500*time.Millisecond)) || st.Last == nil || !st.Last.OK {
			t.Errorf("status after reload: %+v", st)
		}

		// Reloading the same config again is fine and changes nothing: loaded_at stays.
		time.Sleep(time.Minute)
		if ev, err := e.Reload("file", splitLines); err != nil || !ev.OK || ev.Version != v2 {
			t.Errorf("reload of an unchanged config: %+v, %v", ev, err)
		}
		if st := e.MenuStatus(); !st.LoadedAt.Equal(started.Add(500*time.Millisecond)) || st.Last.Trigger != "file" {
			t.Errorf("status after an unchanged reload: loaded %v, last %+v", st.LoadedAt, st.Last)
		}
		old.leg.farHangup()
		fresh.leg.farHangup()
		synctest.Wait()
		old.ended(t)
		fresh.ended(t)
	})
}

// A config that does not load leaves the running menu in place and reports each problem.
func TestReload_BrokenConfigKeepsTheMenu(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	v1 := e.MenuVersion()

	ev, err := e.Reload("api", splitLines)
	if err == nil || ev.OK || len(ev.Problems) != 1 || !strings.Contains(ev.Problems[0], "no config file") {
		t.Errorf("reload without a config file: %+v, %v", ev, err)
	}

	bad := errors.Join(errors.New(`menus.nodes.main.prompt: unknown prompt "x"`), errors.New("menus.root: required"))
	e.SetLoader(func() (*Menu, error) { return nil, bad })
	ev, err = e.Reload("signal", splitLines)
	if !errors.Is(err, bad) {
		t.Errorf("reload error %v, want the loader's", err)
	}
	want := []string{`menus.nodes.main.prompt: unknown prompt "x"`, "menus.root: required"}
	if ev.OK || ev.Version != "" || strings.Join(ev.Problems, "|") != strings.Join(want, "|") {
		t.Errorf("refused reload %+v, want problems %q", ev, want)
	}
	if e.MenuVersion() != v1 {
		t.Error("a refused reload changed the menu")
	}
	st := e.MenuStatus()
	if st.Version != v1 || st.Last == nil || st.Last.OK || st.Last.Trigger != "signal" || len(st.Last.Problems) != 2 {
		t.Errorf("status after a refused reload: %+v", st)
	}
	if m := metricText(t, e); !strings.Contains(m, `hotline_menu_reloads_total{result="refused"} 2`) {
		t.Errorf("refusals not counted:\n%s", grepLines(m, "reloads"))
	}
}

// POST /api/v1/reload answers 200 with the new version, or 422 with one line per problem (as
// the problem formatter splits them); GET /api/v1/menu shows the outcome.
func TestReload_AdminAPI(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	a := NewAdmin(e)
	v1 := e.MenuVersion()

	code, body := request(t, a, "POST", "/api/v1/reload", "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "no config file") {
		t.Errorf("reload without a loader: %d %s", code, body)
	}

	next := compileMenu(t, greetInfo)
	fail := false
	e.SetLoader(func() (*Menu, error) {
		if fail {
			return nil, errors.New("one\ntwo")
		}
		return next, nil
	})
	code, body = request(t, a, "POST", "/api/v1/reload", "")
	var ev map[string]any
	must(t, json.Unmarshal([]byte(body), &ev))
	if code != 200 || ev["ok"] != true || ev["version"] != next.Tree.Version() || ev["trigger"] != "api" {
		t.Errorf("reload: %d %s", code, body)
	}
	m := getJSON(t, a, "/api/v1/menu")
	if m["version"] != next.Tree.Version() || m["version"] == v1 || m["loaded_at"] == nil {
		t.Errorf("GET /api/v1/menu after reload: %v", m)
	}

	fail = true
	code, body = request(t, a, "POST", "/api/v1/reload", "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"one\ntwo"`) {
		t.Errorf("refused reload without a formatter: %d %s, want the error as one problem", code, body)
	}
	a.SetProblemFormatter(splitLines)
	code, body = request(t, a, "POST", "/api/v1/reload", "")
	ev = nil
	must(t, json.Unmarshal([]byte(body), &ev))
	if code != http.StatusUnprocessableEntity || ev["ok"] != false {
		t.Errorf("refused reload: %d %s", code, body)
	}
	if ps, _ := ev["problems"].([]any); len(ps) != 2 || ps[0] != "one" || ps[1] != "two" {
		t.Errorf("problems %v, want [one two]", ev["problems"])
	}
	m = getJSON(t, a, "/api/v1/menu")
	last, _ := m["last_reload"].(map[string]any)
	if m["version"] != next.Tree.Version() || last == nil || last["ok"] != false {
		t.Errorf("GET /api/v1/menu after a refused reload: %v", m)
	}
}

// An operator re-records a prompt and reloads: the config is unchanged but the audio is
// not, so new calls get the new recording.
func TestReload_RerecordedPromptIsSwappedIn(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	m := compileMenu(t, func(*menus.Config) {})
	m.Prompts["main"] = prompt("main", 5*time.Second)
	e.SetLoader(func() (*Menu, error) { return m, nil })
	if _, err := e.Reload("api", nil); err != nil {
		t.Fatal(err)
	}
	if got := e.menu.Load().Prompts["main"].Duration(); got != 5*time.Second {
		t.Errorf("new callers hear the old recording (%v long)", got)
	}
}
