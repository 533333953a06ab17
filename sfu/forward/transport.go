package forward

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// Path is where a subscriber connection's packets go when the node sends
// them itself: the node's UDP socket, the subscriber's address (the ICE
// pair's remote side) and the SRTP keys the node sends with. With
// RemoteKeys (the subscriber's) the Transport also reads the subscriber's
// RTCP itself (HandleSRTCP).
type Path struct {
	Conn       BatchConn
	Addr       *net.UDPAddr
	Keys       srtpgcm.Keys
	RemoteKeys srtpgcm.Keys

	open *srtpgcm.RTCPOpener // the socket reader's
	seal *srtpgcm.RTCPSealer // the sender reports'
}

// sentRing is how many transport-wide sequence numbers keep their send
// time and size for the congestion controller (several seconds of a
// subscriber's whole downlink).
const sentRing = 4096

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
	onFeedback atomic.Pointer[func([]byte)]
	feedbacks  atomic.Uint64

	mu    sync.Mutex
	downs atomic.Pointer[[]*DownTrack] // bound ones; copied on write

	// The socket reader's (HandleSRTCP).
	in struct {
		buf    [1500]byte
		replay map[uint32]*srtpgcm.Replay
	}
	rtcpIn, rtcpRefused atomic.Uint64

	// Retransmissions draw on a token bucket of rtxRate bit/s (0: no
	// limit), so that a congested link's NACKs do not multiply the load
	// that lost the packets.
	rtxRate atomic.Int64
	rtxMu   sync.Mutex
	rtxTok  float64 // bits
	rtxAt   int64   // monotime of the last refill

	// The sender reports' (reporting): its phase, and the SSRC and last
	// SRTCP index of those it seals itself.
	phase      int
	rtcpSSRC   uint32
	srtcpIndex uint32

	closed    atomic.Bool
	closeOnce sync.Once
}

// NewTransport returns the send side of one subscriber connection;
// writeRTCP sends RTCP on it (PeerConnection.WriteRTCP). Close it with the
// connection.
func NewTransport(writeRTCP func([]rtcp.Packet) error) *Transport {
	t := &Transport{writeRTCP: writeRTCP, rtcpSSRC: rand.Uint32() | 1}
	reporting.add(t)
	return t
}

// SetPath makes the node send the connection's packets itself along p, or
// through pion's stream when p is nil. After Close it does nothing.
func (t *Transport) SetPath(p *Path) {
	if t.closed.Load() {
		return
	}
	if p != nil && p.RemoteKeys.Profile != 0 {
		p.open, _ = srtpgcm.NewRTCPOpener(p.RemoteKeys) // nil: pion reads the RTCP
	}
	if p != nil {
		p.seal, _ = srtpgcm.NewRTCPSealer(p.Keys) // nil: pion sends the reports
	}
	t.path.Store(p)
}

// ReadsRTCP reports whether the Transport reads the subscriber's RTCP
// itself (HandleSRTCP) rather than pion.
func (t *Transport) ReadsRTCP() bool {
	p := t.path.Load()
	return p != nil && p.open != nil
}

// RTCPIn returns how many authentic SRTCP packets HandleSRTCP took, and
// how many of them it refused as replays.
func (t *Transport) RTCPIn() (taken, refused uint64) { return t.rtcpIn.Load(), t.rtcpRefused.Load() }

// Batched reports whether packets take a Path.
func (t *Transport) Batched() bool { return t.path.Load() != nil }

// Close stops the sender reports and the Path.
func (t *Transport) Close() {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		t.path.Store(nil)
		reporting.remove(t)
	})
}

// NewDownTrack is NewDownTrack for a track sent on this transport.
func (t *Transport) NewDownTrack(recv *Receiver, trackID, streamID string, onBind func()) *DownTrack {
	d := NewDownTrack(recv, trackID, streamID, onBind)
	d.tr = t
	return d
}

// NewLayeredDownTrack is NewLayeredDownTrack for a simulcast track sent on
// this transport.
func (t *Transport) NewLayeredDownTrack(recv *Receiver, trackID, streamID string, onBind func()) *DownTrack {
	d := NewLayeredDownTrack(recv, trackID, streamID, onBind)
	d.tr = t
	return d
}

// OnFeedback sets what receives the subscriber's transport-wide congestion
// feedback (a send-side bandwidth estimator); Sent tells it when each
// sequence number left and how big it was. f gets the whole RTCP packet
// (RTPFB, FMT 15), valid only during the call; it runs on an RTCP reading
// goroutine and must not block.
func (t *Transport) OnFeedback(f func(fb []byte)) { t.onFeedback.Store(&f) }

// SetResendRate bounds the retransmissions to the subscriber to bps bit/s
// (0: unbounded); the session sets it from its bandwidth estimate.
func (t *Transport) SetResendRate(bps int) { t.rtxRate.Store(int64(bps)) }

// allowResend takes size bytes from the retransmission bucket, which holds
// at most a quarter second of the rate.
func (t *Transport) allowResend(now int64, size int) bool {
	rate := float64(t.rtxRate.Load())
	if rate <= 0 {
		return true
	}
	t.rtxMu.Lock()
	defer t.rtxMu.Unlock()
	if t.rtxAt != 0 {
		t.rtxTok = min(t.rtxTok+rate*float64(now-t.rtxAt)/1e9, rate/4)
	} else {
		t.rtxTok = rate / 4
	}
	t.rtxAt = now
	if t.rtxTok < float64(size*8) {
		return false
	}
	t.rtxTok -= float64(size * 8)
	return true
}

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

