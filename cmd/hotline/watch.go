package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce is how long the config files must stay quiet before a reload: editors
// write in several steps (truncate, write, rename, chmod) and the first events can see an
// empty or half-written file (TELEPHONY.md, viper hot reload).
const reloadDebounce = 300 * time.Millisecond

// watchConfig calls reload when any of files changes. It watches their directories, not the
// files, so that it survives saves in place, saves by rename and delete-then-recreate.
func watchConfig(ctx context.Context, log *slog.Logger, files []string, reload func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	names := make(map[string]bool)
	dirs := make(map[string]bool)
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			w.Close()
			return err
		}
		names[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return err
		}
	}
	go func() {
		defer w.Close()
		var fire <-chan time.Time
		var t *time.Timer
		for {
			select {
			case <-ctx.Done():
				if t != nil {
					t.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if !names[filepath.Clean(ev.Name)] || ev.Op == fsnotify.Chmod {
					continue
				}
				if t == nil {
					t = time.NewTimer(reloadDebounce)
				} else {
					t.Reset(reloadDebounce)
				}
				fire = t.C
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("config watch", "err", err)
			case <-fire:
				fire = nil
				reload()
			}
		}
	}()
	return nil
}
