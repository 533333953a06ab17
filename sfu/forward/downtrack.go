package forward

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// ErrNoCodec means the subscriber's connection did not negotiate the
// publisher's codec.
var ErrNoCodec = errors.New("forward: subscriber did not negotiate the codec")

// binding is what one Bind negotiated; swapped atomically so the write path
// reads it without a lock.
type binding struct {
	id     string
	ssrc   uint32
	pt     uint8
	twccID uint8 // transport-wide sequence number extension id, 0 = not negotiated
	stream webrtc.TrackLocalWriter
}

// DownTrack is one subscriber's copy of a Receiver's track. It is a
// webrtc.TrackLocal: add it to the subscriber's PeerConnection and pion binds
// it to that connection's SRTP stream.
//
// Each copy gets the subscriber's own SSRC, payload type, sequence numbers
// (contiguous across what the subscriber did not get) and timestamps, and a
// transport-wide sequence number when the connection negotiated one. With
// its Transport's Path it is encrypted into the forwarding goroutine's
// batch and sent with the rest of the fan-out; without, it goes through
// pion's stream.
type DownTrack struct {
	id, streamID string
	recv         *Receiver
	tr           *Transport // nil: always pion's stream

	bound atomic.Pointer[binding]
	// OnBind runs once the subscriber's connection negotiated the track (a
	// good moment to ask for a keyframe).
	onBind func()

	resync atomic.Bool // set when packets were skipped: close the gap

	// cur is the layer whose packets go out (nil: none yet, or paused),
	// target the one to be on: a DownTrack moves to its target at the
	// target's next keyframe. A track without simulcast has one layer,
	// both from the start. cur is written under mu only.
	cur, target atomic.Pointer[Receiver]
	switches    atomic.Uint64
	stopped     bool // by Stop, under mu: nothing feeds it again

	// mu serialises writeRTP: each layer's Receiver forwards from its own
	// goroutine, and at a switch the old layer's and the new one's meet
	// here. Otherwise it is only ever taken by one goroutine (uncontended).
	// It also orders changes of cur and target with the layers' lists of
	// DownTracks (taken before a Receiver's downMu).
	mu       sync.Mutex
	started  bool
	lastSeq  uint16 // highest sequence number sent
	roc      uint32 // its rollover counter
	offset   uint16 // in - out sequence number
	tsOffset uint32 // out - in timestamp (moved by layer switches)
	segStart uint16 // incoming sequence number where offset began
	lastTS   uint32 // timestamp of the newest packet sent
	lastAt   int64  // and its monotime
	fwd      sender
	o        out
	packets  uint32
	octets   uint32
	fast     uint64
	slow     uint64
	pubAt    int64 // monotime of the last publish to st

	// segs maps the subscriber's sequence numbers back to the publisher's,
	// for NACKs; st is what the forwarding goroutine publishes for sender
	// reports and retransmissions; rep what the subscriber reported.
	segs atomic.Pointer[[]segment]
	st   sendState
	rep  reports

	rtxMu sync.Mutex // NACKs come from pion's RTCP reader or the socket's
	rtx   *retransmitter
}

// segment is one stretch of a DownTrack's sequence numbers with a constant
// mapping to the publisher's: it begins at extended (rollover-counted)
// sequence number from.
type segment struct {
	from     uint64
	offset   uint16
	tsOffset uint32
	recv     *Receiver // the layer whose packets (and cache) it maps
}

// maxSegments is how many mappings a DownTrack remembers: NACKs reach
// back a second or so, and mappings change on unmute, resume and layer
// switches.
const maxSegments = 8

// publishEvery is how often the forwarding goroutine publishes a
// DownTrack's send state.
const publishEvery = 100_000_000 // ns

type sendState struct {
	at      atomic.Int64  // monotime of the last packet
	ts      atomic.Uint32 // its RTP timestamp
	ext     atomic.Uint64 // highest extended sequence number sent
	packets atomic.Uint32
	octets  atomic.Uint32
	fast    atomic.Uint64
	slow    atomic.Uint64
	// lastSR is the middle 32 bits of the NTP time of the last sender
	// report, lastSRAt its monotime (for round trips from receiver reports).
	lastSR   atomic.Uint32
	lastSRAt atomic.Int64
}

// NewDownTrack returns a DownTrack of recv whose ids the subscriber's browser
// sees as MediaStreamTrack.id (trackID) and MediaStream.id (streamID).
// onBind may be nil. It writes through pion's stream only; use
// Transport.NewDownTrack for the batched path.
func NewDownTrack(recv *Receiver, trackID, streamID string, onBind func()) *DownTrack {
	d := &DownTrack{id: trackID, streamID: streamID, recv: recv, onBind: onBind}
	d.cur.Store(recv)
	d.target.Store(recv)
	return d
}

