package menus

import (
	"fmt"
	"strings"
)

// keySet is a set of DTMF keys, bit i for validKeys[i].
type keySet uint16

func (s keySet) has(k byte) bool {
	i := keyIndex(k)
	return i >= 0 && s&(1<<i) != 0
}

func keySetOf(k byte) keySet {
	if i := keyIndex(k); i >= 0 {
		return 1 << i
	}
	return 0
}

// String renders s as a key or a bracket class.
func (s keySet) String() string {
	var b strings.Builder
	n := 0
	for i := range len(validKeys) {
		if s&(1<<i) != 0 {
			b.WriteByte(validKeys[i])
			n++
		}
	}
	if n == 1 {
		return b.String()
	}
	return "[" + b.String() + "]"
}

// pattern is a compiled PatternConfig: one key set per position.
type pattern struct {
	match string
	sets  []keySet
	opt   *option
}

// parsePattern compiles a match such as "1[0-9][0-9]" or "[1-5*]#".
func parsePattern(s string) ([]keySet, error) {
	if s == "" {
		return nil, fmt.Errorf("match is required (keys and [classes], e.g. \"1[0-9][0-9]\")")
	}
	var sets []keySet
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("pattern %q: unclosed [", s)
			}
			body := s[i+1 : i+end]
			var set keySet
			for j := 0; j < len(body); j++ {
				lo := body[j]
				if keyIndex(lo) < 0 {
					return nil, fmt.Errorf("pattern %q: %q is not a key (want 0-9, * or #)", s, string(lo))
				}
				if j+2 < len(body) && body[j+1] == '-' {
					hi := body[j+2]
					if !isDigit(lo) || !isDigit(hi) || hi < lo {
						return nil, fmt.Errorf("pattern %q: bad range %q", s, body[j:j+3])
					}
					for k := lo; k <= hi; k++ {
						set |= keySetOf(k)
					}
					j += 2
					continue
				}
				set |= keySetOf(lo)
			}
			if set == 0 {
				return nil, fmt.Errorf("pattern %q: empty class []", s)
			}
			sets = append(sets, set)
			i += end + 1
		case keyIndex(c) >= 0:
			sets = append(sets, keySetOf(c))
			i++
		default:
			return nil, fmt.Errorf("pattern %q: %q is not a key or a [class] (want 0-9, *, # or [...])", s, string(c))
		}
	}
	if len(sets) > MaxDigitLen {
		return nil, fmt.Errorf("pattern %q: longer than %d keys", s, MaxDigitLen)
	}
	return sets, nil
}

// matches reports whether entry matches p exactly.
func (p *pattern) matches(entry []byte) bool {
	return len(entry) == len(p.sets) && p.prefixOf(entry)
}

// prefixOf reports whether entry could start an entry p matches.
func (p *pattern) prefixOf(entry []byte) bool {
	if len(entry) > len(p.sets) {
		return false
	}
	for i, k := range entry {
		if !p.sets[i].has(k) {
			return false
		}
	}
	return true
}

// covers reports whether every entry q matches, p matches too.
func (p *pattern) covers(q *pattern) bool {
	if len(p.sets) != len(q.sets) {
		return false
	}
	for i := range p.sets {
		if q.sets[i]&^p.sets[i] != 0 {
			return false
		}
	}
	return true
}
