package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// ErrNoPorts is returned by PortPool.Listen when every port of the range is
// taken.
var ErrNoPorts = errors.New("no free rtp port")

// PortPool hands out UDP sockets for RTP, one per call leg, on even ports
// of a configured range (RFC 3550 §11: RTP on an even port, RTCP on the
// next odd one). It is safe for concurrent use.
type PortPool struct {
	ip       netip.Addr
	min, max int // even bounds of the range; both 0: ephemeral ports

	mu    sync.Mutex
	next  int              // next even port to try
	inUse map[int]struct{} // ports handed out and not yet released
}

// NewPortPool returns a pool binding ip on the even ports of [lo, hi].
// lo = hi = 0 binds ephemeral ports chosen by the system instead.
func NewPortPool(ip netip.Addr, lo, hi int) (*PortPool, error) {
	if !ip.IsValid() {
		return nil, errors.New("port pool: invalid ip address")
	}
	p := &PortPool{ip: ip.Unmap(), inUse: make(map[int]struct{})}
	if lo == 0 && hi == 0 {
		return p, nil
	}
	if lo < 1 || hi > 65535 || lo > hi {
		return nil, fmt.Errorf("port pool: bad port range %d-%d", lo, hi)
	}
	first := lo + lo&1
	if first > hi {
		return nil, fmt.Errorf("port pool: no even port in range %d-%d", lo, hi)
	}
	p.min, p.max, p.next = first, hi, first
	return p, nil
}

// Listen binds a UDP socket on the next free even port of the range,
// skipping ports in use by this pool or by anyone else. It returns an error
// wrapping ErrNoPorts when the whole range is busy.
func (p *PortPool) Listen() (*net.UDPConn, error) {
	if p.min == 0 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, 0)))
		if err != nil {
			return nil, fmt.Errorf("port pool: %w", err)
		}
		return c, nil
	}
	tries := (p.max-p.min)/2 + 1
	for range tries {
		port, ok := p.reserve()
		if !ok {
			continue
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
		if err == nil {
			return c, nil
		}
		p.unreserve(port)
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("port pool: %w", err)
		}
	}
	return nil, fmt.Errorf("port pool %s:%d-%d: %w", p.ip, p.min, p.max, ErrNoPorts)
}

// reserve advances the cursor and claims its port unless the pool already
// handed it out. The bind happens outside the lock.
func (p *PortPool) reserve() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	port := p.next
	p.next += 2
	if p.next > p.max {
		p.next = p.min
	}
	if _, busy := p.inUse[port]; busy {
		return 0, false
	}
	p.inUse[port] = struct{}{}
	return port, true
}

func (p *PortPool) unreserve(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}

// Release closes c and returns its port to the pool. c may be nil.
func (p *PortPool) Release(c *net.UDPConn) {
	if c == nil {
		return
	}
	var port int
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		port = a.Port
	}
	_ = c.Close()
	if p.min != 0 {
		p.unreserve(port)
	}
}
