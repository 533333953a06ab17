// Package forward moves RTP from one published track to its subscribers.
//
// A Receiver reads one remote track (one read per packet into a buffer it
// owns), keeps video packets in one retransmission cache shared by all
// subscribers, and hands the parsed packet to each of its DownTracks, one
// per subscriber. The DownTrack writes what must differ per subscriber
// (SSRC, payload type, sequence numbers across gaps, timestamps, the
// transport-wide sequence number of its connection) into a header it owns,
// encrypts header+payload with AES-GCM into the Receiver's batch, and the
// batch leaves in one sendmmsg per fan-out: no allocation, lock or map
// lookup per copy. A subscriber connection's shared state (where packets
// go, SRTP keys, transport-wide numbering, congestion feedback, sender
// reports) is its Transport.
//
// Simulcast: each layer of a published track is a Receiver of its own (its
// own cache and keyframe requests), and each layer's Receiver feeds the
// DownTracks that are on it or heading for it; each DownTrack takes the
// packets of its current layer only, and moves to its target layer at that
// layer's next keyframe,
// starting a new segment of its sequence mapping with a timestamp offset
// that continues its timeline (see DownTrack.SetTarget).
package forward

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// KeyframeInterval bounds how often a Receiver asks its publisher for a
// keyframe: subscribers' PLIs and FIRs within it are folded into one.
const KeyframeInterval = 500 * time.Millisecond

// Source reads a published track's packets; *webrtc.TrackRemote is one.
type Source interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// Options describes a Receiver.
type Options struct {
	Kind  webrtc.RTPCodecType
	Codec webrtc.RTPCodecCapability
	// AudioLevelExt is the negotiated id of the ssrc-audio-level header
	// extension on the publisher's connection, 0 when absent.
	AudioLevelExt uint8
	// Keyframe asks the publisher for a keyframe (sends a PLI); it is called
	// at most once per KeyframeInterval.
	Keyframe func()
	// RID is the simulcast layer's RTP stream id, "" without simulcast.
	RID string
}

// Receiver is one published track and the subscribers it feeds.
type Receiver struct {
	opts  Options
	src   Source
	codec codecKind

	muted atomic.Bool
	// downs is copied on write so the read loop takes no lock per packet.
	downs  atomic.Pointer[[]*DownTrack]
	downMu sync.Mutex

	// cache keeps the latest packets for retransmission (video only); set
	// by Run before the first packet is forwarded.
	cache *cache

	lastKeyframeReq atomic.Int64 // unix nanos
	keyframeQueued  atomic.Bool  // a request waits for the interval to pass

	packets   atomic.Uint64
	bytesIn   atomic.Uint64
	bytesOut  atomic.Uint64 // summed over subscribers
	voiceSum  atomic.Uint64 // loudness (127-level) of voiced packets since the last Voice()
	voiceSeen atomic.Uint64
	// sendFailed counts copies the kernel refused (sendmmsg errors).
	sendFailed atomic.Uint64
	stale      atomic.Uint64 // packets dropped by skip
	lastAt     atomic.Int64  // monotime of the newest packet
	// size is the last VP8 keyframe's width<<16 | height, 0 unknown.
	size atomic.Uint32
}

// NewReceiver returns a Receiver reading src; call Run to start it.
func NewReceiver(src Source, opts Options) *Receiver {
	r := &Receiver{opts: opts, src: src, codec: codecOf(opts.Codec)}
	empty := []*DownTrack{}
	r.downs.Store(&empty)
	return r
}

// RID is the simulcast layer's stream id, "" without simulcast.
func (r *Receiver) RID() string { return r.opts.RID }

// Live reports whether a packet arrived within the last d.
func (r *Receiver) Live(d time.Duration) bool {
	at := r.lastAt.Load()
	return at != 0 && monotime()-at < int64(d)
}

// Size is the frame size of the last VP8 keyframe, 0×0 when unknown.
func (r *Receiver) Size() (width, height int) {
	v := r.size.Load()
	return int(v >> 16), int(v & 0xffff)
}

