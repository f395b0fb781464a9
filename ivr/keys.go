package ivr

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hotline-ivr/hotline/media"
)

// DTMF modes of a call (issue 3). INFO is accepted in every mode: a peer that sends it
// means it.
const (
	DTMFAuto    = "auto"    // RFC 4733 when telephone-event is negotiated, in-band otherwise
	DTMFRFC4733 = "rfc4733" // RFC 4733 only
	DTMFInband  = "inband"  // in-band tones only
	DTMFInfo    = "info"    // SIP INFO only
	DTMFBoth    = "both"    // RFC 4733 and in-band together, de-duplicated (gateways that do either)
)

// DTMFConfig configures how key presses are heard.
type DTMFConfig struct {
	// Mode is the default mode: auto (default), rfc4733, inband, info or both.
	Mode string `mapstructure:"mode"`
	// DedupeWindow is how close two reports of one key by different paths must be to count
	// as one press; default 250 ms.
	DedupeWindow time.Duration `mapstructure:"dedupe_window"`
	// Endpoints give trunks and softphones their own mode, matched in order.
	Endpoints []DTMFEndpoint `mapstructure:"endpoints"`
}

// DTMFEndpoint matches calls by source address (an IP or a CIDR prefix) and/or From user.
type DTMFEndpoint struct {
	Name   string `mapstructure:"name"`   // label in metrics (trunk="...")
	Source string `mapstructure:"source"` // e.g. 203.0.113.7 or 203.0.113.0/24
	User   string `mapstructure:"user"`   // From user, e.g. a softphone's account
	Mode   string `mapstructure:"mode"`
	// Language is the prompt language for calls from this endpoint (a trunk serving one
	// country, say), e.g. zh-CN; empty: the menu's default.
	Language string `mapstructure:"language"`
}

func validMode(m string) bool {
	switch m {
	case "", DTMFAuto, DTMFRFC4733, DTMFInband, DTMFInfo, DTMFBoth:
		return true
	}
	return false
}

// Validate reports every problem, naming the config key.
func (c DTMFConfig) Validate() error {
	var errs []error
	if !validMode(c.Mode) {
		errs = append(errs, fmt.Errorf("dtmf.mode: %q is not one of auto, rfc4733, inband, info, both", c.Mode))
	}
	if c.DedupeWindow < 0 {
		errs = append(errs, fmt.Errorf("dtmf.dedupe_window: must not be negative"))
	}
	for i, e := range c.Endpoints {
		if !validMode(e.Mode) {
			errs = append(errs, fmt.Errorf("dtmf.endpoints.%d.mode: %q is not one of auto, rfc4733, inband, info, both", i, e.Mode))
		}
		if e.Source == "" && e.User == "" {
			errs = append(errs, fmt.Errorf("dtmf.endpoints.%d: give a source, a user or both", i))
		}
		if e.Source != "" {
			if _, err := parsePrefix(e.Source); err != nil {
				errs = append(errs, fmt.Errorf("dtmf.endpoints.%d.source: %q is neither an IP nor a CIDR prefix", i, e.Source))
			}
		}
	}
	return errors.Join(errs...)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// resolve returns the DTMF mode, the metrics label and the prompt language of a call from
// source (host:port) and From user.
func (c DTMFConfig) resolve(source, user string) (mode, trunk, lang string) {
	var src netip.Addr
	if ap, err := netip.ParseAddrPort(source); err == nil {
		src = ap.Addr().Unmap()
	}
	for i, e := range c.Endpoints {
		if e.User != "" && e.User != user {
			continue
		}
		if e.Source != "" {
			p, err := parsePrefix(e.Source)
			if err != nil || !src.IsValid() || !p.Contains(src) {
				continue
			}
		}
		name := e.Name
		if name == "" {
			name = fmt.Sprintf("endpoint%d", i)
		}
		mode := e.Mode
		if mode == "" {
			mode = cmpOr(c.Mode, DTMFAuto)
		}
		return mode, name, e.Language
	}
	return cmpOr(c.Mode, DTMFAuto), "default", ""
}

// callDTMF is the DTMF policy of one call once the SDP is negotiated.
type callDTMF struct {
	rfc4733, inband bool
}

func newCallDTMF(mode string, telephoneEvent bool) callDTMF {
	switch mode {
	case DTMFRFC4733:
		return callDTMF{rfc4733: true}
	case DTMFInband:
		return callDTMF{inband: true}
	case DTMFInfo:
		return callDTMF{}
	case DTMFBoth:
		return callDTMF{rfc4733: true, inband: true}
	default: // auto
		return callDTMF{rfc4733: telephoneEvent, inband: !telephoneEvent}
	}
}

// accepts reports whether a press that arrived by mode counts under this policy.
func (p callDTMF) accepts(mode media.DTMFMode) bool {
	switch mode {
	case media.ModeRFC4733:
		return p.rfc4733
	case media.ModeInband:
		return p.inband
	case media.ModeInfo:
		return true
	}
	return false
}

// keyFilter makes one key stream of the three paths (STYLE.md C1: owned by the call
// goroutine). The same press reported by two paths (RFC 4733 and the tone left in the
// audio; INFO and RFC 4733) counts once: a report is a duplicate when the last press of the
// same key that counted came by another path less than window before. Two real presses of
// one key by the same path always count twice: each path already tells its own presses apart.
type keyFilter struct {
	window time.Duration
	last   [16]struct {
		mode media.DTMFMode
		at   time.Time
	}
}

func keyIndex(k byte) int {
	switch {
	case k >= '0' && k <= '9':
		return int(k - '0')
	case k == '*':
		return 10
	case k == '#':
		return 11
	case k >= 'A' && k <= 'D':
		return 12 + int(k-'A')
	}
	return -1
}

// accept reports whether d is a new press (true) or another path's report of one already
// counted (false).
func (f *keyFilter) accept(d media.Digit) bool {
	i := keyIndex(d.Key)
	if i < 0 {
		return false
	}
	l := &f.last[i]
	if l.mode != "" && l.mode != d.Mode {
		if gap := d.At.Sub(l.at); gap < f.window && gap > -f.window {
			return false
		}
	}
	l.mode, l.at = d.Mode, d.At
	return true
}
