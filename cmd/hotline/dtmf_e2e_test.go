package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr"
	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/media"
)

// walkKeys dials with opts, presses 1 (sub menu), * (back to main), 1 again, and returns the
// finished call's record: the same key twice on purpose, so that a de-duplicator that merged
// real presses would fail.
func walkKeys(t *testing.T, cfgPath string, opts phone.Options) (*server, *ivr.CallRecord) {
	t.Helper()
	s, prompts := startTestServerWith(t, cfgPath)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	opts.Prompts, opts.FromUser = prompts, "dtmf"
	p, err := phone.Dial(ctx, "sip:hotline@"+s.SIPAddr, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	expectPrompts(t, ctx, p, "main")
	for _, step := range []struct{ key, next string }{{"1", "sub"}, {"*", "main"}, {"1", "sub"}} {
		if err := p.Press(ctx, step.key); err != nil {
			t.Fatal(err)
		}
		expectPrompts(t, ctx, p, step.next)
	}
	// Let any late duplicate arrive before hanging up, so that it would be counted.
	time.Sleep(300 * time.Millisecond)
	if err := p.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	return s, finishedCall(t, s, p.ID())
}

func assertKeys(t *testing.T, rec *ivr.CallRecord, mode string) {
	t.Helper()
	var got []string
	for _, k := range rec.Keys {
		got = append(got, k.Key+"/"+k.Mode)
	}
	want := []string{"1/" + mode, "*/" + mode, "1/" + mode}
	if !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v (each press exactly once)", got, want)
	}
	var nodes []string
	for _, n := range rec.Nodes {
		nodes = append(nodes, n.Node)
	}
	if want := []string{"main", "sub", "main", "sub"}; !slices.Equal(nodes, want) {
		t.Errorf("nodes %v, want %v", nodes, want)
	}
}

// No telephone-event offered: in auto mode Hotline listens for tones in the audio.
func TestE2E_DTMFInbandOnly(t *testing.T) {
	t.Parallel()
	_, rec := walkKeys(t, e2eConfig, phone.Options{NoDTMF: true, DTMFMode: "inband"})
	if rec.DTMFMode != ivr.DTMFAuto {
		t.Errorf("call dtmf mode %q, want auto", rec.DTMFMode)
	}
	assertKeys(t, rec, "inband")
	for _, k := range rec.Keys {
		if k.LatencyMs < 20 || k.LatencyMs > 100 {
			t.Errorf("key %s: detection latency %.1f ms, want the detector's 20-100 ms", k.Key, k.LatencyMs)
		}
	}
}

// Keys by SIP INFO only (application/dtmf-relay), no telephone-event, silent audio.
func TestE2E_DTMFInfoOnly(t *testing.T) {
	t.Parallel()
	_, rec := walkKeys(t, e2eConfig, phone.Options{NoDTMF: true, DTMFMode: "info"})
	assertKeys(t, rec, "info")
}

// A gateway that sends RFC 4733 events (on their own SSRC) and leaves the tone in the
// audio, to a Hotline that listens to both (dtmf.mode both): every press counts once, by
// whichever path told first (usually the event; under load the tone can win), and the other
// path's report of it is suppressed.
func TestE2E_DTMFRFC4733WithLeakedTonesCountsOnce(t *testing.T) {
	t.Parallel()
	cfg := e2eConfigWith(t, "dtmf:\n  mode: both\n")
	s, rec := walkKeys(t, cfg, phone.Options{DTMFMode: "leak"})
	var keys []string
	for _, k := range rec.Keys {
		keys = append(keys, k.Key)
		if k.Mode != "rfc4733" && k.Mode != "inband" {
			t.Errorf("key %s counted by %s", k.Key, k.Mode)
		}
	}
	if want := []string{"1", "*", "1"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v: each press exactly once", keys, want)
	}
	metrics := getText(t, "http://"+s.AdminAddr+"/metrics")
	dups := 0
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "hotline_dtmf_duplicates_total{") {
			var n int
			fmt.Sscan(l[strings.LastIndex(l, " ")+1:], &n)
			dups += n
		}
	}
	if dups != 3 {
		t.Errorf("%d duplicate reports suppressed, want 3 (one per press)\n%s", dups, grepLines(metrics, "hotline_dtmf"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}

// A trunk or softphone matched by dtmf.endpoints can carry the prompt language: its callers
// hear that language's prompts from the first one.
func TestE2E_EndpointLanguage(t *testing.T) {
	t.Parallel()
	prompts, _ := filepath.Abs("../../testdata/prompts")
	cfg := e2eConfigWith(t, "dtmf:\n  endpoints:\n    - {name: zh-trunk, user: zhuser, language: zh-CN}\n")
	b := mustRead(t, cfg)
	b = strings.Replace(b, "menus:\n", "menus:\n  languages:\n    zh-CN:\n      prompts:\n        main: {file: "+prompts+"/info.wav, text: 主菜单}\n", 1)
	writeFile(t, cfg, b)
	s, menuPrompts := startTestServerWith(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	zh := dialAs(t, ctx, s, map[string]*media.Prompt{"zh-main": menuPrompts["zh-cn/main"], "main": menuPrompts["main"]}, "zhuser")
	expectPrompts(t, ctx, zh, "zh-main")
	other := dialAs(t, ctx, s, map[string]*media.Prompt{"zh-main": menuPrompts["zh-cn/main"], "main": menuPrompts["main"]}, "someone")
	expectPrompts(t, ctx, other, "main")
}