// NewLayeredDownTrack is a DownTrack of a simulcast track: it sends nothing
// until SetTarget names a layer and that layer's keyframe arrives. recv is
// any of the track's layers (they share kind and codec). Add it to every
// layer's Receiver.
func NewLayeredDownTrack(recv *Receiver, trackID, streamID string, onBind func()) *DownTrack {
	d := &DownTrack{id: trackID, streamID: streamID, recv: recv, onBind: onBind}
	return d
}

// SetTarget picks the layer the subscriber is to receive; nil pauses the
// track (nothing is sent; the sequence numbers continue without a gap when
// it resumes). A new layer takes over at its next keyframe, which it is
// asked for (throttled by the Receiver); until then the current one goes
// on, so the picture never stops for a switch. It reports whether the
// target changed.
func (d *DownTrack) SetTarget(r *Receiver) bool { return d.retarget(r, false) }

// Stop ends the DownTrack: no layer feeds it any more, and no target will.
func (d *DownTrack) Stop() { d.retarget(nil, true) }

func (d *DownTrack) retarget(r *Receiver, stop bool) bool {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return false
	}
	d.stopped = stop
	old := d.target.Load()
	if old == r {
		d.mu.Unlock()
		return false
	}
	d.target.Store(r)
	cur := d.cur.Load()
	if r == nil && cur != nil {
		d.cur.Store(nil)
		cur.drop(d)
	}
	if old != nil && old != cur {
		old.drop(d)
	}
	if r != nil {
		r.feed(d)
	}
	d.mu.Unlock()
	// Outside mu: the request may write to the publisher's connection.
	if r != nil && cur != r {
		r.RequestKeyframe()
	}
	return true
}

// Target is the layer the DownTrack is to send, nil when paused.
func (d *DownTrack) Target() *Receiver { return d.target.Load() }

// Current is the layer it sends now, nil when none (paused, or waiting for
// the first keyframe).
func (d *DownTrack) Current() *Receiver { return d.cur.Load() }

// Switches is how many times the DownTrack started on a layer.
func (d *DownTrack) Switches() uint64 { return d.switches.Load() }

// RequestKeyframe asks for a keyframe of what the subscriber receives, or
// is about to.
func (d *DownTrack) RequestKeyframe() {
	if r := d.cur.Load(); r != nil {
		r.RequestKeyframe()
	} else if r := d.target.Load(); r != nil {
		r.RequestKeyframe()
	}
}

// ID implements webrtc.TrackLocal.
func (d *DownTrack) ID() string { return d.id }

// RID implements webrtc.TrackLocal; a DownTrack sends one layer.
func (d *DownTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (d *DownTrack) StreamID() string { return d.streamID }

// Kind implements webrtc.TrackLocal.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.recv.opts.Kind }

// Receiver is the track this is a copy of.
func (d *DownTrack) Receiver() *Receiver { return d.recv }

// Bind implements webrtc.TrackLocal: it picks the negotiated payload type of
// the publisher's codec and starts writing to the connection.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := MatchCodec(d.recv.opts.Codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, ErrNoCodec
	}
	b := &binding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(codec.PayloadType), stream: ctx.WriteStream()}
	if d.tr != nil {
		for _, e := range ctx.HeaderExtensions() {
			if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 256 {
				b.twccID = uint8(e.ID)
			}
		}
	}
	d.resync.Store(true)
	d.bound.Store(b)
	if d.tr != nil {
		d.tr.add(d)
	}
	if d.onBind != nil {
		d.onBind()
	}
	return codec, nil
}

// Unbind implements webrtc.TrackLocal.
func (d *DownTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	if b := d.bound.Load(); b != nil && b.id == ctx.ID() {
		if d.bound.CompareAndSwap(b, nil) && d.tr != nil {
			d.tr.remove(d)
		}
	}
	return nil
}

// Sent returns how many copies went on the batched path and through pion's
// stream (as of a tenth of a second ago).
func (d *DownTrack) Sent() (batched, pion uint64) { return d.st.fast.Load(), d.st.slow.Load() }

