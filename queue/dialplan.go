package queue

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// A dial plan says which numbers a callback may dial. It is the guard against toll fraud:
// a caller who asks for a callback chooses, or forges, the number Hotline will pay to call.
//
// Pattern syntax, one string per pattern:
//   - a number prefix: digits, optionally led by "+" ("+4915", "0044", "1800"); it matches
//     every number that starts with it;
//   - an anchored regular expression between slashes ("/\+861[3-9][0-9]{9}/"); it must
//     match the whole number (Go RE2 syntax; "^" and "$" are implied).
//
// A number is dialled when it matches an allow pattern and no deny pattern. Numbers are
// compared as given: the caller's asserted identity or the digits the caller keyed in.
// Whatever the patterns say, a number must consist of digits with an optional leading "+"
// (or, for callbacks to registered softphones, a plain user name): URIs, separators and
// anything longer than 32 characters are refused.

// DefaultCallbackDeny returns the numbers no callback dials unless a queue sets
// callback.drop_default_deny: international access prefixes (00, 011); common premium-rate
// ranges in their international form (NANP +1900 and +1976, UK +4490/+4491, Germany
// +4990, the Netherlands +3190/+3189, France +3389, Australia +61190) and in national form
// where that form cannot be a mobile elsewhere (0900, 0901, 0906, 0909); and every number
// of 6 digits or fewer (emergency and service codes: 110, 112, 119, 120, 911, 999, ...;
// short premium codes). Where national numbering differs (Japan's mobiles start 090),
// drop the default and list your own.
func DefaultCallbackDeny() []string {
	return []string{
		"00", "011",
		"+1900", "+1976", "+4490", "+4491", "+4990", "+3189", "+3190", "+3389", "+61190",
		"0900", "0901", "0906", "0909",
		`/\+?[0-9]{1,6}/`,
	}
}

// Errors Check returns.
var (
	// ErrNotAllowed: the number matches no allow pattern (or none is configured).
	ErrNotAllowed = errors.New("number not allowed by the dial plan")
	// ErrDenied: the number matches a deny pattern.
	ErrDenied = errors.New("number denied by the dial plan")
	// ErrBadNumber: not a number (or user name) at all.
	ErrBadNumber = errors.New("not a dialable number")
)

// maxNumberLen bounds a dialled number (E.164 has at most 15 digits; room for prefixes).
const maxNumberLen = 32

// DialPlan is a compiled set of allow and deny patterns. The zero value allows nothing.
type DialPlan struct {
	allow, deny []pattern
	defaultDeny []pattern // DefaultCallbackDeny: numbers on the public network only
}

type pattern struct {
	src    string
	prefix string
	re     *regexp.Regexp
}

func (p pattern) match(number string) bool {
	if p.re != nil {
		return p.re.MatchString(number)
	}
	return strings.HasPrefix(number, p.prefix)
}

func compilePattern(s string) (pattern, error) {
	if len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/' {
		re, err := regexp.Compile(`^(?:` + s[1:len(s)-1] + `)$`)
		if err != nil {
			return pattern{}, fmt.Errorf("%q: %w", s, err)
		}
		return pattern{src: s, re: re}, nil
	}
	if !isNumber(s) {
		return pattern{}, fmt.Errorf("%q: want a number prefix (digits, optional leading +) or /regexp/", s)
	}
	return pattern{src: s, prefix: s}, nil
}

// isNumber reports whether s is digits with an optional leading "+".
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isUserName reports whether s is a plain SIP user name (a registered softphone's account):
// letters, digits and - _ . only, or a number (a leading "+").
func isUserName(s string) bool {
	if isNumber(s) {
		return true
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// CompileDialPlan compiles allow and deny patterns; deny adds to DefaultCallbackDeny
// unless dropDefault. The error names each bad pattern by its index.
func CompileDialPlan(allow, deny []string, dropDefault bool) (DialPlan, error) {
	var p DialPlan
	var errs []error
	var defaults []string
	if !dropDefault {
		defaults = DefaultCallbackDeny()
	}
	for _, set := range []struct {
		key  string
		srcs []string
		dst  *[]pattern
	}{{"allow", allow, &p.allow}, {"deny", deny, &p.deny}, {"default deny", defaults, &p.defaultDeny}} {
		for i, s := range set.srcs {
			pt, err := compilePattern(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.%d: %w", set.key, i, err))
				continue
			}
			*set.dst = append(*set.dst, pt)
		}
	}
	return p, errors.Join(errs...)
}

// Check says whether number may be dialled: nil, or ErrBadNumber, ErrDenied, ErrNotAllowed
// (wrapped with the pattern that decided).
func (p DialPlan) Check(number string) error {
	if err := denied(p.defaultDeny, number); err != nil && isNumber(number) {
		return err
	}
	return p.check(number, isNumber, false)
}

func denied(ps []pattern, target string) error {
	for _, d := range ps {
		if d.match(target) {
			return fmt.Errorf("%w (%s)", ErrDenied, d.src)
		}
	}
	return nil
}

// CheckUser says whether name may be called back as a registered softphone's account (a
// callback with no trunk, which reaches only phones registered with Hotline): it must be a
// plain user name, and match the allow patterns when there are any (the queue's own deny
// applies as well; the default deny, about the public network, does not).
func (p DialPlan) CheckUser(name string) error {
	return p.check(name, isUserName, true)
}

// check applies the plan to target, which must pass valid; with no allow patterns the
// target is allowed when emptyAllows says so.
func (p DialPlan) check(target string, valid func(string) bool, emptyAllows bool) error {
	if len(target) > maxNumberLen || !valid(target) {
		return ErrBadNumber
	}
	if err := denied(p.deny, target); err != nil {
		return err
	}
	if len(p.allow) == 0 && emptyAllows {
		return nil
	}
	for _, a := range p.allow {
		if a.match(target) {
			return nil
		}
	}
	return ErrNotAllowed
}
