package forward

import "testing"

// Every delay falls in the bucket whose bounds hold it, and no bucket is
// wider than a quarter of its lower bound (beyond the first few µs).
func TestDelayBuckets(t *testing.T) {
	prev := uint64(0)
	for i := 0; i < delayBuckets; i++ {
		hi := delayBound(i)
		if hi <= prev {
			t.Fatalf("bucket %d bound %d not above %d", i, hi, prev)
		}
		if i >= 4 && (hi-prev)*4 > prev {
			t.Fatalf("bucket %d [%d, %d) wider than 25 %%", i, prev, hi)
		}
		for _, us := range []uint64{prev, hi - 1, (prev + hi) / 2} {
			if got := delayBucket(us); got != i {
				t.Fatalf("%d µs in bucket %d, want %d [%d, %d)", us, got, i, prev, hi)
			}
		}
		prev = hi
	}
	if delayBucket(1<<62) != delayBuckets-1 {
		t.Fatal("a huge delay is not in the last bucket")
	}
	if b := delayBound(delayBucket(10_000)); b != 10_240 {
		t.Fatalf("10 ms is counted up to %d µs, want 10240", b)
	}
}
