package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// corpusHeader reads the "# want: <substring>" line (and optional "# exit: N" and
// "# problems: N" lines) at the top of a broken config.
func corpusHeader(t *testing.T, path string) (want string, exit, problems int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exit, problems = exitInvalid, 1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "# ") {
			break
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "# "), ": ")
		switch k {
		case "want":
			want = v
		case "exit":
			exit, _ = strconv.Atoi(v)
		case "problems":
			problems, _ = strconv.Atoi(v)
		}
	}
	if want == "" {
		t.Fatalf("%s: no \"# want: <message>\" on its first line", path)
	}
	return want, exit, problems
}

// Every file in testdata/menus/broken is one distinct mistake; `hotline validate`
// must refuse each with its expected message, naming the file and the key path.
func TestValidate_BrokenCorpus(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../testdata/menus/broken/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("%d broken configs, want at least 25", len(files))
	}
	seen := map[string]string{}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			want, wantExit, wantProblems := corpusHeader(t, path)
			code, stdout, stderr := runValidate(t, path)
			if code != wantExit {
				t.Fatalf("exit %d, want %d; stdout %q; stderr:\n%s", code, wantExit, stdout, stderr)
			}
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
			if wantExit != exitInvalid {
				return
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != wantProblems {
				t.Errorf("%d problems, want %d:\n%s", len(lines), wantProblems, stderr)
			}
			for _, line := range lines {
				if !strings.HasPrefix(line, path+":") || !strings.Contains(line, "menus") {
					t.Errorf("problem without file or key path: %q", line)
				}
			}
		})
		want, _, _ := corpusHeader(t, path)
		if other, dup := seen[want]; dup {
			t.Errorf("%s and %s expect the same message %q", path, other, want)
		}
		seen[want] = path
	}
}

// The example configs stay valid.
func TestValidate_FeatureShowcaseIsValid(t *testing.T) {
	t.Parallel()
	if code, _, stderr := runValidate(t, featuresConfig); code != 0 {
		t.Errorf("%s: exit %d:\n%s", featuresConfig, code, stderr)
	}
}
