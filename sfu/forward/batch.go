package forward

import (
	"net"

	"golang.org/x/net/ipv4"
)

// BatchConn sends many datagrams in one system call (sendmmsg on Linux);
// *ipv4.PacketConn and *ipv6.PacketConn are ones.
type BatchConn interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// batchSize bounds a batch: the copies of one incoming packet leave in
// batches of at most this many, so the first subscriber's copy does not
// wait for the last one's encryption.
const batchSize = 32

// slotSize holds the largest copy: a packet read into bufSize with its
// extensions replaced by ours, plus the SRTP tag.
const slotSize = bufSize + maxHeader + 16

// batch collects SRTP packets for one socket and sends them together. Each
// goroutine that sends (a Receiver's read loop, a DownTrack's retransmitter)
// owns one, so there is no lock: a fan-out fills it and flushes once per
// incoming packet, or sooner when it is full.
type batch struct {
	conn   BatchConn
	raw    *rawScratch // for a *RawConn, made on first use
	msgs   []ipv4.Message
	bufs   [][]byte
	n      int
	since  int64  // monotime the copies queued were read; 0: not timed
	sent   uint64 // datagrams handed to the kernel
	failed uint64 // datagrams the kernel refused
}

func newBatch(size int) *batch {
	b := &batch{msgs: make([]ipv4.Message, size), bufs: make([][]byte, size)}
	slab := make([]byte, size*slotSize)
	for i := range b.msgs {
		b.msgs[i].Buffers = make([][]byte, 1)
		b.bufs[i] = slab[i*slotSize : (i+1)*slotSize : (i+1)*slotSize]
	}
	return b
}

// next returns the buffer of the next datagram to c; commit sends it.
func (b *batch) next(c BatchConn) []byte {
	if b.n > 0 && c != b.conn {
		b.flush()
	}
	b.conn = c
	return b.bufs[b.n]
}

// commit queues the first n bytes of the buffer next returned, to addr.
func (b *batch) commit(n int, addr net.Addr) {
	m := &b.msgs[b.n]
	m.Buffers[0] = b.bufs[b.n][:n]
	m.Addr = addr
	b.n++
	if b.n == len(b.msgs) {
		b.flush()
	}
}

// flush sends what is queued. A datagram the kernel refuses (an address
// it cannot route, say) is counted and skipped; the rest still go.
func (b *batch) flush() {
	for i := 0; i < b.n; {
		k, err := b.write(b.msgs[i:b.n])
		if k > 0 {
			i += k
			b.sent += uint64(k)
		}
		if err != nil {
			i++
			b.failed++
		}
	}
	for i := range b.msgs[:b.n] {
		b.msgs[i].Addr = nil
	}
	if b.since != 0 {
		noteDelay(monotime()-b.since, b.n)
	}
	b.n = 0
}

func (b *batch) write(ms []ipv4.Message) (int, error) {
	if rc, ok := b.conn.(*RawConn); ok {
		if b.raw == nil {
			b.raw = &rawScratch{}
			b.raw.init(len(b.msgs))
		}
		return rc.send(b.raw, ms)
	}
	return b.conn.WriteBatch(ms, 0)
}