// wireOverhead is what IPv4 and UDP add to each packet: sizes kept for the
// estimator are the link's, so that its estimate is in the same units as a
// bottleneck's rate (where small audio packets cost a quarter more than
// their SRTP bytes).
const wireOverhead = 28

// stamp takes the next transport-wide sequence number for a packet of size
// bytes sent now.
func (t *Transport) stamp(now int64, size int) uint16 {
	seq := uint16(t.twcc.Add(1))
	t.sent[int(seq)%sentRing].Store(uint64(now/1000)<<16 | uint64(size&0xffff))
	return seq
}

func (t *Transport) feedback(fb []byte) {
	t.feedbacks.Add(1)
	if f := t.onFeedback.Load(); f != nil {
		(*f)(fb)
	}
}

func (t *Transport) bound() []*DownTrack {
	if p := t.downs.Load(); p != nil {
		return *p
	}
	return nil
}

func (t *Transport) add(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.bound()
	for _, x := range old {
		if x == d {
			return
		}
	}
	next := append(append(make([]*DownTrack, 0, len(old)+1), old...), d)
	t.downs.Store(&next)
}

func (t *Transport) remove(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var next []*DownTrack
	for _, x := range t.bound() {
		if x != d {
			next = append(next, x)
		}
	}
	t.downs.Store(&next)
}

// down is the bound DownTrack sending ssrc, nil if none.
func (t *Transport) down(ssrc uint32) (*DownTrack, *binding) {
	for _, d := range t.bound() {
		if b := d.bound.Load(); b != nil && b.ssrc == ssrc {
			return d, b
		}
	}
	return nil, nil
}

// HandleSRTCP takes an SRTCP packet that arrived from the subscriber's
// address and acts on it, as HandleRTCP does for what pion reads: but here
// in the socket's reading goroutine, without pion's four goroutine hand-offs
// and per-packet allocations (each subscriber sends about a dozen RTCP
// packets a second, mostly congestion feedback). It reports false when the
// packet is not for it (no Path reading RTCP, or not under the
// subscriber's keys): pion should have it. Call it from the one goroutine
// that reads the node's socket.
func (t *Transport) HandleSRTCP(pkt []byte) bool {
	p := t.path.Load()
	if p == nil || p.open == nil {
		return false
	}
	plain, ssrc, index, err := p.open.Open(t.in.buf[:0], pkt)
	if err != nil {
		// Not under this subscriber's keys: a client may send from one
		// port on two connections (a pion peer with a UDP mux publishes
		// and subscribes there). pion has the other's keys, or drops it.
		return false
	}
	t.rtcpIn.Add(1)
	if t.in.replay == nil {
		t.in.replay = map[uint32]*srtpgcm.Replay{}
	}
	r := t.in.replay[ssrc]
	if r == nil {
		if len(t.in.replay) >= 64 { // a subscriber uses a handful of SSRCs
			t.rtcpRefused.Add(1)
			return true
		}
		r = &srtpgcm.Replay{}
		t.in.replay[ssrc] = r
	}
	if !r.Accept(index) {
		t.rtcpRefused.Add(1)
		return true
	}
	t.handleRTCP(plain)
	return true
}

// handleRTCP walks a compound RTCP packet without allocating: receiver
// report blocks, NACKs, PLIs and FIRs, and congestion feedback.
func (t *Transport) handleRTCP(b []byte) {
	be := binary.BigEndian
	for len(b) >= 8 {
		l := 4 * (int(be.Uint16(b[2:])) + 1)
		if l > len(b) || b[0]>>6 != 2 {
			return
		}
		p := b[:l]
		b = b[l:]
		count := int(p[0] & 0x1f)
		switch p[1] {
		case 200: // SR: sender info, then report blocks
			if len(p) >= 28 {
				t.reportBlocks(p[28:], count)
			}
		case 201: // RR
			t.reportBlocks(p[8:], count)
		case 205: // transport feedback
			if len(p) < 12 {
				continue
			}
			switch count {
			case 1: // NACK
				d, bd := t.down(be.Uint32(p[8:]))
				if d == nil {
					continue
				}
				for fci := p[12:]; len(fci) >= 4; fci = fci[4:] {
					d.resend(bd, be.Uint16(fci), be.Uint16(fci[2:]))
				}
				d.flushResends()
			case 15: // transport-wide congestion control feedback
				t.feedback(p)
			}
		case 206: // payload-specific feedback
			switch {
			case count == 1 && len(p) >= 12: // PLI
				if d, _ := t.down(be.Uint32(p[8:])); d != nil {
					d.RequestKeyframe()
				}
			case count == 4: // FIR: one entry per SSRC asked
				for fci := p[12:]; len(fci) >= 8; fci = fci[8:] {
					if d, _ := t.down(be.Uint32(fci)); d != nil {
						d.RequestKeyframe()
					}
				}
			}
		}
	}
}

// reportBlocks notes count reception report blocks (RFC 3550 §6.4.1).
func (t *Transport) reportBlocks(b []byte, count int) {
	be := binary.BigEndian
	for ; count > 0 && len(b) >= 24; count, b = count-1, b[24:] {
		if d, _ := t.down(be.Uint32(b)); d != nil {
			d.noteReport(b[4], be.Uint32(b[4:])&0xffffff, be.Uint32(b[12:]), be.Uint32(b[16:]), be.Uint32(b[20:]))
		}
	}
}
