package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A problem line is "key.path: message". problemLines splits an error (possibly an
// errors.Join tree) into such lines.
func problemLines(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		for _, line := range strings.Split(e.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// keyPathRE matches a leading config key path such as menus.nodes.main.options.1.target.
var keyPathRE = regexp.MustCompile(`^([A-Za-z0-9_*#.-]+): `)

// unknownKeysRE matches mapstructure's report of keys that fit no field.
var unknownKeysRE = regexp.MustCompile(`^'([^']*)' has invalid keys: (.*)$`)

// unknownKeyProblems rewrites mapstructure's "'menus' has invalid keys: a, b" into one
// problem per key, each with its full key path.
func unknownKeyProblems(prefix string, err error) []error {
	var out []error
	for _, line := range problemLines(err) {
		line = strings.TrimPrefix(line, "decoding failed due to the following error(s):")
		if line == "" {
			continue
		}
		m := unknownKeysRE.FindStringSubmatch(line)
		if m == nil {
			if prefix != "" {
				line = prefix + "." + line
			}
			out = append(out, errors.New(line))
			continue
		}
		for _, k := range strings.Split(m[2], ",") {
			path := strings.Trim(strings.Join([]string{prefix, m[1], strings.TrimSpace(k)}, "."), ".")
			out = append(out, fmt.Errorf("%s: unknown key (misspelt?)", strings.ReplaceAll(path, "..", ".")))
		}
	}
	return out
}

// locator finds where a key path sits in a YAML file, for line:column in problem reports.
type locator struct {
	root *yaml.Node
	// sub maps a key prefix ("menus") to a separate file's locator, when menus is a file.
	sub  map[string]*locator
	file string
}

func newLocator(path string) *locator {
	l := &locator{file: path}
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".yaml" && ext != ".yml" {
		return l
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return l
	}
	var n yaml.Node
	if yaml.Unmarshal(data, &n) == nil && len(n.Content) == 1 {
		l.root = n.Content[0]
	}
	return l
}

// find returns the file, line and column of the deepest node along path.
func (l *locator) find(path string) (file string, line, col int) {
	segs := strings.Split(path, ".")
	if s, ok := l.sub[segs[0]]; ok {
		return s.findIn(segs[1:])
	}
	return l.findIn(segs)
}

func (l *locator) findIn(segs []string) (string, int, int) {
	n := l.root
	if n == nil {
		return l.file, 0, 0
	}
	line, col := 0, 0
	for _, seg := range segs {
		if n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if strings.EqualFold(n.Content[i].Value, seg) {
				line, col = n.Content[i].Line, n.Content[i].Column
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return l.file, line, col
}

// format renders one problem line as "FILE:LINE:COL: key.path: message" (LINE:COL when known).
func (l *locator) format(line string) string {
	m := keyPathRE.FindStringSubmatch(line)
	if m == nil {
		return l.file + ": " + line
	}
	file, ln, col := l.find(m[1])
	if ln == 0 {
		return file + ": " + line
	}
	return fmt.Sprintf("%s:%d:%d: %s", file, ln, col, line)
}
