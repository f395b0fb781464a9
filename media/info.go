package media

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrUnsupportedInfo reports a SIP INFO body that carries no key press we
// can read: another content type, or a body without a valid key. The SIP
// side answers such a request 415 Unsupported Media Type.
var ErrUnsupportedInfo = errors.New("unsupported dtmf info")

// maxInfoDuration caps the duration of an INFO key press.
const maxInfoDuration = time.Minute

// ParseInfoDTMF reads the key press carried by the body of a SIP INFO
// request with the given Content-Type (parameters and case ignored):
//
//   - application/dtmf-relay, lines of Key=Value such as
//     "Signal=5\r\nDuration=160\r\n", in any order, keys in any case, with
//     spaces around the parts and LF or CRLF line ends. Signal is a key
//     ('0'-'9', '*', '#', 'A'-'D', also lower case) or an RFC 4733 §3.2
//     event code 0-15 (10 is '*', 11 is '#'). Duration is in milliseconds;
//     missing or unreadable, dur is 0 (unknown).
//   - application/dtmf, a body that is the key alone, such as "5" or "*"
//     (or an event code); dur is 0.
//
// Anything else is an error wrapping ErrUnsupportedInfo.
func ParseInfoDTMF(contentType string, body []byte) (key byte, dur time.Duration, err error) {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "application/dtmf-relay"):
		return parseDTMFRelay(body)
	case strings.EqualFold(mt, "application/dtmf"):
		k, ok := infoKey(bytes.TrimSpace(body))
		if !ok {
			return 0, 0, fmt.Errorf("info application/dtmf: body %.20q: %w", body, ErrUnsupportedInfo)
		}
		return k, 0, nil
	}
	return 0, 0, fmt.Errorf("info content type %.40q: %w", contentType, ErrUnsupportedInfo)
}

// parseDTMFRelay reads an application/dtmf-relay body.
func parseDTMFRelay(body []byte) (key byte, dur time.Duration, err error) {
	var haveKey, haveDur bool
	for rest := body; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		name, value, ok := bytes.Cut(line, []byte{'='})
		if !ok {
			continue
		}
		name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
		switch {
		case !haveKey && bytes.EqualFold(name, []byte("signal")):
			if key, haveKey = infoKey(value); !haveKey {
				return 0, 0, fmt.Errorf("info application/dtmf-relay: signal %.20q: %w", value, ErrUnsupportedInfo)
			}
		case !haveDur && bytes.EqualFold(name, []byte("duration")):
			if ms, err := strconv.ParseUint(string(value), 10, 32); err == nil {
				dur, haveDur = min(time.Duration(ms)*time.Millisecond, maxInfoDuration), true
			}
		}
	}
	if !haveKey {
		return 0, 0, fmt.Errorf("info application/dtmf-relay: no signal: %w", ErrUnsupportedInfo)
	}
	return key, dur, nil
}

// infoKey reads a key or an RFC 4733 event code 0-15.
func infoKey(v []byte) (byte, bool) {
	switch len(v) {
	case 1:
		if code, ok := EventCode(v[0]); ok {
			return EventKey(code)
		}
	case 2:
		if v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
			return EventKey(10 + v[1] - '0')
		}
	}
	return 0, false
}
