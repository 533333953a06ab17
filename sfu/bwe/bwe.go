// Package bwe estimates the bandwidth of one subscriber's downlink from the
// subscriber's transport-wide congestion control feedback (TWCC), as the
// sender side of the link: what arrived, when, and what was lost, against
// when the node sent each packet and how big it was.
//
// It is a small delay- and loss-based controller in the spirit of Google
// Congestion Control, not pion/interceptor's GCC: that one is an
// interceptor that must see every packet on its way out (it parses each
// header to learn its sequence number and send time, and paces them), while
// the node's packet path already stamps the transport-wide numbers and
// keeps each packet's send time and size in its Transport, encrypting and
// batching copies in place. Feeding GCC would cost a header parse and a
// call per copy on the hot path; this estimator costs nothing per packet
// and works per feedback (a dozen a second).
//
// The signals, per feedback:
//   - receive rate: bytes acknowledged over the last 500 ms of arrivals;
//   - queuing delay: each packet's one-way delay less the smallest seen in
//     the last 10 s (the path's base delay; the clocks' offset cancels),
//     smoothed;
//   - loss: packets reported lost over the last second.
//
// The rule: a queue over 25 ms or loss over 10 % is congestion: the
// estimate drops to 85 % of what got through (at most once per 400 ms),
// and that rate is remembered
// as the link's capacity. Loss of 2–10 % holds the estimate. Otherwise it
// grows: slowly (×1.15 a second) up to 10 % past a capacity met in the last
// 15 s, fast
// (×1.8 a second) beyond it; in those 15 s never above twice the receive
// rate plus 100 kbit/s, so it probes up by what the allocator actually
// sends (a layer at a time) rather than by padding. A link never found full
// (or not for 15 s) lets the estimate grow freely: the allocator then
// steps up a layer at a time, and the first congestion sets the bound. Without TWCC (a client that did not
// negotiate it) receiver reports' loss fraction drives the same rule.
package bwe

import (
	"math"
	"sync"
	"time"
)

// SentFunc says when the packet of a transport-wide sequence number was
// sent and how big it was (forward.Transport.Sent).
type SentFunc func(seq uint16) (at time.Duration, size int, ok bool)

const (
	rateWindow     = 500 * time.Millisecond
	lossWindow     = time.Second
	baseWindow     = 10 * time.Second
	overuseDelay   = 25 * time.Millisecond
	decreaseFactor = 0.85
	holdAfterDrop  = 400 * time.Millisecond
	capacityMemory = 15 * time.Second
	slowGrowth     = 1.15 // per second, near a known capacity
	fastGrowth     = 1.8  // per second, beyond it
	lossCongested  = 0.10
	lossHold       = 0.02
	probeHeadroom  = 100_000 // bit/s above twice the receive rate
)

// Estimator is one subscriber's downlink estimate; safe for concurrent use.
type Estimator struct {
	sent     SentFunc
	min, max float64

	mu       sync.Mutex
	est      float64
	updated  time.Time
	dropped  time.Time // last decrease
	capacity float64   // receive rate at the last congestion
	dropQ    float64   // the queue then (µs)
	twccAt   time.Time // last TWCC feedback

	ref     int64 // unwrapped reference time, 64 ms units; -1 before any
	acks    []ack // ring, by arrival
	queue   float64
	bases   [10]int64 // min one-way delay (µs) per second of baseWindow
	baseSec int64
	losses  []lossMark

	// Figures.
	lastRate float64
	lastLoss float64

	onDrop func() // called after a decrease, outside mu
}

// OnDrop sets what runs (on the feedback's goroutine: it must not block)
// after the estimate decreased, so the allocation follows at once rather
// than at its next round. Set it before feedback arrives.
func (e *Estimator) OnDrop(f func()) { e.onDrop = f }

type ack struct {
	arrival int64 // µs, the subscriber's clock
	size    int
}

type lossMark struct {
	at         time.Time
	recv, lost int
}

// New returns an estimator starting at initial bit/s, kept within
// [min, max].
func New(sent SentFunc, initial, min, max int) *Estimator {
	e := &Estimator{sent: sent, min: float64(min), max: float64(max), est: float64(initial), ref: -1}
	for i := range e.bases {
		e.bases[i] = math.MaxInt64
	}
	return e
}

// Estimate is the current estimate in bit/s.
func (e *Estimator) Estimate() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int(e.est)
}

// Stats are the estimator's latest signals.
type Stats struct {
	Estimate, ReceiveRate int // bit/s
	Loss                  float64
	Queue                 time.Duration
}

// Stats returns the latest signals.
func (e *Estimator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Stats{Estimate: int(e.est), ReceiveRate: int(e.lastRate), Loss: e.lastLoss, Queue: time.Duration(e.queue) * time.Microsecond}
}

// OnFeedback takes one TWCC feedback packet (the whole RTCP packet, read
// in place and not kept) received at now.
func (e *Estimator) OnFeedback(fb []byte, now time.Time) {
	if e.feedback(fb, now) && e.onDrop != nil {
		e.onDrop()
	}
}

