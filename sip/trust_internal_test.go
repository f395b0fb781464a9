package sip

import (
	"net/netip"
	"testing"
)

// Sources are compared unmapped: an IPv4-mapped allow entry, or an IPv4-mapped source
// (a dual-stack socket), matches like the plain IPv4 one.
func TestACL_MappedAddresses(t *testing.T) {
	t.Parallel()
	a, err := newACL([]string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.7"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"10.1.2.3", "192.0.2.7"} {
		if !contains(a.allow, netip.MustParseAddr(ip)) {
			t.Errorf("%s not allowed by the mapped entries", ip)
		}
	}
	if contains(a.allow, netip.MustParseAddr("11.0.0.1")) {
		t.Error("11.0.0.1 allowed")
	}
	if _, err := newACL([]string{"::ffff:0:0/64"}, nil); err == nil {
		t.Error("a mapped prefix shorter than /96 accepted")
	}
}
