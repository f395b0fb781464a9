package menus

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

// goldenScenarios are calls through the demo tree, as events in.
var goldenScenarios = []struct {
	name   string
	events []Event
}{
	{"billing then hours then back", []Event{
		Started{}, Digit{'1'}, PlaybackDone{}, Digit{'1'}, PlaybackDone{}, Digit{'*'}, PlaybackDone{},
		Digit{'9'},
	}},
	{"silent caller", []Event{
		Started{}, PlaybackDone{}, TimerFired{TimerDigit}, PlaybackDone{}, TimerFired{TimerDigit},
		PlaybackDone{}, TimerFired{TimerDigit}, Digit{'1'},
	}},
	{"wrong keys then support", []Event{
		Started{}, Digit{'7'}, PlaybackDone{}, Digit{'3'}, TimerFired{TimerDigit}, PlaybackDone{},
		Digit{'#'}, Digit{'0'},
	}},
}

func TestMachine_Golden(t *testing.T) {
	t.Parallel()
	tr, err := Compile(demoConfig())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# menus golden transcript (go test ./menus -update rewrites it)\n")
	fmt.Fprintf(&b, "# tree version %s; > event in, < action out\n", tr.Version())
	for _, sc := range goldenScenarios {
		fmt.Fprintf(&b, "\n== %s\n", sc.name)
		m := NewMachine(tr)
		for _, ev := range sc.events {
			fmt.Fprintf(&b, "> %v\n", ev)
			for _, a := range m.Step(ev) {
				fmt.Fprintf(&b, "  < %v\n", a)
			}
		}
		fmt.Fprintf(&b, "= node %s\n", m.Node())
	}

	path := filepath.Join("..", "testdata", "golden", "menus_basic.txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./menus -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("transcript differs from %s (run go test ./menus -update and review the diff):\n%s", path, b.String())
	}
}
