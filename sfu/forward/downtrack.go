package forward

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
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
	stream webrtc.TrackLocalWriter
}

// DownTrack is one subscriber's copy of a Receiver's track. It is a
// webrtc.TrackLocal: add it to the subscriber's PeerConnection and pion binds
// it to that connection's SRTP stream.
type DownTrack struct {
	id, streamID string
	recv         *Receiver

	bound atomic.Pointer[binding]
	// OnBind runs once the subscriber's connection negotiated the track (a
	// good moment to ask for a keyframe).
	onBind func()

	// Only the Receiver's read loop touches the fields below (writeRTP).
	hdr     rtp.Header
	ext     [4]rtp.Extension // backing store for interceptors' extensions
	started bool
	lastSeq uint16
	offset  uint16

	resync atomic.Bool // set when packets were skipped: close the gap
}

// NewDownTrack returns a DownTrack of recv whose ids the subscriber's browser
// sees as MediaStreamTrack.id (trackID) and MediaStream.id (streamID).
// onBind may be nil.
func NewDownTrack(recv *Receiver, trackID, streamID string, onBind func()) *DownTrack {
	return &DownTrack{id: trackID, streamID: streamID, recv: recv, onBind: onBind}
}

// ID implements webrtc.TrackLocal.
func (d *DownTrack) ID() string { return d.id }

// RID implements webrtc.TrackLocal; a DownTrack sends one layer.
func (d *DownTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (d *DownTrack) StreamID() string { return d.streamID }

// Kind implements webrtc.TrackLocal.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.recv.opts.Kind }

// Bind implements webrtc.TrackLocal: it picks the negotiated payload type of
// the publisher's codec and starts writing to the connection.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := MatchCodec(d.recv.opts.Codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, ErrNoCodec
	}
	d.resync.Store(true)
	d.bound.Store(&binding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(codec.PayloadType), stream: ctx.WriteStream()})
	if d.onBind != nil {
		d.onBind()
	}
	return codec, nil
}

// Unbind implements webrtc.TrackLocal.
func (d *DownTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	if b := d.bound.Load(); b != nil && b.id == ctx.ID() {
		d.bound.CompareAndSwap(b, nil)
	}
	return nil
}

// writeRTP sends one packet to the subscriber and reports whether it did.
// Sequence numbers stay contiguous across packets not sent (mute, before
// bind), so the subscriber sees no loss to NACK for.
func (d *DownTrack) writeRTP(p *rtp.Packet) bool {
	b := d.bound.Load()
	if b == nil {
		d.resync.Store(true)
		return false
	}
	in := p.SequenceNumber
	if !d.started {
		d.started = true
		d.offset = 0
		d.resync.Store(false)
	} else if d.resync.Load() {
		d.resync.Store(false)
		d.offset = in - d.lastSeq - 1
	}
	out := in - d.offset
	// Forward the publisher's header but none of its extensions: their ids
	// were negotiated on another connection. Interceptors add their own into
	// d.ext's storage, so nothing is allocated.
	d.hdr = p.Header
	d.hdr.Extension = false
	d.hdr.Extensions = d.ext[:0]
	d.hdr.ExtensionProfile = 0
	d.hdr.SSRC = b.ssrc
	d.hdr.PayloadType = b.pt
	d.hdr.SequenceNumber = out
	if int16(out-d.lastSeq) > 0 {
		d.lastSeq = out
	}
	_, err := b.stream.WriteRTP(&d.hdr, p.Payload)
	return err == nil
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
