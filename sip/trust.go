package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Who may place calls, and whose identity headers are believed.
//
// An INVITE that starts a dialog is taken only from:
//   - a trunk's source addresses (Trunk.Source; by default the trunk URI's host when it is an
//     IP literal),
//   - the IP address of a phone currently registered with the registrar (any port: a phone
//     behind NAT calls from the mapping its REGISTER used or a new one),
//   - Config.Allow (default: loopback, so a local softphone can try the demo).
//
// Anything else gets 403. P-Asserted-Identity (RFC 3325) is believed only on calls from a
// trunk marked Trusted: the trunk is then inside the trust domain and vouches for the caller.
// From any other source the caller is who the From header claims, and callers of the leg
// must treat that as unverified (Leg.AssertedIdentity reports false).

// allowNone is the Config.Allow entry that admits no source beyond trunks and agents.
const allowNone = "none"

// defaultAllow admits local softphones: IPv4 and IPv6 loopback.
func defaultAllow() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// origin is what the server knows of where an INVITE came from.
type origin struct {
	kind    string // originTrunk, originAgent or originAllowed
	trunk   string // trunk name, for originTrunk
	trusted bool   // a trunk inside the trust domain: its identity headers are believed
}

// Origins of an accepted INVITE.
const (
	originTrunk   = "trunk"
	originAgent   = "agent"
	originAllowed = "allowed"
)

// trunkSource is one trunk's source prefixes.
type trunkSource struct {
	name     string
	trusted  bool
	prefixes []netip.Prefix
}

// acl is the parsed trust configuration. It is immutable; the server swaps it whole.
type acl struct {
	trunks []trunkSource
	allow  []netip.Prefix
}

// parsePrefix reads an IP ("203.0.113.7", "2001:db8::1") or a CIDR ("203.0.113.0/24").
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a := p.Addr(); a.Is4In6() { // ::ffff:10.0.0.0/104 is 10.0.0.0/8: sources are unmapped
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("an IPv4-mapped prefix shorter than /96")
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// newACL parses Config.Allow and each trunk's sources; errors name the key at fault.
func newACL(allow []string, trunks []Trunk) (*acl, error) {
	var errs []error
	a := &acl{}
	switch {
	case len(allow) == 0:
		a.allow = defaultAllow()
	case len(allow) == 1 && strings.EqualFold(strings.TrimSpace(allow[0]), allowNone):
	default:
		for i, s := range allow {
			if strings.EqualFold(strings.TrimSpace(s), allowNone) {
				errs = append(errs, fmt.Errorf("allow[%d]: %q must be the only entry", i, allowNone))
				continue
			}
			p, err := parsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("allow[%d]: %q: want an IP or a CIDR", i, s))
				continue
			}
			a.allow = append(a.allow, p)
		}
	}
	for i, t := range trunks {
		ts := trunkSource{name: t.Name, trusted: t.Trusted}
		for j, s := range t.Source {
			p, err := parsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("trunks[%d] (%s): source[%d]: %q: want an IP or a CIDR", i, t.Name, j, s))
				continue
			}
			ts.prefixes = append(ts.prefixes, p)
		}
		if len(t.Source) == 0 {
			// By default a trunk calls from the address it is reached at, when that is an IP.
			var u sipmsg.Uri
			if err := sipmsg.ParseUri(t.URI, &u); err == nil {
				if ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil {
					ip = ip.Unmap()
					ts.prefixes = append(ts.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
				}
			}
		}
		if t.Trusted && len(ts.prefixes) == 0 {
			errs = append(errs, fmt.Errorf("trunks[%d] (%s): trusted: needs source addresses (its uri names no IP)", i, t.Name))
		}
		a.trunks = append(a.trunks, ts)
	}
	return a, errors.Join(errs...)
}

func contains(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// sourceIP returns the IP a request came from (its transport source, not its Via).
func sourceIP(req *sipmsg.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// originOf classifies a dialog-starting INVITE: a trunk (the first whose sources contain the
// request's source IP), a registered phone's address, or an allowed source; false: refuse.
func (s *Server) originOf(req *sipmsg.Request) (origin, bool) {
	ip, ok := sourceIP(req)
	if !ok {
		return origin{}, false
	}
	a := s.acl.Load()
	for _, t := range a.trunks {
		if contains(t.prefixes, ip) {
			return origin{kind: originTrunk, trunk: t.name, trusted: t.trusted}, true
		}
	}
	if s.reg.registeredFrom(ip) {
		return origin{kind: originAgent}, true
	}
	if contains(a.allow, ip) {
		return origin{kind: originAllowed}, true
	}
	return origin{}, false
}

// registeredFrom reports whether a live binding's REGISTER came from ip.
func (r *registrar) registeredFrom(ip netip.Addr) bool {
	if !r.enabled() {
		return false
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, bs := range r.bindings {
		for _, b := range bs {
			if !now.Before(b.Expires) {
				continue
			}
			if ap, err := netip.ParseAddrPort(b.Source); err == nil && ap.Addr().Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// refusedInvites counts INVITEs refused by the source check (403).
type trustStats struct {
	refused atomic.Uint64
}

// RefusedInvites returns how many dialog-starting INVITEs were refused with 403 because
// their source is neither a trunk, a registered phone, nor allowed.
func (s *Server) RefusedInvites() uint64 { return s.trust.refused.Load() }