// Kind is the track's media kind.
func (r *Receiver) Kind() webrtc.RTPCodecType { return r.opts.Kind }

// Codec is the publisher's codec.
func (r *Receiver) Codec() webrtc.RTPCodecCapability { return r.opts.Codec }

// Run forwards packets until the source ends; it returns nil on a normal
// end of track.
//
// Per packet it reads once, parses the header once and, for video, files
// the packet in the track's retransmission cache (no copy: the buffer read
// into becomes the cache's, and the one it replaces the next to read into).
// Then each subscriber's copy is rewritten and encrypted into this loop's
// batch, which goes to the kernel in one sendmmsg per batchSize copies and
// at the end of the fan-out, so no copy waits for a later packet. A packet
// that waited in the node past StaleAfter (a Source with Arrivals) is
// dropped, and video resumes at a fresh keyframe (skip).
func (r *Receiver) Run() error {
	b := newBatch(batchSize)
	buf := make([]byte, bufSize)
	if r.nack() {
		r.cache, buf = newCache()
	}
	var reported uint64 // of b.failed, in sendFailed
	report := func() {
		r.sendFailed.Add(b.failed - reported)
		reported = b.failed
	}
	defer report()
	var p inPacket
	arrived := func() int64 { return 0 } // a Source that cannot tell: never stale
	if t, ok := r.src.(Arrivals); ok {
		arrived = t.Arrived
	}
	var late lateness
	for {
		n, _, err := r.src.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if !p.parse(buf[:n]) {
			continue // not RTP we can forward; the stream goes on
		}
		r.packets.Add(1)
		r.bytesIn.Add(uint64(n))
		p.now = monotime()
		r.lastAt.Store(p.now)
		p.key = r.opts.Kind != webrtc.RTPCodecTypeVideo // audio may start anywhere
		if !p.key {
			var w, h int
			if p.key, w, h = keyframeStart(r.codec, p.payload()); p.key {
				if w > 0 && h > 0 {
					r.size.Store(uint32(w)<<16 | uint32(h))
				}
			}
		}
		if r.opts.AudioLevelExt != 0 {
			if ext := p.extension(r.opts.AudioLevelExt); len(ext) > 0 {
				if l := 127 - int(ext[0]&0x7f); l >= VoicedLoudness {
					r.voiceSum.Add(uint64(l))
					r.voiceSeen.Add(1)
				}
			}
		}
		if r.skip(&late, &p, arrived()) {
			continue
		}
		if r.cache != nil {
			buf = r.cache.put(p.seq, buf[:n])
		}
		if r.muted.Load() {
			continue
		}
		downs := *r.downs.Load()
		b.since = p.now
		sent := 0
		for _, d := range downs {
			if d.writeRTP(r, &p, b) {
				sent++
			}
		}
		if b.n > 0 {
			b.flush()
		}
		if sent > 0 {
			r.bytesOut.Add(uint64(n * sent))
		}
		if b.failed != reported {
			report()
		}
	}
}

// nack reports whether subscribers may NACK the track's packets: video,
// whose codecs the node offers with NACK feedback (Opus has FEC instead).
func (r *Receiver) nack() bool { return r.opts.Kind == webrtc.RTPCodecTypeVideo }

// SetMuted stops or resumes forwarding to every subscriber at once. On
// resume each DownTrack continues its sequence numbers without a gap and the
// publisher is asked for a keyframe so video restarts cleanly.
func (r *Receiver) SetMuted(m bool) {
	if r.muted.Swap(m) == m || m {
		return
	}
	r.resync()
	r.RequestKeyframe()
}

// resync has the subscribers on this layer close the gap in sequence
// numbers left by packets not forwarded, so they see no loss to NACK.
func (r *Receiver) resync() {
	for _, d := range *r.downs.Load() {
		if d.cur.Load() == r {
			d.resync.Store(true)
		}
	}
}

// Muted reports whether forwarding is stopped.
func (r *Receiver) Muted() bool { return r.muted.Load() }

