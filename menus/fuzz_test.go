package menus

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseMenu decodes fuzz input into a Config: one "key=value" per line, keys
// as viper flattens them ("nodes.main.options.1.action=goto",
// "nodes.ext.patterns.0.match=1[0-9]"), every field by its mapstructure tag.
// Lines "events=...", "at=RFC3339", "lang=..." and "enable=1" drive the
// machine: see FuzzParseMenu.
func parseMenu(data []byte) (c Config, h harness) {
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "events":
			h.events = v
		case "at":
			h.at, _ = time.Parse(time.RFC3339, v)
		case "lang":
			h.lang = v
		case "enable":
			h.enable = v == "1"
		default:
			setPath(reflect.ValueOf(&c).Elem(), strings.Split(k, "."), v)
		}
	}
	return c, h
}

type harness struct {
	events string
	at     time.Time
	lang   string
	enable bool
}

// setPath sets the field at path in v (addressable) to value, creating map
// entries and slice elements on the way.
func setPath(v reflect.Value, path []string, value string) bool {
	switch v.Kind() {
	case reflect.Struct:
		if len(path) == 0 {
			return false
		}
		for i := range v.NumField() {
			tag := strings.Split(v.Type().Field(i).Tag.Get("mapstructure"), ",")
			if tag[0] == "" && slices.Contains(tag[1:], "squash") {
				if setPath(v.Field(i), path, value) {
					return true
				}
				continue
			}
			if tag[0] == path[0] {
				return setPath(v.Field(i), path[1:], value)
			}
		}
		return false
	case reflect.Map:
		if len(path) == 0 {
			return false
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		key := reflect.ValueOf(path[0])
		elem := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(key); old.IsValid() {
			elem.Set(old)
		}
		ok := setPath(elem, path[1:], value)
		v.SetMapIndex(key, elem)
		return ok
	case reflect.Slice:
		if len(path) == 0 {
			return false
		}
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i > 16 {
			return false
		}
		for v.Len() <= i {
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		}
		return setPath(v.Index(i), path[1:], value)
	}
	if len(path) != 0 {
		return false
	}
	switch v.Interface().(type) {
	case string:
		v.SetString(value)
	case time.Duration:
		d, _ := time.ParseDuration(value)
		v.SetInt(int64(d))
	case int:
		n, _ := strconv.Atoi(value)
		v.SetInt(int64(n))
	case bool:
		v.SetBool(value == "true")
	default:
		return false
	}
	return true
}

// menuLines renders a Config in parseMenu's format, for seeds.
func menuLines(c Config) string {
	var lines []string
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		join := func(k string) string {
			if prefix == "" {
				return k
			}
			return prefix + "." + k
		}
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				tag := strings.Split(v.Type().Field(i).Tag.Get("mapstructure"), ",")
				if tag[0] == "" {
					walk(prefix, v.Field(i))
				} else {
					walk(join(tag[0]), v.Field(i))
				}
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(join(k.String()), v.MapIndex(k))
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(join(strconv.Itoa(i)), v.Index(i))
			}
		default:
			if !v.IsZero() {
				lines = append(lines, fmt.Sprintf("%s=%v", prefix, v.Interface()))
			}
		}
	}
	walk("", reflect.ValueOf(c))
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func TestParseMenu_RoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{demoConfig(), featureConfig(), enabledConfig()} {
		got, _ := parseMenu([]byte(menuLines(c)))
		if menuLines(got) != menuLines(c) {
			t.Errorf("round trip differs:\n%s\nwant\n%s", menuLines(got), menuLines(c))
		}
	}
}

