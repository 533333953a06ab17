//go:build !linux

package forward

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// RawConn is x/net's WriteBatch where there is no raw sendmmsg (see
// batch_linux.go).
type RawConn struct{ pc *ipv4.PacketConn }

// NewRawConn wraps c for batches.
func NewRawConn(c *net.UDPConn) (*RawConn, error) { return &RawConn{pc: ipv4.NewPacketConn(c)}, nil }

// WriteBatch implements BatchConn.
func (r *RawConn) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	return r.pc.WriteBatch(ms, flags)
}

type rawScratch struct{}

func (*rawScratch) init(int) {}

func (r *RawConn) send(_ *rawScratch, ms []ipv4.Message) (int, error) { return r.pc.WriteBatch(ms, 0) }

// RawReader is net.UDPConn's reading where there is no raw recvfrom.
type RawReader struct{ c *net.UDPConn }

// NewRawReader returns a reader of c.
func NewRawReader(c *net.UDPConn) *RawReader { return &RawReader{c: c} }

// ReadFromUDPAddrPort is net.UDPConn's.
func (r *RawReader) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return r.c.ReadFromUDPAddrPort(b)
}

// NewStampingReader is NewRawReader: no kernel timestamps here.
func NewStampingReader(c *net.UDPConn) (*RawReader, error) { return NewRawReader(c), nil }

// Arrived is 0: unknown.
func (r *RawReader) Arrived() int64 { return 0 }
