package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/veet-dev/veet/sfu/forward"
)

// intake is the node's UDP socket as pion's ICE mux reads it. It takes the
// SRTCP that subscribers on the batched path send (receiver reports, NACKs,
// keyframe requests, congestion feedback — about a dozen packets a second
// each) and hands it to their Transport in the mux's own reading goroutine,
// so it never goes through pion's four goroutine hand-offs and per-packet
// allocations; everything else (STUN, DTLS, publishers' media, RTCP of
// connections pion serves) goes on to pion.
type intake struct {
	*net.UDPConn
	mu     sync.Mutex
	routes atomic.Pointer[map[netip.AddrPort]*forward.Transport]
	r      *forward.RawReader // the one reading goroutine's (pion's mux)
}

func newIntake(c *net.UDPConn) *intake {
	in := &intake{UDPConn: c}
	in.routes.Store(&map[netip.AddrPort]*forward.Transport{})
	in.r = forward.NewRawReader(c)
	return in
}

// route sends what arrives from addr to t (nil: to pion again).
func (in *intake) route(addr netip.AddrPort, t *forward.Transport) {
	in.mu.Lock()
	defer in.mu.Unlock()
	old := *in.routes.Load()
	if old[addr] == t {
		return
	}
	next := make(map[netip.AddrPort]*forward.Transport, len(old)+1)
	for a, x := range old {
		next[a] = x
	}
	if t == nil {
		delete(next, addr)
	} else {
		next[addr] = t
	}
	in.routes.Store(&next)
}

// unroute forgets every address routed to t.
func (in *intake) unroute(t *forward.Transport) {
	for a, x := range *in.routes.Load() {
		if x == t {
			in.route(a, nil)
		}
	}
}

// ReadFromAddrPort is what pion's mux reads with (ice.AddrPortReaderWriter),
// from one goroutine.
func (in *intake) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := in.r.ReadFromUDPAddrPort(b)
		// RTCP packet types are 192–223 in the second byte (RFC 5761).
		if err == nil && n >= 8 && b[0]>>6 == 2 && b[1] >= 192 && b[1] <= 223 {
			if t := (*in.routes.Load())[from]; t != nil && t.HandleSRTCP(b[:n]) {
				continue
			}
		}
		return n, from, err
	}
}

// WriteToAddrPort implements ice.AddrPortReaderWriter.
func (in *intake) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return in.UDPConn.WriteToUDPAddrPort(b, to)
}

// ReadFrom and WriteTo are net.PacketConn's, for callers that use those.
func (in *intake) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := in.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}
