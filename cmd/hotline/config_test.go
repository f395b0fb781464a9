package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runValidate(t *testing.T, path string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := validate(&out, &errb, path)
	var ee exitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &ee):
		code = ee.code
	default:
		t.Fatalf("validate: %v", err)
	}
	return code, out.String(), errb.String()
}

func TestValidate_ShippedConfigsAreValid(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"defaults/hotline.yaml", e2eConfig} {
		if code, _, stderr := runValidate(t, path); code != 0 {
			t.Errorf("%s: exit %d:\n%s", path, code, stderr)
		}
	}
}

// Every problem in a broken file is reported at once, one line each, with file, line,
// column and key path; exit status 1.
func TestValidate_ReportsEveryProblemWithPosition(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prompts, _ := filepath.Abs("../../testdata/prompts")
	cfg := `sip:
  listen: 127.0.0.1:0
media:
  rtp_port_min: 0
  rtp_port_max: 0
  codecs: [PCMU, G729]
menus:
  root: main
  digit_timout: 3s
  prompts:
    main: {file: ` + prompts + `/main.wav}
    gone: {file: ` + prompts + `/gone.wav}
  nodes:
    main:
      prompt: main
      options:
        "1": {action: goto, target: nowhere}
        "x": {action: hangup}
`
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runValidate(t, path)
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitInvalid, stderr)
	}
	for _, want := range []string{
		path + ":9:3: menus.digit_timout: unknown key",
		path + ":6:3: media.codecs.1: \"G729\" is not supported",
		path + ":17:29: menus.nodes.main.options.1.target: unknown node \"nowhere\"",
		path + ":18:9: menus.nodes.main.options.x",
		path + ":12:12: menus.prompts.gone.file: open ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(line, path+":") {
			t.Errorf("line without the file name: %q", line)
		}
	}
}

func TestValidate_UnreadableFileExits2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.yaml")
	os.WriteFile(path, []byte("sip: [unclosed\n"), 0o644)
	if code, _, stderr := runValidate(t, path); code != exitUnusable || stderr == "" {
		t.Errorf("broken YAML: exit %d (want %d), stderr %q", code, exitUnusable, stderr)
	}
	if code, _, _ := runValidate(t, filepath.Join(dir, "missing.yaml")); code != exitUnusable {
		t.Errorf("missing file: exit %d, want %d", code, exitUnusable)
	}
}

// HOTLINE_<SECTION>_<KEY> overrides a key whether or not the file sets it, and
// HOTLINE_MENUS points the menus at a file of their own.
func TestConfig_EnvironmentOverrides(t *testing.T) {
	dir := t.TempDir()
	prompts, _ := filepath.Abs("../../testdata/prompts")
	menusFile := filepath.Join(dir, "menus.yaml")
	os.WriteFile(menusFile, []byte("root: only\nprompts:\n  p: {file: "+prompts+"/main.wav}\nnodes:\n  only: {prompt: p}\n"), 0o644)
	t.Setenv("HOTLINE_SIP_LISTEN", "127.0.0.1:7070")
	t.Setenv("HOTLINE_ADMIN_CALL_HISTORY", "7")
	t.Setenv("HOTLINE_MEDIA_RTP_PORT_MIN", "4000")
	t.Setenv("HOTLINE_MENUS", menusFile)
	t.Setenv("HOTLINE_FREEZE_ENABLED", "false") // its one-node menu has none of the lane's prompts
	l, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if l.SIP.Listen != "127.0.0.1:7070" || l.Admin.CallHistory != 7 || l.Media.RTPPortMin != 4000 {
		t.Errorf("overrides not applied: sip %q, history %d, rtp min %d", l.SIP.Listen, l.Admin.CallHistory, l.Media.RTPPortMin)
	}
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	if got := menu.Tree.Root(); got != "only" {
		t.Errorf("root %q from HOTLINE_MENUS file, want only", got)
	}
}

// A queue's music must exist (callers on hold would hear silence), and the dispatcher's
// timers cannot be negative.
func TestValidate_QueueMusicAndDispatchTimers(t *testing.T) {
	t.Parallel()
	cfg := queueConfig(t, t.TempDir(), "    music: hold_music_typo\n", "", "")
	b, err := readFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = writeFile(t, cfg, b+"dispatch:\n  ring_rest: -1s\n")
	l, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = buildMenu(l)
	if err == nil {
		t.Fatal("validated")
	}
	for _, want := range []string{`queues.support.music: "hold_music_typo"`, "dispatch.ring_rest: must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems:\n%v\nwant one naming %s", err, want)
		}
	}
}
