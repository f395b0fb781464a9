package media

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func port(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// freeRange finds n consecutive ports starting at an even one that are
// free right now, by binding an ephemeral socket and probing upwards.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		base := (port(c) + 2) &^ 1
		c.Close()
		if base+n > 65535 {
			continue
		}
		ok := true
		for p := base; p < base+n && ok; p++ {
			probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				continue
			}
			probe.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free range of loopback UDP ports found in 50 tries")
	return 0
}

func TestPortPool_EvenPortsSkipBusyAndExhaust(t *testing.T) {
	t.Parallel()
	// Someone else holds base+2 (another process may take a free port between our probe
	// and our bind: pick another range then).
	var base int
	var busy *net.UDPConn
	for try := 0; busy == nil; try++ {
		base = freeRange(t, 6)
		var err error
		if busy, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + 2}); err != nil && try == 20 {
			t.Fatal("port taken meanwhile, 20 times:", err)
		}
	}
	defer busy.Close()

	p, err := NewPortPool(loopback, base-1, base+5) // odd lower bound rounds up
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Listen()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if port(a) != base || port(b) != base+4 {
		t.Fatalf("ports %d, %d, want %d, %d", port(a), port(b), base, base+4)
	}
	if _, err := p.Listen(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("exhausted pool: err = %v, want ErrNoPorts", err)
	}
	p.Release(a)
	c, err := p.Listen()
	if err != nil || port(c) != base {
		t.Fatalf("after release: %v, %v", c, err)
	}
	p.Release(b)
	p.Release(c)
	p.Release(nil)
}

func TestPortPool_Ephemeral(t *testing.T) {
	t.Parallel()
	p, err := NewPortPool(loopback, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release(a)
	if got := a.LocalAddr().(*net.UDPAddr); !got.IP.Equal(net.IPv4(127, 0, 0, 1)) || got.Port == 0 {
		t.Fatalf("bound %v", got)
	}
}

func TestNewPortPool_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ip     netip.Addr
		lo, hi int
	}{
		{"no ip", netip.Addr{}, 0, 0},
		{"reversed", loopback, 20000, 10000},
		{"too high", loopback, 60000, 70000},
		{"only min", loopback, 10000, 0},
		{"single odd port", loopback, 10001, 10001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewPortPool(tc.ip, tc.lo, tc.hi); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
