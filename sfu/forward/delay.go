package forward

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// delayBuckets: bucket i counts copies sent within [2^(i-1), 2^i) µs of
// their packet's read (bucket 0: under 1 µs), up to about 17 minutes.
const delayBuckets = 31

var fanoutDelay [delayBuckets]atomic.Uint64

// noteDelay counts n copies sent d after their packet was read.
func noteDelay(d int64, n int) {
	us := uint64(max(d, 0)) / 1000
	i := min(bits.Len64(us), delayBuckets-1)
	fanoutDelay[i].Add(uint64(n))
}

// FanoutDelay is how long copies waited in the node between their packet's
// read from pion and their sendmmsg, over the process: Counts[i] copies
// within Bounds[i] (and over Bounds[i-1]). It excludes pion's receive path
// (socket to track read) and the kernel's send.
type FanoutDelay struct {
	Counts []uint64
	Bounds []time.Duration
}

// Delays returns the process's fan-out delay histogram so far.
func Delays() FanoutDelay {
	h := FanoutDelay{Counts: make([]uint64, delayBuckets), Bounds: make([]time.Duration, delayBuckets)}
	for i := range fanoutDelay {
		h.Counts[i] = fanoutDelay[i].Load()
		h.Bounds[i] = time.Duration(uint64(1)<<i) * time.Microsecond
	}
	return h
}
