package ivr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

// The admin HTTP API as an operator's script sees it: status codes, and JSON whose lists are
// [] (never null) and whose keys are snake_case.

// request sends one request to h and returns the status and the body.
func request(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(method, path, r))
	if ct := rr.Header().Get("Content-Type"); strings.HasPrefix(path, "/api/") && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return rr.Code, rr.Body.String()
}

// getJSON GETs path, wants 200, and decodes the body into a generic map.
func getJSON(t *testing.T, h http.Handler, path string) map[string]any {
	t.Helper()
	code, body := request(t, h, "GET", path, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return m
}

// rawLists returns the raw JSON of each top-level key of body.
func rawLists(t *testing.T, body string) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// list is m[key] as a list of objects, failing the test when it is not one.
func list(t *testing.T, m map[string]any, key string) []map[string]any {
	t.Helper()
	raw, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%q is %T (%v), want a list", key, m[key], m[key])
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		if out[i], ok = v.(map[string]any); !ok {
			t.Fatalf("%q[%d] is %T, want an object", key, i, v)
		}
	}
	return out
}

func TestAdmin_HealthAndReadiness(t *testing.T) {
	t.Parallel()
	a := NewAdmin(newTestEngine(t))
	if code, body := request(t, a, "GET", "/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := request(t, a, "GET", "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before SetReady: %d, want 503", code)
	}
	a.SetReady(true)
	if code, body := request(t, a, "GET", "/readyz", ""); code != 200 || body != "ready\n" {
		t.Errorf("/readyz when ready: %d %q", code, body)
	}
	a.SetReady(false)
	if code, _ := request(t, a, "GET", "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after SetReady(false): %d, want 503", code)
	}
	if code, _ := request(t, a, "GET", "/debug/pprof/", ""); code != http.StatusNotFound {
		t.Errorf("pprof served while admin.pprof is off: %d", code)
	}
}

func TestAdmin_PprofOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	e.cfg.Admin.Pprof = true
	if code, _ := request(t, NewAdmin(e), "GET", "/debug/pprof/", ""); code != 200 {
		t.Errorf("/debug/pprof/ with admin.pprof on: %d", code)
	}
}

// With no call yet both lists are []; a live call is listed live; once it ended it is listed
// finished with its direction, kind, outcome and phases, and can be fetched by its ID.
func TestAdmin_CallsLiveThenFinished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		a := NewAdmin(e)
		_, body := request(t, a, "GET", "/api/v1/calls", "")
		if l := rawLists(t, body); l["live"] != "[]" || l["finished"] != "[]" {
			t.Errorf("no calls: live %s finished %s, want [] and []", l["live"], l["finished"])
		}

		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		m := getJSON(t, a, "/api/v1/calls")
		live, fin := list(t, m, "live"), list(t, m, "finished")
		if len(live) != 1 || live[0]["call_id"] != "c1" || len(fin) != 0 {
			t.Fatalf("during the call: live %v finished %v", live, fin)
		}
		if _, ok := live[0]["end"]; ok {
			t.Errorf("a live call has an end: %v", live[0]["end"])
		}

		p.m.press("0")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		m = getJSON(t, a, "/api/v1/calls")
		live, fin = list(t, m, "live"), list(t, m, "finished")
		if len(live) != 0 || len(fin) != 1 {
			t.Fatalf("after the call: %d live, %d finished", len(live), len(fin))
		}
		c := fin[0]
		if c["call_id"] != "c1" || c["direction"] != "inbound" || c["kind"] != "caller" || c["outcome"] != "goodbye" {
			t.Errorf("finished call: %v", c)
		}
		if c["caller"].(map[string]any)["user"] != "+100" || c["end"] == nil || c["tree_version"] != e.MenuVersion() {
			t.Errorf("finished call caller %v end %v tree %v", c["caller"], c["end"], c["tree_version"])
		}
		var ph []string
		for _, v := range list(t, c, "phases") {
			ph = append(ph, fmt.Sprint(v["phase"]))
		}
		if strings.Join(ph, " ") != "menu ending" {
			t.Errorf("phases %v, want menu ending", ph)
		}

		one := getJSON(t, a, "/api/v1/calls/c1")
		if one["call_id"] != "c1" || one["outcome"] != "goodbye" {
			t.Errorf("GET /api/v1/calls/c1: %v", one)
		}
		if code, body := request(t, a, "GET", "/api/v1/calls/nope", ""); code != 404 || !strings.Contains(body, "no such call") {
			t.Errorf("unknown call: %d %s", code, body)
		}
	})
}