// writeRTP sends one packet of layer from to the subscriber and reports
// whether it did. Sequence numbers stay contiguous across packets not sent
// (mute, pause, before bind, a layer switch), so the subscriber sees no
// loss to NACK for; at a switch the timestamps go on from the last one
// sent by the time that passed, so the decoder's timeline never jumps.
func (d *DownTrack) writeRTP(from *Receiver, p *inPacket, b *batch) bool {
	if from != d.cur.Load() && (from != d.target.Load() || !p.key) {
		return false // another layer's, or not where the target may begin
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	bd := d.bound.Load()
	if bd == nil {
		d.resync.Store(true)
		return false
	}
	in := p.seq
	var roc uint32
	if from != d.cur.Load() {
		if from != d.target.Load() || !p.key {
			return false // the target moved while this one waited for mu
		}
		d.switchTo(from, p)
	}
	switch {
	case !d.started:
		d.started = true
		d.offset, d.lastSeq, d.roc, d.segStart = 0, in, 0, in
		d.resync.Store(false)
		d.newSegment(uint64(in))
	case d.resync.Load():
		d.resync.Store(false)
		d.offset = in - d.lastSeq - 1
		d.segStart = in
		d.newSegment(uint64(d.roc)<<16 | uint64(d.lastSeq) + 1)
		fallthrough
	default:
		if int16(in-d.segStart) < 0 {
			return false // from before this mapping began: never the subscriber's
		}
		var ok bool
		if roc, ok = d.advance(in - d.offset); !ok {
			return false
		}
	}
	o := &d.o
	o.pt, o.ssrc, o.seq, o.ts = bd.pt, bd.ssrc, in-d.offset, p.ts+d.tsOffset
	d.lastTS, d.lastAt = o.ts, p.now
	o.twccID = 0
	if bd.twccID != 0 {
		o.twccID = bd.twccID
		o.twccSeq = d.tr.stamp(p.now, wireOverhead+12+len(p.csrc)+8+len(p.body)+srtpgcm.TagLen)
	}
	d.packets++
	d.octets += uint32(len(p.body))
	var path *Path
	if d.tr != nil {
		path = d.tr.path.Load()
	}
	sent, batched := d.fwd.send(b, path, bd, p, o, roc)
	if batched {
		d.fast++
	} else {
		d.slow++
	}
	if p.now-d.pubAt >= publishEvery || d.pubAt == 0 {
		d.publish(p.now, o.ts)
	}
	return sent
}

// switchTo makes layer r the one sent, from its keyframe p on. Call with
// mu. The first packet of the new layer gets the next sequence number and a
// timestamp as far past the last one sent as the time since it (at least
// one tick): the decoder sees one stream whose frames keep coming.
func (d *DownTrack) switchTo(r *Receiver, p *inPacket) {
	if old := d.cur.Swap(r); old != nil && old != d.target.Load() {
		old.drop(d)
	}
	d.switches.Add(1)
	if !d.started {
		return // the first packet starts the first segment
	}
	d.resync.Store(false)
	d.offset = p.seq - d.lastSeq - 1
	d.segStart = p.seq
	// p.now was taken when its fan-out began, which may be before the old
	// layer's last packet went: then one tick.
	gap := uint32(1)
	if elapsed := p.now - d.lastAt; elapsed > 0 {
		gap = max(1, uint32(elapsed*int64(d.recv.opts.Codec.ClockRate)/1e9))
	}
	d.tsOffset = d.lastTS + gap - p.ts
	d.newSegment(uint64(d.roc)<<16 | uint64(d.lastSeq) + 1)
}

// advance notes that sequence number seq goes out and returns its rollover
// counter; false for a packet from before the first one sent.
func (d *DownTrack) advance(seq uint16) (uint32, bool) {
	diff := int16(seq - d.lastSeq)
	switch {
	case diff > 0:
		if seq < d.lastSeq {
			d.roc++
		}
		d.lastSeq = seq
		return d.roc, true
	case seq > d.lastSeq: // older, from before the last wrap
		return d.roc - 1, d.roc > 0
	}
	return d.roc, true
}

// publish makes the send state visible to the report loop and the
// retransmitter.
func (d *DownTrack) publish(now int64, ts uint32) {
	d.pubAt = now
	d.st.at.Store(now)
	d.st.ts.Store(ts)
	d.st.ext.Store(uint64(d.roc)<<16 | uint64(d.lastSeq))
	d.st.packets.Store(d.packets)
	d.st.octets.Store(d.octets)
	d.st.fast.Store(d.fast)
	d.st.slow.Store(d.slow)
}

// newSegment starts a new sequence mapping at extended number from.
func (d *DownTrack) newSegment(from uint64) {
	var next []segment
	if old := d.segs.Load(); old != nil {
		next = append(next, (*old)[max(0, len(*old)-maxSegments+1):]...)
	}
	next = append(next, segment{from: from, offset: d.offset, tsOffset: d.tsOffset, recv: d.cur.Load()})
	d.segs.Store(&next)
}

// MatchCodec finds the publisher's codec among a subscriber's negotiated
// ones: same MIME type and clock rate, and for H.264 the same profile and
// packetization mode when the subscriber offers a choice.
func MatchCodec(want webrtc.RTPCodecCapability, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var loose *webrtc.RTPCodecParameters
	for i := range have {
		c := &have[i]
		if !strings.EqualFold(c.MimeType, want.MimeType) || c.ClockRate != want.ClockRate {
			continue
		}
		if !strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) || h264Key(c.SDPFmtpLine) == h264Key(want.SDPFmtpLine) {
			return *c, true
		}
		if loose == nil {
			loose = c
		}
	}
	if loose != nil {
		return *loose, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// h264Key is what must agree between two H.264 formats: the profile (the
// first two bytes of profile-level-id; the level may differ) and the
// packetization mode.
func h264Key(fmtp string) string {
	p := fmtpValue(fmtp, "profile-level-id")
	if len(p) > 4 {
		p = p[:4]
	}
	return p + "/" + fmtpValue(fmtp, "packetization-mode")
}

func fmtpValue(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return strings.ToLower(v)
		}
	}
	return ""
}
