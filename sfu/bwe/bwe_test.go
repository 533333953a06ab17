package bwe

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// link is a bottleneck as tc's tbf makes one: a FIFO drained at rate bit/s
// that drops what would wait longer than limit.
type link struct {
	rate  float64
	limit time.Duration
	free  time.Duration // when the queue is next empty
}

// pass returns when a packet of size bytes sent at t arrives, false if
// dropped.
func (l *link) pass(t time.Duration, size int) (time.Duration, bool) {
	start := max(t, l.free)
	if start-t > l.limit {
		return 0, false
	}
	l.free = start + time.Duration(float64(size*8)/l.rate*float64(time.Second))
	return l.free + 20*time.Millisecond, true
}

type sentPkt struct {
	at      time.Duration
	size    int
	arrival time.Duration
	ok      bool
}

// sim sends as much as the estimate allows (up to demand) over l and feeds
// TWCC feedback every 100 ms, for d; it returns the estimator.
type sim struct {
	t      *testing.T
	e      *Estimator
	l      *link
	now    time.Duration
	seq    uint16
	sent   map[uint16]*sentPkt
	unfed  []uint16
	demand float64
	lost   int
	total  int
}

func newSim(t *testing.T, rate float64) *sim {
	s := &sim{t: t, l: &link{rate: rate, limit: 100 * time.Millisecond}, sent: map[uint16]*sentPkt{}, demand: 4e6}
	s.e = New(func(seq uint16) (time.Duration, int, bool) {
		p := s.sent[seq]
		if p == nil {
			return 0, 0, false
		}
		return p.at, p.size, true
	}, 1_000_000, 100_000, 20_000_000)
	return s
}

var origin = time.Unix(1_800_000_000, 0)

func (s *sim) run(d time.Duration) {
	end := s.now + d
	var credit float64
	for ; s.now < end; s.now += time.Millisecond {
		credit += min(float64(s.e.Estimate()), s.demand) / 8 / 1000
		for credit >= 1200 {
			credit -= 1200
			s.seq++
			p := &sentPkt{at: s.now, size: 1200}
			p.arrival, p.ok = s.l.pass(s.now, 1200)
			s.total++
			if !p.ok {
				s.lost++
			}
			s.sent[s.seq] = p
			s.unfed = append(s.unfed, s.seq)
		}
		if s.now%(100*time.Millisecond) == 0 {
			s.feedback()
		}
	}
}

// feedback reports every packet sent so far that has arrived (or never
// will), as a subscriber's TWCC would.
func (s *sim) feedback() {
	var ready []uint16
	for len(s.unfed) > 0 {
		p := s.sent[s.unfed[0]]
		if p.ok && p.arrival > s.now {
			break
		}
		ready = append(ready, s.unfed[0])
		s.unfed = s.unfed[1:]
	}
	if len(ready) == 0 {
		return
	}
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: ready[0], PacketStatusCount: uint16(len(ready))}
	var ref time.Duration = -1
	var last time.Duration
	for _, q := range ready {
		p := s.sent[q]
		if !p.ok {
			fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 1})
			continue
		}
		if ref < 0 {
			ref = p.arrival / (64 * time.Millisecond) * (64 * time.Millisecond)
			fb.ReferenceTime = uint32(ref / (64 * time.Millisecond))
			last = ref
		}
		delta := (p.arrival - last) / (250 * time.Microsecond) * (250 * time.Microsecond)
		last += delta
		fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedLargeDelta, RunLength: 1})
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: delta.Microseconds()})
	}
	feedPacket(s.t, s.e, fb, origin.Add(s.now))
}

func (s *sim) lossSince(total, lost int) float64 {
	return float64(s.lost-lost) / float64(max(1, s.total-total))
}

func TestEstimatorSettlesUnderABottleneckAndFindsItAgainWhenItWidens(t *testing.T) {
	s := newSim(t, 600_000)
	s.run(5 * time.Second)
	est := s.e.Estimate()
	if est > 650_000 || est < 300_000 {
		t.Fatalf("after 5 s on 600 kbit/s the estimate is %d", est)
	}
	total, lost := s.total, s.lost
	s.run(10 * time.Second)
	if l := s.lossSince(total, lost); l > 0.02 {
		t.Fatalf("settled on 600 kbit/s, %.1f%% of packets lost", 100*l)
	}
	st := s.e.Stats()
	t.Logf("on 600 kbit/s: estimate %d, receive rate %d, queue %v, loss %.3f", st.Estimate, st.ReceiveRate, st.Queue, st.Loss)
	if st.Estimate < 350_000 || st.Estimate > 700_000 {
		t.Fatalf("estimate wandered to %d", st.Estimate)
	}
	// The link widens to 10 Mbit/s: the estimate reaches the demand.
	s.l.rate = 10_000_000
	start := s.now
	for s.e.Estimate() < 3_500_000 {
		if s.now-start > 8*time.Second {
			t.Fatalf("estimate %d after %v on 10 Mbit/s", s.e.Estimate(), s.now-start)
		}
		s.run(100 * time.Millisecond)
	}
	t.Logf("reached %d bit/s %v after the link widened", s.e.Estimate(), s.now-start)
}

func TestEstimatorWithoutTWCCFollowsReceiverReports(t *testing.T) {
	e := New(func(uint16) (time.Duration, int, bool) { return 0, 0, false }, 1_000_000, 100_000, 5_000_000)
	now := origin
	for range 5 {
		now = now.Add(time.Second)
		e.OnReceiverLoss(0.3, now)
	}
	if est := e.Estimate(); est >= 500_000 {
		t.Fatalf("30%% loss left the estimate at %d", est)
	}
	low := e.Estimate()
	for range 5 {
		now = now.Add(time.Second)
		e.OnReceiverLoss(0, now)
	}
	if e.Estimate() <= low {
		t.Fatalf("no loss did not raise the estimate from %d", low)
	}
}

func TestReferenceTimeWraps(t *testing.T) {
	e := New(func(uint16) (time.Duration, int, bool) { return 0, 0, false }, 1_000_000, 100_000, 5_000_000)
	feedPacket(t, e, &rtcp.TransportLayerCC{ReferenceTime: 0xffffff}, origin)
	feedPacket(t, e, &rtcp.TransportLayerCC{ReferenceTime: 1}, origin)
	if e.ref != 0xffffff+2 {
		t.Fatalf("unwrapped reference %d", e.ref)
	}
}