func TestAdmin_QueuesNotFoundWithoutQueues(t *testing.T) {
	t.Parallel()
	a := NewAdmin(newTestEngine(t))
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/v1/queues", ""},
		{"POST", "/api/v1/agents/alice/state", `{"state":"ready"}`},
		{"GET", "/api/v1/callbacks", ""},
		{"DELETE", "/api/v1/callbacks/1", ""},
		{"GET", "/api/v1/freezes", ""},
	} {
		if code, body := request(t, a, tc.method, tc.path, tc.body); code != 404 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s without queues, store or lane: %d %s, want 404 with an error", tc.method, tc.path, code, body)
		}
	}
}

// apiAgentState is an agent's state in a queue as GET /api/v1/queues shows it.
func apiAgentState(t *testing.T, a http.Handler, qname, agent string) string {
	t.Helper()
	for _, q := range list(t, getJSON(t, a, "/api/v1/queues"), "queues") {
		if q["name"] != qname {
			continue
		}
		for _, ag := range list(t, q, "agents") {
			if ag["id"] == agent {
				return fmt.Sprint(ag["state"])
			}
		}
	}
	t.Fatalf("no agent %s in queue %s", agent, qname)
	return ""
}

// Every queue is listed by name with snake_case counters; empty entries and agents are [],
// and a caller waiting on hold is an entry with their number.
func TestAdmin_QueuesSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		a := NewAdmin(e)
		enableTestQueues(t, e, nil, nil)
		synctest.Wait()
		code, body := request(t, a, "GET", "/api/v1/queues", "")
		if code != 200 {
			t.Fatalf("GET /api/v1/queues: %d %s", code, body)
		}
		var raw struct {
			Queues []map[string]json.RawMessage `json:"queues"`
		}
		must(t, json.Unmarshal([]byte(body), &raw))
		var names []string
		for _, q := range raw.Queues {
			names = append(names, strings.Trim(string(q["name"]), `"`))
			if string(q["entries"]) != "[]" || string(q["agents"]) != "[]" {
				t.Errorf("queue %s: entries %s agents %s, want [] and []", q["name"], q["entries"], q["agents"])
			}
			for _, k := range []string{"on_line", "callbacks", "logged_in", "staffed", "ready"} {
				if string(q[k]) != "0" {
					t.Errorf("queue %s: %s = %s, want 0", q["name"], k, q[k])
				}
			}
		}
		if strings.Join(names, " ") != "recovery support" {
			t.Errorf("queues %v, want recovery support", names)
		}

		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		p.m.press("4")
		time.Sleep(time.Second)
		synctest.Wait()
		for _, q := range list(t, getJSON(t, a, "/api/v1/queues"), "queues") {
			entries := list(t, q, "entries")
			if q["name"] != "support" {
				if len(entries) != 0 {
					t.Errorf("queue %s: %v", q["name"], entries)
				}
				continue
			}
			if q["on_line"] != 1.0 || len(entries) != 1 || entries[0]["caller_id"] != "+100" || entries[0]["on_line"] != true || entries[0]["position"] != 1.0 {
				t.Errorf("support with one caller on hold: on_line %v entries %v", q["on_line"], entries)
			}
		}
		p.leg.farHangup()
		synctest.Wait()
		p.ended(t)
	})
}

