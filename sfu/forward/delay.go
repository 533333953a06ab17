package forward

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The fan-out delay histogram has four buckets per power of two (a bucket
// is at most 25 % wide), so a p99 near a target such as 10 ms reads as
// 8.2–10.2 ms rather than "8–16": under 4 µs one bucket per microsecond,
// then [(4+m)·2^(e-2), (5+m)·2^(e-2)) µs for e ≥ 2, m = 0…3, up to about
// 17 minutes.
const delayBuckets = 4 * 30

var fanoutDelay [delayBuckets]atomic.Uint64

// delayBucket is the bucket of a delay of us microseconds.
func delayBucket(us uint64) int {
	if us < 4 {
		return int(us)
	}
	e := bits.Len64(us) - 1
	i := 4*(e-1) + int(us>>(e-2)&3)
	return min(i, delayBuckets-1)
}

// delayBound is bucket i's upper bound in microseconds.
func delayBound(i int) uint64 {
	if i < 4 {
		return uint64(i) + 1
	}
	e, m := i/4+1, uint64(i%4)
	return (5 + m) << (e - 2)
}

// noteDelay counts n copies sent d after their packet was read.
func noteDelay(d int64, n int) {
	fanoutDelay[delayBucket(uint64(max(d, 0))/1000)].Add(uint64(n))
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
		h.Bounds[i] = time.Duration(delayBound(i)) * time.Microsecond
	}
	return h
}
