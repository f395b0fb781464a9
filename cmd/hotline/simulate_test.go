package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

const (
	demoConfig     = "defaults/hotline.yaml"
	featuresConfig = "../../testdata/menus/features.yaml"
)

// goldenFile compares got with testdata/golden/name; -update rewrites it.
func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/hotline -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test ./cmd/hotline -update and review the diff):\n%s", path, got)
	}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	t.Fatalf("unexpected error: %v", err)
	return -1
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The golden transcripts keep the demo tree's behaviour (and the feature showcase's)
// fixed: a change to either file or to menus that alters what a caller hears shows up
// as a diff here.
var simulateScenarios = []struct {
	golden string
	config string
	keys   string
	lang   string
	at     string
}{
	{"simulate_demo_walk.txt", demoConfig, "1,1,1,2,*,2,*,2,1,1,2,*,*,3,1,2,*,0", "", "2026-11-21T10:00:00+08:00"},
	{"simulate_demo_silent.txt", demoConfig, "t,t,t,t", "", "2026-11-21T10:00:00+08:00"},
	{"simulate_demo_bargein_retries.txt", demoConfig, "!8 !7 5 t 1", "", "2026-11-21T10:00:00+08:00"},
	{"simulate_demo_agent.txt", demoConfig, "4", "", "2026-11-21T10:00:00+08:00"},
	{"simulate_demo_freeze_key.txt", demoConfig, "1,!9", "", "2026-11-21T10:00:00+08:00"},
	{"simulate_features_open.txt", featuresConfig, "8,!2,1234#,1,*,3,!150,100,9", "", "2026-11-23T10:00:00+08:00"},
	{"simulate_features_closed.txt", featuresConfig, "", "", "2026-11-23T12:30:00+08:00"},
	{"simulate_features_zh_limits.txt", featuresConfig, "2,12#,98765432,2,4321#,1,!0,3,12,t,*,*,*,*,t,t,t,t", "zh-CN", "2026-11-21T13:00:00+08:00"},
}

func TestSimulate_Golden(t *testing.T) {
	t.Parallel()
	for _, sc := range simulateScenarios {
		t.Run(sc.golden, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			o := simOptions{keys: sc.keys, keysSet: true, lang: sc.lang, at: mustTime(sc.at)}
			if err := simulate(&out, &errb, strings.NewReader(""), sc.config, o); err != nil {
				t.Fatalf("simulate: %v\n%s", err, errb.String())
			}
			goldenFile(t, sc.golden, out.Bytes())
		})
	}
}

// Keys from stdin, one step per line, give the same transcript as --keys.
func TestSimulate_StdinMatchesKeys(t *testing.T) {
	t.Parallel()
	sc := simulateScenarios[0]
	at := mustTime(sc.at)
	var a, b, errb bytes.Buffer
	if err := simulate(&a, &errb, nil, sc.config, simOptions{keys: sc.keys, keysSet: true, at: at}); err != nil {
		t.Fatal(err)
	}
	stdin := strings.NewReader(strings.ReplaceAll(sc.keys, ",", "\n") + "\n\n")
	if err := simulate(&b, &errb, stdin, sc.config, simOptions{at: at}); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("stdin transcript differs from --keys:\n%s\nvs\n%s", b.String(), a.String())
	}
}

func TestSimulate_Errors(t *testing.T) {
	t.Parallel()
	at := mustTime("2026-11-21T10:00:00+08:00")
	var out, errb bytes.Buffer
	err := simulate(&out, &errb, nil, demoConfig, simOptions{keys: "1,x", keysSet: true, at: at})
	if err == nil || !strings.Contains(err.Error(), `bad token "x"`) {
		t.Errorf("bad token: %v", err)
	}

	errb.Reset()
	broken := "../../testdata/menus/broken/unknown_target.yaml"
	if code := exitCode(t, simulate(&out, &errb, nil, broken, simOptions{keysSet: true, at: at})); code != exitInvalid {
		t.Errorf("broken menus: exit %d, want %d", code, exitInvalid)
	}
	if !strings.Contains(errb.String(), broken+":") || !strings.Contains(errb.String(), `unknown node "nowhere"`) {
		t.Errorf("broken menus: stderr %q", errb.String())
	}

	errb.Reset()
	if code := exitCode(t, simulate(&out, &errb, nil, "no-such-file.yaml", simOptions{keysSet: true, at: at})); code != exitUnusable {
		t.Errorf("missing file: exit %d, want %d", code, exitUnusable)
	}

	// An action whose subsystem the config does not enable can be previewed with --enable.
	var o2 bytes.Buffer
	enq := "../../testdata/menus/broken/enqueue_without_queues.yaml"
	if code := exitCode(t, simulate(&o2, &errb, nil, enq, simOptions{keys: "8", keysSet: true, at: at})); code != exitInvalid {
		t.Errorf("enqueue without --enable: exit %d", code)
	}
	if err := simulate(&o2, &errb, nil, enq, simOptions{keys: "8", keysSet: true, at: at, enable: []string{"enqueue"}}); err != nil {
		t.Fatalf("enqueue with --enable: %v", err)
	}
	if !strings.Contains(o2.String(), "enqueue to sales, priority 5") {
		t.Errorf("enqueue transcript:\n%s", o2.String())
	}
}

// The embedded default is the demo tree: with no FILE, simulate walks it.
func TestSimulate_EmbeddedDefault(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	o := simOptions{keys: "0", keysSet: true, at: mustTime("2026-11-21T10:00:00+08:00")}
	if err := simulate(&out, &errb, nil, "", o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "(embedded default)") || !strings.Contains(out.String(), "= call over at node main: hang up (caller_choice)") {
		t.Errorf("transcript:\n%s", out.String())
	}
}
