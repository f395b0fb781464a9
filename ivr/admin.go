package ivr

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotline-ivr/hotline/queue/store"
)

// Admin serves the admin HTTP API: /healthz, /readyz, /metrics and /api/v1/calls.
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
	if live == nil {
		live = []*CallRecord{}
	}
	writeJSON(w, http.StatusOK, CallsResponse{Live: live, Finished: finished})
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
	writeJSON(w, http.StatusOK, FreezesResponse{Freezes: fr, Audit: audit})
}
