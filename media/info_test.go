package media

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseInfoDTMF(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ctype, body string
		key               byte
		dur               time.Duration
		err               bool
	}{
		{"relay crlf", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160 * time.Millisecond, false},
		{"relay lf no final newline", "application/dtmf-relay", "Signal=#\nDuration=250", '#', 250 * time.Millisecond, false},
		{"relay spaces and case", "Application/DTMF-Relay ; charset=utf-8", "  signal = 1 \r\n DURATION= 100\r\n", '1', 100 * time.Millisecond, false},
		{"relay order", "application/dtmf-relay", "Duration=80\r\nSignal=*\r\n", '*', 80 * time.Millisecond, false},
		{"relay code 10 is star", "application/dtmf-relay", "Signal=10\r\nDuration=100\r\n", '*', 100 * time.Millisecond, false},
		{"relay code 11 is pound", "application/dtmf-relay", "Signal=11\r\n", '#', 0, false},
		{"relay code 12 is A", "application/dtmf-relay", "Signal=12\r\n", 'A', 0, false},
		{"relay lower-case letter", "application/dtmf-relay", "Signal=d\r\n", 'D', 0, false},
		{"relay no duration", "application/dtmf-relay", "Signal=0", '0', 0, false},
		{"relay bad duration ignored", "application/dtmf-relay", "Signal=9\r\nDuration=abc\r\n", '9', 0, false},
		{"relay huge duration capped", "application/dtmf-relay", "Signal=9\r\nDuration=4000000\r\n", '9', time.Minute, false},
		{"relay unknown lines", "application/dtmf-relay", "Foo=bar\r\njunk\r\nSignal=3\r\n", '3', 0, false},
		{"relay first signal wins", "application/dtmf-relay", "Signal=3\r\nSignal=4\r\n", '3', 0, false},
		{"relay no signal", "application/dtmf-relay", "Duration=100\r\n", 0, 0, true},
		{"relay bad signal", "application/dtmf-relay", "Signal=x\r\n", 0, 0, true},
		{"relay flash 16", "application/dtmf-relay", "Signal=16\r\n", 0, 0, true},
		{"relay empty", "application/dtmf-relay", "", 0, 0, true},
		{"dtmf digit", "application/dtmf", "5", '5', 0, false},
		{"dtmf star newline", "application/dtmf", "*\r\n", '*', 0, false},
		{"dtmf code", "application/dtmf", "11", '#', 0, false},
		{"dtmf two keys", "application/dtmf", "55", 0, 0, true},
		{"dtmf empty", "application/dtmf", "", 0, 0, true},
		{"other type", "application/sdp", "Signal=5", 0, 0, true},
		{"no type", "", "Signal=5", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key, dur, err := ParseInfoDTMF(tc.ctype, []byte(tc.body))
			if tc.err {
				if !errors.Is(err, ErrUnsupportedInfo) {
					t.Fatalf("err %v, want ErrUnsupportedInfo", err)
				}
				return
			}
			if err != nil || key != tc.key || dur != tc.dur {
				t.Fatalf("got %q %v %v, want %q %v", key, dur, err, tc.key, tc.dur)
			}
		})
	}
}

// FuzzInfoDTMF: any body either yields a valid key and a bounded duration,
// or an error wrapping ErrUnsupportedInfo.
func FuzzInfoDTMF(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf-relay", []byte("signal = 11\nduration=99999999999999999999"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("application/dtmf; x=y", []byte(" 7 \n"))
	f.Add("text/plain", []byte("5"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		key, dur, err := ParseInfoDTMF(ctype, body)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedInfo) || key != 0 || dur != 0 {
				t.Fatalf("%q %v: %v", key, dur, err)
			}
			return
		}
		if !strings.ContainsRune(eventKeys, rune(key)) || dur < 0 || dur > time.Minute {
			t.Fatalf("key %q dur %v", key, dur)
		}
	})
}