// POST /api/v1/agents/{id}/state: unknown agent 404, a state the queue sets itself or no
// state at all 422, a body that is not JSON 400; a registrar agent cannot be made ready
// before its phone registers (409), and can afterwards; a change applies in every queue
// the agent serves.
func TestAdmin_AgentState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		a := NewAdmin(e)
		bob := AgentConfig{ID: "bob", User: "bob", Queues: []string{"support"}}
		enableTestQueues(t, e, nil, nil, alice(), bob)
		synctest.Wait()
		post := func(agent, body string) (int, string) {
			return request(t, a, "POST", "/api/v1/agents/"+agent+"/state", body)
		}
		for _, tc := range []struct {
			name, agent, body string
			code              int
		}{
			{"unknown agent", "nobody", `{"state":"paused"}`, 404},
			{"unregistered phone", "bob", `{"state":"ready"}`, 409},
			{"state set by the queue", "alice", `{"state":"busy"}`, 422},
			{"no such state", "alice", `{"state":"sleepy"}`, 422},
			{"not JSON", "alice", `state=ready`, 400},
			{"no body", "alice", ``, 400},
		} {
			code, body := post(tc.agent, tc.body)
			if code != tc.code || !strings.Contains(body, `"error"`) {
				t.Errorf("%s: %d %s, want %d with an error", tc.name, code, body, tc.code)
			}
		}
		if _, body := post("bob", `{"state":"ready"}`); !strings.Contains(body, "not registered") {
			t.Errorf("409 body does not say why: %s", body)
		}
		if got := apiAgentState(t, a, "support", "bob"); got != "logged-out" {
			t.Errorf("bob after a refused change: %s, want logged-out", got)
		}

		e.AgentRegistered("bob", true)
		synctest.Wait()
		if got := apiAgentState(t, a, "support", "bob"); got != "ready" {
			t.Errorf("bob once registered: %s, want ready", got)
		}
		if code, body := post("bob", `{"state":"paused"}`); code != 200 || !strings.Contains(body, `"paused"`) {
			t.Errorf("pause bob: %d %s", code, body)
		}
		if got := apiAgentState(t, a, "support", "bob"); got != "paused" {
			t.Errorf("bob after pause: %s", got)
		}
		if code, body := post("bob", `{"state":"ready"}`); code != 200 {
			t.Errorf("ready bob once registered: %d %s", code, body)
		}
		if got := apiAgentState(t, a, "support", "bob"); got != "ready" {
			t.Errorf("bob after ready: %s", got)
		}

		if code, _ := post("alice", `{"state":"logged-out"}`); code != 200 {
			t.Errorf("log alice out: %d", code)
		}
		for _, qn := range []string{"support", "recovery"} {
			if got := apiAgentState(t, a, qn, "alice"); got != "logged-out" {
				t.Errorf("alice in %s: %s, want logged-out", qn, got)
			}
		}

		e.AgentRegistered("bob", false)
		synctest.Wait()
		if got := apiAgentState(t, a, "support", "bob"); got != "logged-out" {
			t.Errorf("bob once his phone is gone: %s, want logged-out", got)
		}
		if code, _ := post("bob", `{"state":"ready"}`); code != 409 {
			t.Errorf("ready bob after his phone unregistered: %d, want 409", code)
		}
	})
}

