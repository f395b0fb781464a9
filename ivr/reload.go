package ivr

import (
	"crypto/sha256"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hotline-ivr/hotline/media"
)

// audioDigest is a digest of every prompt's name and audio, computed once per menu.
func (m *Menu) audioDigest() [sha256.Size]byte {
	m.digest.once.Do(func() {
		h := sha256.New()
		for _, name := range slices.Sorted(maps.Keys(m.Prompts)) {
			h.Write([]byte(name))
			h.Write([]byte{0})
			for _, f := range m.Prompts[name].Frames(media.PCMU) {
				h.Write(f)
			}
		}
		copy(m.digest.sum[:], h.Sum(nil))
	})
	return m.digest.sum
}

// MenuStatus is what GET /api/v1/menu shows: the menu new calls get, and how the last
// reload went.
type MenuStatus struct {
	Version  string       `json:"version"`
	LoadedAt time.Time    `json:"loaded_at"`
	Last     *ReloadEvent `json:"last_reload,omitempty"`
}

// ReloadEvent is one reload attempt.
type ReloadEvent struct {
	At      time.Time `json:"at"`
	Trigger string    `json:"trigger"` // file, signal, api
	OK      bool      `json:"ok"`
	Version string    `json:"version,omitempty"`
	// Problems lists why the new config was refused, one line each.
	Problems []string `json:"problems,omitempty"`
}

// reloader serialises reloads and remembers the last one.
type reloader struct {
	mu       sync.Mutex
	load     func() (*Menu, error)
	loadedAt time.Time
	last     *ReloadEvent
}

// SetLoader sets how Reload builds a fresh menu (cmd reads the config file).
func (e *Engine) SetLoader(load func() (*Menu, error)) {
	e.reload.mu.Lock()
	e.reload.load = load
	e.reload.mu.Unlock()
}

// Reload builds a fresh menu, validated and compiled as a whole, and swaps it in for new
// calls; calls in progress keep the menu they started with. On any problem the running
// menu stays and the problems are kept for the admin API. splitLines turns the loader's
// error into one line per problem.
func (e *Engine) Reload(trigger string, splitLines func(error) []string) (*ReloadEvent, error) {
	r := &e.reload
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := &ReloadEvent{At: e.now(), Trigger: trigger}
	r.last = ev
	if r.load == nil {
		ev.Problems = []string{"no config file to reload (running the embedded default)"}
		e.metrics.reloads.WithLabelValues("refused").Inc()
		return ev, errNoLoader
	}
	menu, err := r.load()
	if err != nil {
		ev.Problems = splitLines(err)
		e.metrics.reloads.WithLabelValues("refused").Inc()
		return ev, err
	}
	ev.OK, ev.Version = true, menu.Tree.Version()
	// A re-recorded prompt changes the audio, not the config: compare both.
	if cur := e.menu.Load(); menu.Tree.Version() != cur.Tree.Version() || menu.audioDigest() != cur.audioDigest() {
		e.menu.Store(menu)
		r.loadedAt = ev.At
	}
	e.metrics.reloads.WithLabelValues("ok").Inc()
	return ev, nil
}

// MenuStatus returns the current menu's version and the last reload attempt.
func (e *Engine) MenuStatus() MenuStatus {
	e.reload.mu.Lock()
	defer e.reload.mu.Unlock()
	st := MenuStatus{Version: e.MenuVersion(), LoadedAt: e.reload.loadedAt}
	if e.reload.last != nil {
		l := *e.reload.last
		st.Last = &l
	}
	return st
}
