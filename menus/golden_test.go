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

// featureScenarios are calls through featureConfig, time and language as
// data.
var featureScenarios = []struct {
	name   string
	events []Event
}{
	{"weekday morning: route open, back, extension 100", []Event{
		Started{At: monMorning}, PlaybackDone{}, Digit{'3'}, PlaybackDone{}, Digit{'*'}, Digit{'1'},
		PlaybackDone{}, Digit{'1'}, Digit{'0'}, Digit{'0'}, Digit{'*'}, Digit{'9'},
	}},
	{"lunch break: routing node closed, announcement hangs up", []Event{
		Started{At: monLunch}, Digit{'7'}, PlaybackDone{},
	}},
	{"holiday in Chinese: account number read back and corrected", []Event{
		Started{At: holiday, Language: "zh-CN"}, Digit{'2'}, PlaybackDone{}, Digit{'1'}, Digit{'2'},
		TimerFired{TimerInterDigit}, PlaybackDone{}, Digit{'1'}, Digit{'1'}, Digit{'1'}, Digit{'1'}, Digit{'#'},
		PlaybackDone{}, Digit{'3'}, Digit{'2'}, Digit{'5'}, Digit{'5'}, Digit{'5'}, Digit{'5'}, Digit{'5'},
		Digit{'5'}, Digit{'1'}, PlaybackDone{}, TimerFired{TimerDigit}, PlaybackDone{}, TimerFired{TimerDigit},
	}},
	{"extension typing: timeout, terminator, global key", []Event{
		Started{}, Digit{'1'}, Digit{'1'}, Digit{'5'}, TimerFired{TimerInterDigit}, Digit{'1'}, Digit{'#'},
		Digit{'2'}, Digit{'0'}, Digit{'0'}, Digit{'4'}, Digit{'*'}, Digit{'0'}, Digit{'4'}, Digit{'6'}, Digit{'8'},
		Digit{'1'}, Digit{'2'}, Digit{'3'}, Digit{'4'},
	}},
	{"wrong keys: operator after too many, then exit prompt", []Event{
		Started{}, Digit{'*'}, Digit{'#'}, Digit{'*'}, PlaybackDone{}, TimerFired{TimerDigit}, PlaybackDone{},
		TimerFired{TimerDigit}, PlaybackDone{}, TimerFired{TimerDigit}, PlaybackDone{}, TimerFired{TimerDigit},
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
	transcript(&b, tr, goldenScenarios)
	golden(t, "menus_basic.txt", b.Bytes())
}

func TestMachine_GoldenFeatures(t *testing.T) {
	t.Parallel()
	tr, err := Compile(featureConfig())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# menus golden transcript of featureConfig (go test ./menus -update rewrites it)\n")
	fmt.Fprintf(&b, "# tree version %s; > event in, < action out\n", tr.Version())
	transcript(&b, tr, featureScenarios)
	golden(t, "menus_features.txt", b.Bytes())
}

func transcript(b *bytes.Buffer, tr *Tree, scenarios []struct {
	name   string
	events []Event
}) {
	for _, sc := range scenarios {
		fmt.Fprintf(b, "\n== %s\n", sc.name)
		m := NewMachine(tr)
		for _, ev := range sc.events {
			fmt.Fprintf(b, "> %v\n", ev)
			for _, a := range m.Step(ev) {
				fmt.Fprintf(b, "  < %v\n", a)
			}
		}
		fmt.Fprintf(b, "= node %s\n", m.Node())
	}
}

// golden compares got with testdata/golden/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./menus -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("transcript differs from %s (run go test ./menus -update and review the diff):\n%s", path, got)
	}
}