// Once the dispatcher stopped, the queue endpoints answer 503 rather than hang.
func TestAdmin_QueuesUnavailableAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		a := NewAdmin(e)
		q := enableTestQueues(t, e, nil, nil, alice())
		synctest.Wait()
		q.close()
		if code, body := request(t, a, "POST", "/api/v1/agents/alice/state", `{"state":"paused"}`); code != 503 || !strings.Contains(body, "stopped") {
			t.Errorf("agent state after stop: %d %s, want 503", code, body)
		}
		if code, body := request(t, a, "GET", "/api/v1/queues", ""); code != 503 || !strings.Contains(body, "stopped") {
			t.Errorf("queues after stop: %d %s, want 503", code, body)
		}
	})
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "x.db"))
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// Callbacks are listed with snake_case keys ([] when none); DELETE cancels one: 400 for an ID
// that is not a number, 404 for an unknown one, 200, then 409 once it is canceled.
func TestAdmin_Callbacks(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	a := NewAdmin(e)
	db := openStore(t)
	e.SetStore(db)
	_, body := request(t, a, "GET", "/api/v1/callbacks", "")
	if l := rawLists(t, body); l["callbacks"] != "[]" {
		t.Errorf("no callbacks: %s, want []", l["callbacks"])
	}
	now := time.Now()
	cb, err := db.AddCallback(context.Background(), store.NewCallback{Queue: "support", CallerNumber: "+300", CallerName: "Ann", NotBefore: now.Add(time.Minute)}, now)
	must(t, err)

	cbs := list(t, getJSON(t, a, "/api/v1/callbacks"), "callbacks")
	if len(cbs) != 1 {
		t.Fatalf("callbacks %v, want one", cbs)
	}
	c := cbs[0]
	if c["id"] != float64(cb.ID) || c["queue"] != "support" || c["caller_number"] != "+300" || c["caller_name"] != "Ann" || c["state"] != "pending" {
		t.Errorf("callback %v", c)
	}
	if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(c["next_attempt_at"])); err != nil || !at.Equal(now.Add(time.Minute).Truncate(time.Millisecond)) {
		t.Errorf("next_attempt_at %v (%v), want %v", c["next_attempt_at"], err, now.Add(time.Minute))
	}
	if n := len(list(t, getJSON(t, a, "/api/v1/callbacks?queue=billing"), "callbacks")); n != 0 {
		t.Errorf("callbacks of queue billing: %d, want 0", n)
	}

	del := func(id string) (int, string) { return request(t, a, "DELETE", "/api/v1/callbacks/"+id, "") }
	if code, _ := del("abc"); code != 400 {
		t.Errorf("DELETE a non-numeric id: %d, want 400", code)
	}
	if code, _ := del("999"); code != 404 {
		t.Errorf("DELETE an unknown id: %d, want 404", code)
	}
	if code, body := del(fmt.Sprint(cb.ID)); code != 200 || !strings.Contains(body, fmt.Sprintf(`"canceled": %d`, cb.ID)) {
		t.Errorf("DELETE: %d %s, want 200", code, body)
	}
	if code, _ := del(fmt.Sprint(cb.ID)); code != 409 {
		t.Errorf("second DELETE: %d, want 409", code)
	}
	if c := list(t, getJSON(t, a, "/api/v1/callbacks"), "callbacks")[0]; c["state"] != "canceled" {
		t.Errorf("after cancel: %v", c)
	}
}

// A stored callback holds its place in its queue; canceling it through the API takes it out.
func TestAdmin_CanceledCallbackLeavesItsQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		a := NewAdmin(e)
		db := openStore(t)
		now := time.Now()
		cb, err := db.AddCallback(context.Background(), store.NewCallback{Queue: "support", CallerNumber: "+300"}, now)
		must(t, err)
		e.SetStore(db)
		d, err := e.newDispatcher(map[string]QueueConfig{"support": testQueue()}, nil, AgentCodesConfig{}, newFakeDialer())
		must(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		must(t, d.start(ctx))
		t.Cleanup(func() {
			cancel()
			e.Close(time.Minute)
		})
		synctest.Wait()
		entries := func() []map[string]any {
			return list(t, list(t, getJSON(t, a, "/api/v1/queues"), "queues")[0], "entries")
		}
		if en := entries(); len(en) != 1 || en[0]["caller_id"] != "+300" || en[0]["callback"] != true || en[0]["on_line"] != false {
			t.Fatalf("support with a stored callback: %v", en)
		}
		if code, _ := request(t, a, "DELETE", fmt.Sprint("/api/v1/callbacks/", cb.ID), ""); code != 200 {
			t.Fatalf("cancel: %d", code)
		}
		synctest.Wait()
		if en := entries(); len(en) != 0 {
			t.Errorf("support after the cancel: %v, want no entry", en)
		}
	})
}

