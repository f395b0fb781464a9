package ivr

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

// Admin serves the admin HTTP API: /healthz, /readyz, /metrics and /api/v1/calls. It
// checks nothing itself: a listener serves it behind NewGuard (adminguard.go), which holds
// the bearer token, Host, Origin and Content-Type checks.
type Admin struct {
	e     *Engine
	ready atomic.Bool
	mux   *http.ServeMux
	split func(error) []string
}

// NewAdmin returns the admin API of e. It reports not ready until SetReady(true).
func NewAdmin(e *Engine) *Admin {
	a := &Admin{e: e, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(e.metrics.reg, promhttp.HandlerOpts{}))
	a.mux.HandleFunc("GET /api/v1/calls", a.calls)
	a.mux.HandleFunc("GET /api/v1/calls/{id}", a.call)
	a.mux.HandleFunc("GET /api/v1/menu", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, e.MenuStatus())
	})
	a.mux.HandleFunc("POST /api/v1/reload", a.reloadNow)
	a.mux.HandleFunc("GET /api/v1/freezes", a.freezes)
	a.mux.HandleFunc("GET /api/v1/queues", a.queues)
	a.mux.HandleFunc("POST /api/v1/agents/{id}/state", a.agentState)
	a.mux.HandleFunc("GET /api/v1/callbacks", a.callbacks)
	a.mux.HandleFunc("DELETE /api/v1/callbacks/{id}", a.cancelCallback)
	a.mux.HandleFunc("GET /api/v1/trunks", a.trunks)
	if e.cfg.Admin.Pprof {
		a.mux.HandleFunc("/debug/pprof/", pprof.Index)
		a.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		a.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		a.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return a
}

// SetProblemFormatter sets how a reload error becomes one line per problem for the API; cmd sets
// the formatter `hotline validate` uses.
func (a *Admin) SetProblemFormatter(f func(error) []string) { a.split = f }

func (a *Admin) reloadNow(w http.ResponseWriter, _ *http.Request) {
	split := a.split
	if split == nil {
		split = func(err error) []string { return []string{err.Error()} }
	}
	ev, err := a.e.Reload("api", split)
	code := http.StatusOK
	if err != nil {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, ev)
}

// SetReady marks the server ready (SIP listening, menu loaded) or not.
func (a *Admin) SetReady(ok bool) { a.ready.Store(ok) }

// ServeHTTP serves the routes unguarded, for in-process callers; see NewGuard.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *Admin) readyz(w http.ResponseWriter, _ *http.Request) {
	if !a.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// CallsResponse is the body of GET /api/v1/calls.
type CallsResponse struct {
	Live     []*CallRecord `json:"live"`
	Finished []*CallRecord `json:"finished"`
}

func (a *Admin) calls(w http.ResponseWriter, _ *http.Request) {
	live, finished := a.e.records.snapshot()
	writeJSON(w, http.StatusOK, CallsResponse{Live: nonNil(live), Finished: nonNil(finished)})
}

func (a *Admin) call(w http.ResponseWriter, r *http.Request) {
	rec := a.e.records.find(r.PathValue("id"))
	if rec == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such call"})
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// FreezesResponse is the body of GET /api/v1/freezes.
type FreezesResponse struct {
	Freezes []store.Freeze      `json:"freezes"`
	Audit   []store.AuditRecord `json:"audit"`
}

func (a *Admin) freezes(w http.ResponseWriter, r *http.Request) {
	f := a.e.freeze
	if f == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "the freeze lane is off (freeze.enabled)"})
		return
	}
	fr, err := f.lane.Store.ListFreezes(r.Context(), 1000)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	audit, err := f.lane.Store.ListAudit(r.Context(), store.AuditFilter{Kind: "freeze", Limit: 1000})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, FreezesResponse{Freezes: nonNil(fr), Audit: nonNil(audit)})
}

func (a *Admin) queues(w http.ResponseWriter, _ *http.Request) {
	if a.e.dispatch == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no queues configured"})
		return
	}
	qs, err := a.e.dispatch.snapshot()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	for i := range qs { // [] not null, for every list
		qs[i].Entries = nonNil(qs[i].Entries)
		qs[i].Agents = nonNil(qs[i].Agents)
	}
	writeJSON(w, http.StatusOK, map[string]any{"queues": qs})
}

// trunks lists the SIP trunks with their registration and qualify state:
// {"trunks": [...]}; [] when none is configured or the SIP server is not wired.
func (a *Admin) trunks(w http.ResponseWriter, _ *http.Request) {
	var ts []sip.TrunkState
	if a.e.sipStats != nil {
		ts = a.e.sipStats.Trunks()
	}
	writeJSON(w, http.StatusOK, map[string]any{"trunks": nonNil(ts)})
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// agentState sets an agent's state in every queue it serves: {"state": "ready" | "paused" | "logged-out"}.
func (a *Admin) agentState(w http.ResponseWriter, r *http.Request) {
	var body struct {
		State string `json:"state"`
	}
	if a.e.dispatch == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no queues configured"})
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"state\": \"ready|paused|logged-out\"}"})
		return
	}
	afterCall, err := a.e.dispatch.setAgentState(r.PathValue("id"), body.State)
	if err != nil {
		code := http.StatusUnprocessableEntity
		switch {
		case errors.Is(err, errUnknownAgent):
			code = http.StatusNotFound
		case errors.Is(err, errNotReachable):
			code = http.StatusConflict
		case errors.Is(err, errStopped):
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]string{"error": err.Error()})
		return
	}
	if afterCall { // on a call: taken when it ends
		writeJSON(w, http.StatusAccepted, map[string]any{"agent": r.PathValue("id"), "state": body.State, "after_call": true})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"agent": r.PathValue("id"), "state": body.State})
}

func (a *Admin) callbacks(w http.ResponseWriter, r *http.Request) {
	if a.e.store == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no store (no queues configured)"})
		return
	}
	cbs, err := a.e.store.ListCallbacks(r.Context(), store.CallbackFilter{Queue: r.URL.Query().Get("queue"), Limit: 1000})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"callbacks": nonNil(cbs)})
}

func (a *Admin) cancelCallback(w http.ResponseWriter, r *http.Request) {
	if a.e.store == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no store (no queues configured)"})
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "callback ids are numbers"})
		return
	}
	if d := a.e.dispatch; d != nil {
		if err := d.beginCancel(id); err != nil {
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
	}
	err = a.e.store.CancelCallback(r.Context(), id, a.e.now())
	if d := a.e.dispatch; d != nil {
		d.endCancel(id, err == nil)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, store.ErrFinished):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"canceled": id})
	}
}
