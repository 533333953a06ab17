package forward

import "sync"

// cacheSize is how many of a track's latest packets stay for
// retransmission: about 3 s of a 1.5 Mbit/s camera, well past the round
// trip after which a NACK is still worth answering.
const cacheSize = 512

// bufSize holds any packet a publisher sends (pion reads at most 1460).
const bufSize = 1500

// cache is one published track's retransmission buffer, shared by all its
// subscribers: a NACK is answered from it with the asking subscriber's own
// header, so a packet is kept once, not once per subscriber.
//
// The Receiver reads each packet into a spare buffer and swaps it into the
// slot of its sequence number, getting that slot's old buffer back as the
// next spare: nothing is copied, and the one lock per incoming packet is
// a slot's, which a NACK holds only while it encrypts that one packet.
type cache struct {
	slots [cacheSize]slot
}

type slot struct {
	mu  sync.Mutex
	seq uint16
	pkt []byte // nil until the slot is first used
}

// newCache allocates every buffer at once (cacheSize+1 of them, the one
// more being the first spare) and returns the cache and that spare.
func newCache() (*cache, []byte) {
	c := &cache{}
	slab := make([]byte, (cacheSize+1)*bufSize)
	for i := range c.slots {
		c.slots[i].pkt = slab[i*bufSize : i*bufSize : (i+1)*bufSize]
	}
	return c, slab[cacheSize*bufSize:]
}

// put keeps pkt (a buffer the caller gives up) as packet seq and returns a
// full-capacity buffer to read the next packet into.
func (c *cache) put(seq uint16, pkt []byte) []byte {
	s := &c.slots[seq%cacheSize]
	s.mu.Lock()
	old := s.pkt
	s.pkt, s.seq = pkt, seq
	s.mu.Unlock()
	return old[:cap(old)]
}

// lock returns packet seq with its slot locked, or nil (and nothing
// locked) when the cache no longer has it; unlock with s.mu.Unlock.
func (c *cache) lock(seq uint16) (*slot, []byte) {
	s := &c.slots[seq%cacheSize]
	s.mu.Lock()
	if s.seq != seq || len(s.pkt) == 0 {
		s.mu.Unlock()
		return nil, nil
	}
	return s, s.pkt
}