// GET /api/v1/freezes lists freezes and their audit trail ([] before any).
func TestAdmin_Freezes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		a := NewAdmin(e)
		enableTestFreeze(t, e, FreezeConfig{Enabled: true})
		_, body := request(t, a, "GET", "/api/v1/freezes", "")
		if l := rawLists(t, body); l["freezes"] != "[]" || l["audit"] != "[]" {
			t.Errorf("no freezes: %s, %s; want [] and []", l["freezes"], l["audit"])
		}
		p := dial(t.Context(), e, "c1", "+200")
		synctest.Wait()
		p.m.press("9")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		ref := p.rec(t, e).Freeze.Reference
		m := getJSON(t, a, "/api/v1/freezes")
		fr, au := list(t, m, "freezes"), list(t, m, "audit")
		if len(fr) != 1 || fr[0]["account"] != "A1" || fr[0]["reference"] != ref || fr[0]["caller_id"] != "+200" || fr[0]["call_id"] != "c1" {
			t.Errorf("freezes %v, want A1 with reference %s", fr, ref)
		}
		if len(au) != 1 || au[0]["outcome"] != "frozen" || au[0]["caller"] != "+200" || au[0]["account"] != "A1" {
			t.Errorf("audit %v", au)
		}
	})
}

// fakeSIPStats is a SIP server with two trunks and nothing refused.
type fakeSIPStats struct{ trunks []sip.TrunkState }

func (f fakeSIPStats) RefusedInvites() uint64     { return 0 }
func (f fakeSIPStats) EdgeStats() sip.EdgeStats   { return sip.EdgeStats{} }
func (f fakeSIPStats) AuthStats() sip.AuthStats   { return sip.AuthStats{} }
func (f fakeSIPStats) LimitStats() sip.LimitStats { return sip.LimitStats{} }
func (f fakeSIPStats) Trunks() []sip.TrunkState   { return f.trunks }

// GET /api/v1/trunks lists each trunk's registration and qualify state in snake_case ([]
// before the SIP server is wired), and /metrics has a gauge pair per trunk.
func TestAdmin_Trunks(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	a := NewAdmin(e)
	if code, body := request(t, a, "GET", "/api/v1/trunks", ""); code != 200 || rawLists(t, body)["trunks"] != "[]" {
		t.Errorf("/api/v1/trunks unwired: %d %s, want 200 with []", code, body)
	}
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e.ExportSIPStats(fakeSIPStats{trunks: []sip.TrunkState{
		{Name: "main", Register: true, Qualify: true, Registered: true, RegisteredUntil: until, Up: true, LastChecked: until},
		{Name: "backup", Qualify: true, LastError: "options: no answer within 5s", LastChecked: until},
	}})
	ts := list(t, getJSON(t, a, "/api/v1/trunks"), "trunks")
	if len(ts) != 2 {
		t.Fatalf("trunks = %v", ts)
	}
	if m := ts[0]; m["name"] != "main" || m["registered"] != true || m["up"] != true ||
		m["registered_until"] != "2030-01-02T03:04:05Z" || m["last_checked"] == nil || m["register"] != true {
		t.Errorf("main = %v", m)
	}
	if m := ts[1]; m["name"] != "backup" || m["up"] != false || m["registered"] != false ||
		m["last_error"] != "options: no answer within 5s" || m["registered_until"] != nil {
		t.Errorf("backup = %v", m)
	}
	_, metrics := request(t, a, "GET", "/metrics", "")
	for _, want := range []string{
		`hotline_trunk_up{trunk="main"} 1`, `hotline_trunk_up{trunk="backup"} 0`,
		`hotline_trunk_registered{trunk="main"} 1`, `hotline_trunk_registered{trunk="backup"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
