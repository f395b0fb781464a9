package ivr

import (
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/media"
)

func TestKeyFilter_OnePressPerKeyWhateverThePaths(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type in struct {
		key  byte
		mode media.DTMFMode
		ms   int
	}
	const (
		rfc  = media.ModeRFC4733
		tone = media.ModeInband
		info = media.ModeInfo
	)
	tests := []struct {
		name string
		in   []in
		want string // keys that count, in order
	}{
		{"rfc4733 then the leaked tone", []in{{'5', rfc, 0}, {'5', tone, 60}}, "5"},
		{"tone confirmed before the first event packet", []in{{'5', tone, 0}, {'5', rfc, 30}}, "5"},
		{"info and rfc4733 for one press", []in{{'1', info, 0}, {'1', rfc, 80}}, "1"},
		{"two real presses of one key, both leaking", []in{{'7', rfc, 0}, {'7', tone, 50}, {'7', rfc, 180}, {'7', tone, 230}}, "77"},
		{"same path twice quickly is two presses", []in{{'2', tone, 0}, {'2', tone, 90}}, "22"},
		{"different keys never merge", []in{{'1', rfc, 0}, {'2', tone, 10}}, "12"},
		{"another path well after the window is a new press", []in{{'3', rfc, 0}, {'3', tone, 600}}, "33"},
		{"unknown key ignored", []in{{'x', rfc, 0}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := keyFilter{window: 250 * time.Millisecond}
			var got []byte
			for _, d := range tc.in {
				if f.accept(media.Digit{Key: d.key, Mode: d.mode, At: at(d.ms)}) {
					got = append(got, d.key)
				}
			}
			if string(got) != tc.want {
				t.Errorf("counted %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDTMFConfig_ResolvePerEndpoint(t *testing.T) {
	t.Parallel()
	c := DTMFConfig{Mode: DTMFRFC4733, Endpoints: []DTMFEndpoint{
		{Name: "carrier-a", Source: "203.0.113.0/24", Mode: DTMFInband},
		{Name: "desk", User: "alice", Mode: DTMFInfo},
		{Source: "198.51.100.9", User: "bob", Mode: DTMFBoth},
	}}
	tests := []struct{ source, user, mode, trunk string }{
		{"203.0.113.40:5060", "anyone", DTMFInband, "carrier-a"},
		{"192.0.2.1:5060", "alice", DTMFInfo, "desk"},
		{"198.51.100.9:5060", "bob", DTMFBoth, "endpoint2"},
		{"198.51.100.9:5060", "carol", DTMFRFC4733, "default"},
		{"[::ffff:203.0.113.5]:5060", "x", DTMFInband, "carrier-a"},
	}
	for _, tc := range tests {
		if m, tr, _ := c.resolve(tc.source, tc.user); m != tc.mode || tr != tc.trunk {
			t.Errorf("resolve(%s, %s) = %s/%s, want %s/%s", tc.source, tc.user, m, tr, tc.mode, tc.trunk)
		}
	}
	if err := (DTMFConfig{Mode: "loud", Endpoints: []DTMFEndpoint{{Mode: "x"}}}).Validate(); err == nil {
		t.Error("a bad mode and an endpoint matching nothing were accepted")
	}
}