// RequestKeyframe asks the publisher for a keyframe, at most once per
// KeyframeInterval: a request within the interval is sent when it ends
// (folded with any others), never dropped, so a subscriber that joins right
// after another still gets its keyframe promptly. Audio has no keyframes.
func (r *Receiver) RequestKeyframe() {
	if r.opts.Kind != webrtc.RTPCodecTypeVideo || r.opts.Keyframe == nil {
		return
	}
	now := time.Now().UnixNano()
	last := r.lastKeyframeReq.Load()
	wait := int64(KeyframeInterval) - (now - last)
	if wait <= 0 {
		if r.lastKeyframeReq.CompareAndSwap(last, now) {
			r.opts.Keyframe()
			return
		}
		wait = int64(KeyframeInterval)
	}
	if r.keyframeQueued.Swap(true) {
		return
	}
	time.AfterFunc(time.Duration(wait), func() {
		r.keyframeQueued.Store(false)
		r.lastKeyframeReq.Store(time.Now().UnixNano())
		r.opts.Keyframe()
	})
}

// AddDown starts feeding d if d sends this layer or is heading for it
// (always, for a track without simulcast). A DownTrack of a simulcast track
// joins a layer's list when it targets the layer and leaves it once it is
// neither on it nor heading for it (SetTarget, the switch), so each packet
// walks only the subscribers that may take it — not every subscriber of
// the track once per layer.
func (r *Receiver) AddDown(d *DownTrack) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped && (d.cur.Load() == r || d.target.Load() == r) {
		r.feed(d)
	}
}

// feed adds d to the list the read loop walks, once. The list is copied on
// write, so the loop takes no lock per packet; it changes on subscription,
// layer switches and pauses only.
func (r *Receiver) feed(d *DownTrack) {
	r.downMu.Lock()
	defer r.downMu.Unlock()
	old := *r.downs.Load()
	for _, x := range old {
		if x == d {
			return
		}
	}
	next := make([]*DownTrack, 0, len(old)+1)
	next = append(next, old...)
	next = append(next, d)
	r.downs.Store(&next)
}

// drop removes d from the list the read loop walks.
func (r *Receiver) drop(d *DownTrack) {
	r.downMu.Lock()
	defer r.downMu.Unlock()
	old := *r.downs.Load()
	i := 0
	for i < len(old) && old[i] != d {
		i++
	}
	if i == len(old) {
		return
	}
	next := make([]*DownTrack, 0, len(old)-1)
	next = append(next, old[:i]...)
	next = append(next, old[i+1:]...)
	r.downs.Store(&next)
}

// PacketOverhead is what a forwarded copy costs on the link beyond the
// bytes the publisher sent: IPv4 and UDP (28), the SRTP tag (16) and the
// transport-wide sequence number (8), less the publisher's own header
// extensions the node drops (about 8).
const PacketOverhead = 28 + 16 + 8 - 8

// Stats are a Receiver's counters since it started.
type Stats struct {
	Packets, BytesIn, BytesOut uint64
	// SendFailed is how many batched copies the kernel refused.
	SendFailed uint64
	// Stale is how many packets were not forwarded because they waited
	// in the node past StaleAfter, or followed such a gap before the
	// next keyframe.
	Stale uint64
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	return Stats{Packets: r.packets.Load(), BytesIn: r.bytesIn.Load(), BytesOut: r.bytesOut.Load(),
		SendFailed: r.sendFailed.Load(), Stale: r.stale.Load()}
}

// VoicedLoudness is the loudness (127 minus the RFC 6464 level in -dBov)
// above which a packet counts as voice: louder than -50 dBov, above a quiet
// room's noise floor once the browser's noise suppression ran.
const VoicedLoudness = 127 - 50

// Voice returns how many packets since the previous call carried voice, and
// their mean loudness (0 silent … 127 loudest). Counting voiced packets
// rather than averaging all of them keeps short syllables — and Chromium's
// fake-microphone beep — from being diluted by the pauses around them.
func (r *Receiver) Voice() (packets, loudness int) {
	n := r.voiceSeen.Swap(0)
	sum := r.voiceSum.Swap(0)
	if n == 0 {
		return 0, 0
	}
	return int(n), int(sum / n)
}
