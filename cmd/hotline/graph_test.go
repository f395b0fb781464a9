package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestGraph_Golden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ golden, config, format string }{
		{"graph_demo.mmd", demoConfig, "mermaid"},
		{"graph_demo.dot", demoConfig, "dot"},
		{"graph_features.mmd", featuresConfig, "mermaid"},
		{"graph_features.dot", featuresConfig, "dot"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			if err := graph(&out, &errb, tc.config, tc.format, nil); err != nil {
				t.Fatalf("graph: %v\n%s", err, errb.String())
			}
			goldenFile(t, tc.golden, out.Bytes())
		})
	}
}

func TestGraph_SVG(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	err := graph(&out, &errb, demoConfig, "svg", nil)
	if _, lookErr := exec.LookPath("dot"); lookErr != nil {
		if !errors.Is(err, errNoDot) {
			t.Fatalf("without dot on PATH: %v, want errNoDot", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "<svg") {
		t.Errorf("no <svg in output:\n%.300s", out.String())
	}
}

func TestGraph_Errors(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if err := graph(&out, &errb, demoConfig, "png", nil); err == nil || !strings.Contains(err.Error(), `unknown --format "png"`) {
		t.Errorf("bad format: %v", err)
	}
	broken := "../../testdata/menus/broken/cycle_no_exit.yaml"
	if code := exitCode(t, graph(&out, &errb, broken, "dot", nil)); code != exitInvalid {
		t.Errorf("broken menus: exit %d, want %d", code, exitInvalid)
	}
}

func TestMermaidText(t *testing.T) {
	t.Parallel()
	if got, want := mermaidText(`say "#1" <now> & go`), "say #quot;#35;1#quot; #60;now#62; & go"; got != want {
		t.Errorf("mermaidText = %q, want %q", got, want)
	}
	if got, want := dotQuote("a \"b\"\\\nc"), `"a \"b\"\\\nc"`; got != want {
		t.Errorf("dotQuote = %s, want %s", got, want)
	}
}