// feedback is OnFeedback under mu; it reports whether the estimate fell.
func (e *Estimator) feedback(raw []byte, now time.Time) bool {
	fb, ok := parseFeedback(raw)
	if !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.twccAt = now
	// Reference time: 24 bits of 64 ms, unwrapped against the last.
	ref := fb.ref
	if e.ref >= 0 {
		d := (ref - e.ref) & 0xffffff
		if d >= 1<<23 {
			d -= 1 << 24
		}
		ref = e.ref + d
	}
	e.ref = ref
	arrival := ref * 64000
	recv, lost := 0, 0
	var qsum, qn int64
	for {
		seq, sym, delta, ok := fb.next()
		if !ok {
			break
		}
		at, size, sent := e.sent(seq)
		switch sym {
		case smallDelta, largeDelta:
			arrival += delta
			if !sent {
				continue
			}
			recv++
			e.acks = append(e.acks, ack{arrival, size})
			owd := arrival - at.Microseconds()
			if q := e.noteBase(owd, now); q >= 0 {
				qsum += q
				qn++
			}
		case notReceived:
			if sent {
				lost++
			}
		}
	}
	if qn > 0 {
		e.queue = 0.7*e.queue + 0.3*float64(qsum/qn)
	}
	e.losses = append(e.losses, lossMark{now, recv, lost})
	before := e.est
	e.update(now, e.rate(), e.loss(now))
	return e.est < before
}

// Congested reports whether the link was found full in the last 15 s (the
// estimate is then a measure of it, not only a bound on growth).
func (e *Estimator) Congested(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.dropped.IsZero() && now.Sub(e.dropped) < capacityMemory
}

// DroppedSince reports whether the estimate was decreased after t.
func (e *Estimator) DroppedSince(t time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped.After(t)
}

// OnReceiverLoss takes a receiver report's fraction lost (0..1). It drives
// the estimate only while no TWCC feedback arrives.
func (e *Estimator) OnReceiverLoss(fraction float64, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.twccAt.IsZero() && now.Sub(e.twccAt) < 2*time.Second {
		return
	}
	e.update(now, 0, fraction)
}

// noteBase keeps the smallest one-way delay per second and returns owd's
// queuing delay over the smallest of the window (-1 before there is one).
func (e *Estimator) noteBase(owd int64, now time.Time) int64 {
	sec := now.Unix()
	for e.baseSec < sec {
		e.baseSec++
		if sec-e.baseSec >= int64(len(e.bases)) {
			e.baseSec = sec
			for i := range e.bases {
				e.bases[i] = math.MaxInt64
			}
		}
		e.bases[e.baseSec%int64(len(e.bases))] = math.MaxInt64
	}
	i := sec % int64(len(e.bases))
	e.bases[i] = min(e.bases[i], owd)
	base := int64(math.MaxInt64)
	for _, b := range e.bases {
		base = min(base, b)
	}
	return owd - base
}

// rate is the receive rate (bit/s) over the last rateWindow of arrivals;
// 0 until there is a window's worth.
func (e *Estimator) rate() float64 {
	if len(e.acks) < 2 {
		return 0
	}
	last := e.acks[len(e.acks)-1].arrival
	from := last - rateWindow.Microseconds()
	i := 0
	for i < len(e.acks) && e.acks[i].arrival < from {
		i++
	}
	if i > 0 {
		e.acks = append(e.acks[:0], e.acks[i:]...)
	}
	span := last - e.acks[0].arrival
	if span < rateWindow.Microseconds()/2 {
		return 0
	}
	bytes := 0
	for _, a := range e.acks[1:] {
		bytes += a.size
	}
	r := float64(bytes*8) / (float64(span) / 1e6)
	e.lastRate = r
	return r
}

// loss is the fraction of packets lost over the last lossWindow.
func (e *Estimator) loss(now time.Time) float64 {
	i := 0
	for i < len(e.losses) && now.Sub(e.losses[i].at) > lossWindow {
		i++
	}
	e.losses = append(e.losses[:0], e.losses[i:]...)
	recv, lost := 0, 0
	for _, l := range e.losses {
		recv += l.recv
		lost += l.lost
	}
	if recv+lost == 0 {
		return 0
	}
	f := float64(lost) / float64(recv+lost)
	e.lastLoss = f
	return f
}

// update applies the rule; rate 0 means unknown.
func (e *Estimator) update(now time.Time, rate, loss float64) {
	dt := now.Sub(e.updated).Seconds()
	if e.updated.IsZero() || dt < 0 {
		dt = 0
	}
	e.updated = now
	// A queue counts while it grows, or stays long after a drop (a
	// queue still draining from the last one is not news).
	queued := time.Duration(e.queue)*time.Microsecond > overuseDelay &&
		(e.queue > e.dropQ || now.Sub(e.dropped) > time.Second)
	congested := loss > lossCongested || queued
	switch {
	case congested:
		if now.Sub(e.dropped) < holdAfterDrop {
			return // the last drop has not had its effect yet
		}
		// What got through is the link's measure (GCC's 0.85 × R); the
		// estimate itself only without a receive rate.
		base := e.est
		if rate > 0 {
			base = rate
		}
		if rate == 0 && loss > 0 {
			e.est = base * (1 - loss/2)
		} else {
			e.est = base * decreaseFactor
		}
		e.capacity = base
		e.dropped = now
		e.dropQ = e.queue
		// Loss from before the drop said all it had to say: judge the new
		// rate by what it loses.
		e.losses = e.losses[:0]
	case loss > lossHold:
		// Some loss: hold.
	default:
		if now.Sub(e.dropped) < holdAfterDrop {
			return
		}
		g := fastGrowth
		recent := e.capacity > 0 && now.Sub(e.dropped) < capacityMemory
		if recent && e.est < 1.1*e.capacity {
			g = slowGrowth
		}
		next := e.est * math.Pow(g, min(dt, 1))
		if rate > 0 && recent {
			// A link that was full lately is probed by what is sent.
			next = min(next, max(e.est, 2*rate+probeHeadroom))
		}
		e.est = next
	}
	e.est = min(max(e.est, e.min), e.max)
}
