package forward

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// StaleAfter is how long a packet may wait in the node before its
// Receiver drops it instead of forwarding it. A node that falls behind
// (its core saturated) would otherwise forward ever older media — seconds
// of delay, as its queues fill — to everyone; past this, a meeting is
// better served by a gap and a fresh keyframe (ITU-T G.114 puts one-way
// delay above 400 ms beyond conversation). It is also well above the time
// one core needs to fan a large keyframe out to a full room (60 packets to
// 500 subscribers at 7 µs a copy ≈ 210 ms), so a busy node that keeps up
// never drops one.
const StaleAfter = 400 * time.Millisecond

// ErrQueueFull is Queue.Write's answer when the queue holds its limit.
var ErrQueueFull = errors.New("forward: queue full")

// Queue hands one published track's packets from the goroutine that reads
// them off the network to its Receiver, and remembers when each arrived,
// so that the Receiver can tell a packet that waited too long
// (StaleAfter). One goroutine reads; any may write.
type Queue struct {
	mu     sync.Mutex
	ring   []queued
	head   int
	n      int
	size   int // bytes queued
	limit  int
	full   uint64 // packets refused at the limit
	closed bool
	ready  chan struct{} // a packet (or the close) for a waiting reader
	last   int64         // arrival of the packet Read returned last; the reader's
}

type queued struct {
	b  []byte
	at int64 // monotime of arrival
}

// NewQueue returns a queue holding at most limit bytes.
func NewQueue(limit int) *Queue {
	return &Queue{limit: limit, ring: make([]queued, 16), ready: make(chan struct{}, 1)}
}

// Write queues a copy of b, stamped with the time; it refuses it
// (ErrQueueFull) when the queue holds its limit.
func (q *Queue) Write(b []byte) (int, error) {
	at := monotime()
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return 0, io.ErrClosedPipe
	case q.size+len(b) > q.limit:
		q.full++
		q.mu.Unlock()
		return 0, ErrQueueFull
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	e := &q.ring[(q.head+q.n)%len(q.ring)]
	e.b = append(e.b[:0], b...) // each slot keeps its buffer: no allocation once warm
	e.at = at
	q.n++
	q.size += len(b)
	q.mu.Unlock()
	q.wake()
	return len(b), nil
}

// grow doubles the ring, oldest first. Call with mu.
func (q *Queue) grow() {
	next := make([]queued, 2*len(q.ring))
	for i := range q.n {
		next[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = next, 0
}

func (q *Queue) wake() {
	select {
	case q.ready <- struct{}{}:
	default: // the reader has a wake-up pending already
	}
}

// Read copies the oldest packet into b, waiting for one; io.EOF once the
// queue is closed and empty.
func (q *Queue) Read(b []byte) (int, error) {
	for {
		q.mu.Lock()
		if q.n > 0 {
			e := &q.ring[q.head]
			if len(b) < len(e.b) {
				q.mu.Unlock()
				return 0, io.ErrShortBuffer
			}
			n := copy(b, e.b)
			q.last = e.at
			q.head = (q.head + 1) % len(q.ring)
			q.n--
			q.size -= n
			q.mu.Unlock()
			return n, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return 0, io.EOF
		}
		<-q.ready
	}
}

// Arrived is when the packet Read returned last arrived (Write's time), on
// the clock the Receiver keeps; call it from the reading goroutine.
func (q *Queue) Arrived() int64 { return q.last }

// Full counts the packets refused at the limit.
func (q *Queue) Full() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.full
}

// Close ends the queue: the reader gets what is queued, then io.EOF.
func (q *Queue) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
	return nil
}

// Arrivals is a Source that knows when the packet it returned last arrived
// in the node (a Queue, or a Source reading one): its Receiver drops what
// waited past StaleAfter.
type Arrivals interface {
	Arrived() int64
}

// staleTotal counts stale drops over the process (Stale).
var staleTotal atomic.Uint64

// Stale is how many packets the process's Receivers dropped as stale
// (Stats.Stale, summed).
func Stale() uint64 { return staleTotal.Load() }

// lateness is a Receiver's state of dropping stale packets.
type lateness struct {
	dropping bool // since a stale packet, until the stream can resume
	asked    bool // a keyframe was asked for once the packets were fresh again
}

// skip reports whether p, which arrived at arrived (0: unknown), is not to
// be forwarded: it waited past StaleAfter, or it is video after such a gap
// and not the keyframe that can resume it (what comes before would not
// decode). The publisher is asked for a keyframe when the dropping starts
// and again when packets are fresh but none came yet; when the stream
// resumes its subscribers close the gap (resync).
func (r *Receiver) skip(l *lateness, p *inPacket, arrived int64) bool {
	if arrived != 0 && p.now-arrived > int64(StaleAfter) {
		if !l.dropping {
			l.dropping, l.asked = true, false
			r.RequestKeyframe()
		}
		r.dropStale()
		return true
	}
	if !l.dropping {
		return false
	}
	if r.opts.Kind == webrtc.RTPCodecTypeVideo && !p.key {
		if !l.asked {
			l.asked = true
			r.RequestKeyframe() // the one asked for at the start may have been dropped too
		}
		r.dropStale()
		return true
	}
	l.dropping = false
	r.resync()
	return false
}

func (r *Receiver) dropStale() {
	r.stale.Add(1)
	staleTotal.Add(1)
}
