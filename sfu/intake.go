package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/veet-dev/veet/sfu/forward"
)

// intake is the node's UDP socket as pion's ICE mux reads it. It takes,
// in the mux's own reading goroutine, what the node reads itself, so it
// never goes through pion's goroutine hand-offs (ICE, DTLS mux, SRTP
// session, read buffers) and per-packet allocations:
//   - the SRTCP that subscribers on the batched path send (receiver
//     reports, NACKs, keyframe requests, congestion feedback — about a
//     dozen packets a second each), handed to their Transport;
//   - the SRTP that publishers send, opened and queued for their tracks
//     (publishIn).
//
// Everything else (STUN, DTLS, publishers' RTCP, packets of streams not
// yet known, connections pion serves alone) goes on to pion.
type intake struct {
	*net.UDPConn
	subscribers routes[*forward.Transport]
	publishers  routes[*publishIn]
	r           *forward.RawReader // the one reading goroutine's (pion's mux)
}

func newIntake(c *net.UDPConn) *intake {
	in := &intake{UDPConn: c, r: forward.NewRawReader(c)}
	in.subscribers.init()
	in.publishers.init()
	return in
}

// routes maps remote addresses to what takes their packets; the reading
// goroutine looks up without a lock (the map is copied on write: routes
// change a few times per connection).
type routes[T comparable] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[netip.AddrPort]T]
}

func (r *routes[T]) init() { r.m.Store(&map[netip.AddrPort]T{}) }

func (r *routes[T]) get(addr netip.AddrPort) (T, bool) {
	v, ok := (*r.m.Load())[addr]
	return v, ok
}

// set sends what arrives from addr to v alone: any other address routed
// to v is forgotten. An invalid addr only forgets.
func (r *routes[T]) set(addr netip.AddrPort, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.m.Load()
	next := make(map[netip.AddrPort]T, len(old)+1)
	for a, x := range old {
		if x != v {
			next[a] = x
		}
	}
	if addr.IsValid() {
		next[addr] = v
	}
	r.m.Store(&next)
}

// forget stops routing to v.
func (r *routes[T]) forget(v T) { r.set(netip.AddrPort{}, v) }

// ReadFromAddrPort is what pion's mux reads with (ice.AddrPortReaderWriter),
// from one goroutine.
func (in *intake) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := in.r.ReadFromUDPAddrPort(b)
		if err != nil || n < 12 || b[0]>>6 != 2 {
			return n, from, err
		}
		// RTCP packet types are 192–223 in the second byte (RFC 5761).
		if b[1] >= 192 && b[1] <= 223 {
			if t, ok := in.subscribers.get(from); ok && t.HandleSRTCP(b[:n]) {
				continue
			}
		} else if p, ok := in.publishers.get(from); ok && p.take(b[:n]) {
			continue
		}
		return n, from, nil
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
