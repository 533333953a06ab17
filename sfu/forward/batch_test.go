package forward

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// Several goroutines, each with its own batch, share one socket towards
// several receivers: every datagram arrives, and each sender's arrive in
// the order it sent them.
func TestBatchesArriveCompleteAndInOrderUnderLoad(t *testing.T) {
	t.Run("raw sendmmsg", func(t *testing.T) { testBatchOrder(t, node(t)) })
	t.Run("x/net WriteBatch", func(t *testing.T) { testBatchOrder(t, xnet(t)) })
}

func testBatchOrder(t *testing.T, conn BatchConn) {
	const senders, receivers, per = 4, 8, 3000
	type rx struct {
		c    *net.UDPConn
		next [senders]uint32
		got  atomic.Int64
		bad  atomic.Value
	}
	rxs := make([]*rx, receivers)
	// Half the receivers read as the node's intake does (RawReader), and
	// check the sender's address it reports.
	var wg sync.WaitGroup
	for i := range rxs {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadBuffer(4 << 20)
		t.Cleanup(func() { c.Close() })
		r := &rx{c: c}
		rxs[i] = r
		wg.Add(1)
		raw := NewRawReader(c)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for r.got.Load() < senders*per {
				var n int
				var err error
				if i%2 == 0 {
					var from netip.AddrPort
					n, from, err = raw.ReadFromUDPAddrPort(buf)
					if err == nil && (!from.Addr().Is4() || from.Port() == 0) {
						r.bad.Store([3]uint32{99, 0, 0})
						return
					}
				} else {
					n, err = c.Read(buf)
				}
				if err != nil {
					return
				}
				s, seq := binary.BigEndian.Uint32(buf), binary.BigEndian.Uint32(buf[4:])
				if n != 200 || s >= senders || seq != r.next[s] {
					r.bad.Store([3]uint32{s, seq, r.next[s]})
					return
				}
				r.next[s]++
				r.got.Add(1)
			}
		}()
	}
	var sent sync.WaitGroup
	for s := 0; s < senders; s++ {
		sent.Add(1)
		go func() {
			defer sent.Done()
			b := newBatch(batchSize)
			for seq := 0; seq < per; seq++ {
				for _, r := range rxs {
					buf := b.next(conn)
					binary.BigEndian.PutUint32(buf, uint32(s))
					binary.BigEndian.PutUint32(buf[4:], uint32(seq))
					b.commit(200, r.c.LocalAddr())
				}
				b.flush()
				// Keep what is in flight within the receivers' buffers: the
				// test is about order and completeness, not about how fast
				// a starved reader drains.
				for _, r := range rxs {
					for int64(seq*senders)-r.got.Load() > 2000 {
						time.Sleep(time.Millisecond)
					}
				}
			}
			if b.failed != 0 || b.sent != per*receivers {
				t.Errorf("sender %d: %d sent, %d failed", s, b.sent, b.failed)
			}
		}()
	}
	sent.Wait()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	for i, r := range rxs {
		if bad := r.bad.Load(); bad != nil {
			t.Fatalf("receiver %d: from sender %d got seq %d, want %d", i, bad.([3]uint32)[0], bad.([3]uint32)[1], bad.([3]uint32)[2])
		}
		if n := r.got.Load(); n != senders*per {
			t.Fatalf("receiver %d got %d datagrams, want %d", i, n, senders*per)
		}
	}
}

// A datagram the kernel refuses is counted; the others of its batch go.
func TestBatchSkipsARefusedDatagram(t *testing.T) {
	t.Run("raw sendmmsg", func(t *testing.T) { testBatchRefusal(t, node(t)) })
	t.Run("x/net WriteBatch", func(t *testing.T) { testBatchRefusal(t, xnet(t)) })
}

func testBatchRefusal(t *testing.T, conn BatchConn) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b := newBatch(batchSize)
	for i, a := range []net.Addr{c.LocalAddr(), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}, c.LocalAddr()} {
		buf := b.next(conn)
		buf[0] = byte(i)
		b.commit(10, a)
	}
	b.flush()
	if b.sent != 2 || b.failed != 1 {
		t.Fatalf("sent %d, failed %d; want 2 and 1", b.sent, b.failed)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	for _, want := range []byte{0, 2} {
		if n, err := c.Read(buf); err != nil || n != 10 || buf[0] != want {
			t.Fatalf("got %d bytes (first %d, err %v), want datagram %d", n, buf[0], err, want)
		}
	}
}

var _ BatchConn = (*ipv4.PacketConn)(nil)