func FuzzParseMenu(f *testing.F) {
	demo := menuLines(demoConfig())
	features := menuLines(featureConfig())
	enabled := menuLines(enabledConfig()) + "enable=1\n"
	f.Add([]byte(demo + "events=S1P1P*P2x9"))
	f.Add([]byte(demo + "events=SPTPTPTPT"))
	f.Add([]byte(demo + "max_retries=-1\nnodes.main.options.a.action=jump\nevents=S"))
	f.Add([]byte("nodes.main.prompt=p\nprompts.p.file=p.wav\nevents=SP#T"))
	f.Add([]byte("root=x\nnodes..prompt=\nprompts..file=\n"))
	f.Add([]byte(""))
	f.Add([]byte(features + "at=2026-11-23T10:00:00+08:00\nevents=S3P*7*1100P2P23PT*"))
	f.Add([]byte(features + "lang=zh-CN\nevents=S21234#P3P1P*4P*"))
	f.Add([]byte(features + "at=2026-11-23T12:30:00+08:00\nevents=S7P0P15I1#PT9"))
	f.Add([]byte(features + "events=S2PT12I1234567P2PT8P4242P9"))
	f.Add([]byte(enabled + "events=S1157"))
	f.Add([]byte(enabled + "events=S2P4321*1*1P20"))
	f.Add([]byte(enabled + "events=S1#"))
	f.Add([]byte(features + "nodes.ext.patterns.3.match=1[0-9\nschedules.office.hours.mon.0=25:00-26:00\nglobal_keys.#.action=freeze\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, h := parseMenu(data)
		opts := CompileOptions{}
		if h.enable {
			opts = enableAll
		}
		verr := c.ValidateWith(opts)
		ps := problems(verr)
		for _, p := range ps {
			if p.Path == "" || (p.Path != "menus" && !strings.HasPrefix(p.Path, "menus.")) {
				t.Fatalf("problem path %q does not start with menus: %v", p.Path, p)
			}
			if p.Msg == "" {
				t.Fatalf("problem %q has no message", p.Path)
			}
		}
		if !slices.IsSortedFunc(ps, func(a, b *Problem) int { return strings.Compare(a.Path, b.Path) }) {
			t.Fatalf("problems not sorted by path: %v", verr)
		}
		tr, err := CompileWith(c, opts)
		if (err == nil) != (verr == nil) {
			t.Fatalf("Compile error %v, Validate error %v", err, verr)
		}
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Compile error %v holds no *Problem", err)
			}
			return
		}
		if len(tr.Version()) != 12 {
			t.Fatalf("Version() = %q", tr.Version())
		}
		_ = tr.Graph()
		runMachine(t, tr, h)
	})
}

// runMachine plays the harness's events, delivering them as ivr would
// (PlaybackDone only while playing, TimerFired only for the armed timer) or
// not, and checks the machine keeps its contract with the caller.
func runMachine(t *testing.T, tr *Tree, h harness) {
	m := NewMachine(tr)
	var (
		ended, playing bool
		armed          TimerID
	)
	for i := range len(h.events) {
		var ev Event
		switch e := h.events[i]; e {
		case 'S':
			ev = Started{At: h.at, Language: h.lang}
		case 'P':
			ev = PlaybackDone{}
		case 'T':
			ev = TimerFired{ID: TimerDigit}
		case 'I':
			ev = TimerFired{ID: TimerInterDigit}
		default:
			ev = Digit{Key: e}
		}
		expectNil := ended ||
			(isPlaybackDone(ev) && !playing) ||
			(isTimer(ev) && ev.(TimerFired).ID != armed)
		acts := m.Step(ev)
		if expectNil && acts != nil {
			t.Fatalf("event %d Step(%v) = %v, want it ignored (ended %v, playing %v, armed %q)", i, ev, acts, ended, playing, armed)
		}
		if acts == nil {
			continue
		}
		switch ev.(type) {
		case PlaybackDone:
			playing = false
		case TimerFired:
			armed = ""
		}
		for _, a := range acts {
			switch a := a.(type) {
			case Hangup, Enqueue, Freeze, Transfer:
				ended = true
			case Play:
				playing = true
				for _, id := range a.Prompts {
					if _, ok := tr.Prompt(id); !ok {
						t.Fatalf("Play of unknown prompt %q", id)
					}
				}
			case StopPlayback:
				if !playing {
					t.Fatalf("StopPlayback while nothing plays: %v", acts)
				}
				playing = false
			case StartTimer:
				if armed != "" {
					t.Fatalf("StartTimer(%s) while %s is armed: %v", a.ID, armed, acts)
				}
				if playing {
					t.Fatalf("StartTimer(%s) while a prompt plays: %v", a.ID, acts)
				}
				armed = a.ID
			case StopTimer:
				if armed != a.ID {
					t.Fatalf("StopTimer(%s) while %q is armed: %v", a.ID, armed, acts)
				}
				armed = ""
			}
		}
		if n := m.Node(); n != "" {
			if _, ok := tr.nodes[n]; !ok {
				t.Fatalf("Node() = %q, not in tree", n)
			}
		}
		if !ended && !playing && armed == "" && m.st != stateNew {
			t.Fatalf("after %v: nothing plays and no timer is armed: the call would hang", acts)
		}
	}
}

func isPlaybackDone(ev Event) bool { _, ok := ev.(PlaybackDone); return ok }
func isTimer(ev Event) bool        { _, ok := ev.(TimerFired); return ok }
