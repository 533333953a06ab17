package forward

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// Path is where a subscriber connection's packets go when the node sends
// them itself: the node's UDP socket, the subscriber's address (the ICE
// pair's remote side) and the SRTP keys the node sends with.
type Path struct {
	Conn BatchConn
	Addr *net.UDPAddr
	Keys srtpgcm.Keys
}

// sentRing is how many transport-wide sequence numbers keep their send
// time and size for the congestion controller (several seconds of a
// subscriber's whole downlink).
const sentRing = 4096

// reportEvery is the sender report interval per forwarded track.
const reportEvery = time.Second

// Transport is one subscriber connection's send side, shared by the
// DownTracks it carries: the path packets take, the transport-wide sequence
// numbers stamped on them (RFC 8888's predecessor, draft-holmer-rmcat-
// transport-wide-cc-extensions), the subscriber's congestion feedback, and
// the sender reports of its tracks.
//
// Without a Path (before the connection is up, over ICE-TCP, or with an
// SRTP profile other than AES-GCM) DownTracks write through pion's own
// stream, which encrypts and sends one packet at a time.
type Transport struct {
	path      atomic.Pointer[Path]
	writeRTCP func([]rtcp.Packet) error

	twcc atomic.Uint32 // last transport-wide sequence number used
	// sent[seq%sentRing] is (send time in µs since epoch)<<16 | size.
	sent       [sentRing]atomic.Uint64
	onFeedback atomic.Pointer[func(*rtcp.TransportLayerCC)]
	feedbacks  atomic.Uint64

	mu    sync.Mutex
	downs []*DownTrack // bound ones, for sender reports

	done      chan struct{}
	closeOnce sync.Once
}

// NewTransport returns the send side of one subscriber connection;
// writeRTCP sends RTCP on it (PeerConnection.WriteRTCP). Close it with the
// connection.
func NewTransport(writeRTCP func([]rtcp.Packet) error) *Transport {
	t := &Transport{writeRTCP: writeRTCP, done: make(chan struct{})}
	go t.reportLoop()
	return t
}

// SetPath makes the node send the connection's packets itself along p, or
// through pion's stream when p is nil.
func (t *Transport) SetPath(p *Path) { t.path.Store(p) }

// Batched reports whether packets take a Path.
func (t *Transport) Batched() bool { return t.path.Load() != nil }

// Close stops the sender reports and the Path.
func (t *Transport) Close() {
	t.closeOnce.Do(func() {
		t.path.Store(nil)
		close(t.done)
	})
}

// NewDownTrack is NewDownTrack for a track sent on this transport.
func (t *Transport) NewDownTrack(recv *Receiver, trackID, streamID string, onBind func()) *DownTrack {
	d := NewDownTrack(recv, trackID, streamID, onBind)
	d.tr = t
	return d
}

// OnFeedback sets what receives the subscriber's transport-wide congestion
// feedback (a send-side bandwidth estimator); Sent tells it when each
// sequence number left and how big it was. f runs on an RTCP reading
// goroutine and must not block.
func (t *Transport) OnFeedback(f func(fb *rtcp.TransportLayerCC)) { t.onFeedback.Store(&f) }

// Feedbacks is how many congestion feedback packets arrived.
func (t *Transport) Feedbacks() uint64 { return t.feedbacks.Load() }

// Sent returns when the packet of transport-wide sequence number seq was
// sent (since the process's packet-path epoch) and its size, if it is one
// of the last sentRing.
func (t *Transport) Sent(seq uint16) (at time.Duration, size int, ok bool) {
	v := t.sent[int(seq)%sentRing].Load()
	if v == 0 || uint16(t.twcc.Load()-uint32(seq)) >= sentRing {
		return 0, 0, false
	}
	return time.Duration(v>>16) * time.Microsecond, int(v & 0xffff), true
}

// stamp takes the next transport-wide sequence number for a packet of size
// bytes sent now.
func (t *Transport) stamp(now int64, size int) uint16 {
	seq := uint16(t.twcc.Add(1))
	t.sent[int(seq)%sentRing].Store(uint64(now/1000)<<16 | uint64(size&0xffff))
	return seq
}

func (t *Transport) feedback(fb *rtcp.TransportLayerCC) {
	t.feedbacks.Add(1)
	if f := t.onFeedback.Load(); f != nil {
		(*f)(fb)
	}
}

func (t *Transport) add(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, x := range t.downs {
		if x == d {
			return
		}
	}
	t.downs = append(t.downs, d)
}

func (t *Transport) remove(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.downs {
		if x == d {
			t.downs = append(t.downs[:i], t.downs[i+1:]...)
			return
		}
	}
}

// reportLoop sends a sender report per forwarded track every reportEvery,
// off the packet path: it reads what each DownTrack's forwarding loop
// publishes a few times a second.
func (t *Transport) reportLoop() {
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	var srs []rtcp.Packet
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		downs := append([]*DownTrack(nil), t.downs...)
		t.mu.Unlock()
		srs = srs[:0]
		now := time.Now()
		for _, d := range downs {
			if sr, ok := d.senderReport(now); ok {
				srs = append(srs, sr)
			}
			// A compound of 16 reports stays well under the MTU.
			if len(srs) == 16 {
				_ = t.writeRTCP(srs)
				srs = srs[:0]
			}
		}
		if len(srs) > 0 {
			_ = t.writeRTCP(srs)
		}
	}
}
