package simpeer

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
)

const (
	fps          = 30
	maxPayload   = 1100
	audioPayload = 80 // ≈32 kbit/s of Opus at 50 packets/s
	stampAt      = 4  // send time (Unix ns) sits at payload[4:12]
)

// LayerAt is where a payload says which simulcast layer it is (0 lowest;
// 0 also for video without simulcast), NoLayer in audio.
const (
	LayerAt = stampAt + 8
	NoLayer = 0xff
)

// Out is a synthetic published track: VP8-shaped video frames (a keyframe
// first and whenever the node asks with a PLI or FIR) or Opus-sized audio
// packets, each stamped with its send time.
type Out struct {
	Source events.Source
	track  *webrtc.TrackLocalStaticRTP
	sender *webrtc.RTPSender
	video  bool
	bps    int
	// layers is a simulcast camera's encodings, lowest first (nil: one).
	layers []*Layer
	mid    string // the publish transceiver's, once negotiated

	Sent        atomic.Uint64
	KeyRequests atomic.Uint64
	// Level is the microphone level sent in the RFC 6464 header extension:
	// 0 is the loudest (0 dBov), 127 silence.
	Level    atomic.Int32
	forceKey atomic.Bool
	quit     chan struct{}
	once     sync.Once
}

// Layer is one simulcast encoding of a published camera: its RID, rate
// and what the node does with it.
type Layer struct {
	RID string
	Bps int

	track    *webrtc.TrackLocalStaticRTP
	index    byte // written after the send time in every payload
	Sent     atomic.Uint64
	active   atomic.Bool // the node's publish_layers says it is needed
	forceKey atomic.Bool
	// Paused counts the node telling the layer to stop.
	Paused atomic.Uint64
}

// Active reports whether the node last said the layer is needed (true
// until it says otherwise).
func (l *Layer) Active() bool { return l.active.Load() }

// LayerSpec is a simulcast encoding to publish.
type LayerSpec struct {
	RID string
	Bps int
}

// DefaultSimulcast is a camera in the SPA's three layers (q, h, f), at
// rates below the browser's ceilings (a 320×180 VP8 layer runs at about
// 100 kbit/s) so tests fit their links.
func DefaultSimulcast() []LayerSpec {
	return []LayerSpec{{events.RIDQuarter, 100_000}, {events.RIDHalf, 350_000}, {events.RIDFull, 1_000_000}}
}

func newOut(pc *webrtc.PeerConnection, s events.Source, bps int, videoMime string, simulcast []LayerSpec) (*Out, error) {
	video := s == events.SourceCamera || s == events.SourceScreen
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if video {
		codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		if videoMime == webrtc.MimeTypeH264 {
			// The payload stays VP8-shaped: the node never parses it.
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
		}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	// Like a browser's MediaStreamTrack.id: opaque, and not the source name.
	track, err := webrtc.NewTrackLocalStaticRTP(codec, "t"+hex.EncodeToString(b[:]), "local")
	if err != nil {
		return nil, err
	}
	if video && len(simulcast) > 0 && s == events.SourceCamera {
		return newSimulcastOut(pc, s, codec, track.ID(), simulcast)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return nil, err
	}
	o := &Out{Source: s, track: track, sender: sender, video: video, bps: bps, quit: make(chan struct{})}
	o.Level.Store(127)
	go o.readRTCP()
	return o, nil
}

// newSimulcastOut publishes a camera as one track in several encodings
// (RIDs), as a browser with sendEncodings does.
func newSimulcastOut(pc *webrtc.PeerConnection, s events.Source, codec webrtc.RTPCodecCapability, id string, layers []LayerSpec) (*Out, error) {
	o := &Out{Source: s, video: true, quit: make(chan struct{})}
	for i, l := range layers {
		track, err := webrtc.NewTrackLocalStaticRTP(codec, id, "local", webrtc.WithRTPStreamID(l.RID))
		if err != nil {
			return nil, err
		}
		ly := &Layer{RID: l.RID, Bps: l.Bps, track: track, index: byte(i)}
		ly.active.Store(true)
		o.layers = append(o.layers, ly)
		if i == 0 {
			if o.sender, err = pc.AddTrack(track); err != nil {
				return nil, err
			}
			o.track = track
		} else if err := o.sender.AddEncoding(track); err != nil {
			return nil, err
		}
	}
	o.Level.Store(127)
	for _, l := range o.layers {
		go o.readLayerRTCP(l)
	}
	return o, nil
}

// Layers is a simulcast camera's encodings, lowest first (nil without).
func (o *Out) Layers() []*Layer { return o.layers }

// Mid is the publish transceiver's mid.
func (o *Out) Mid() string { return o.mid }

// setActive applies the node's publish_layers to the encodings.
func (o *Out) setActive(active []string) {
	for _, l := range o.layers {
		on := false
		for _, a := range active {
			on = on || a == l.RID
		}
		if was := l.active.Swap(on); was && !on {
			l.Paused.Add(1)
		} else if !was && on {
			l.forceKey.Store(true) // an encoder restarts on a keyframe
		}
	}
}

func (o *Out) readLayerRTCP(l *Layer) {
	for {
		pkts, _, err := o.sender.ReadSimulcastRTCP(l.RID)
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				o.KeyRequests.Add(1)
				l.forceKey.Store(true)
			}
		}
	}
}

// TrackID is the browser-side track id declared in the publish offer.
func (o *Out) TrackID() string { return o.track.ID() }

func (o *Out) readRTCP() {
	for {
		pkts, _, err := o.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				o.KeyRequests.Add(1)
				o.forceKey.Store(true)
			}
		}
	}
}

func (o *Out) stop() { o.once.Do(func() { close(o.quit) }) }

func (o *Out) start(pc *webrtc.PeerConnection) {
	for _, t := range pc.GetTransceivers() {
		if t.Sender() == o.sender {
			o.mid = t.Mid()
		}
	}
	switch {
	case len(o.layers) > 0:
		var midID, ridID uint8
		for _, e := range o.sender.GetParameters().HeaderExtensions {
			switch e.URI {
			case sdp.SDESMidURI:
				midID = uint8(e.ID)
			case sdp.SDESRTPStreamIDURI:
				ridID = uint8(e.ID)
			}
		}
		for _, l := range o.layers {
			go o.runLayer(l, midID, ridID)
		}
	case o.video:
		go o.runVideo()
	default:
		go o.runAudio()
	}
}

// frames packetizes VP8-shaped frames for one stream: each packet's
// payload starts with a VP8 descriptor and header (a keyframe marked so),
// then the send time, then the layer's index; sequence numbers follow on
// from one frame to the next.
type frames struct {
	buf   [maxPayload]byte
	pkt   rtp.Packet
	layer byte
}

func newFrames(layer byte) *frames {
	return &frames{pkt: rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96}}, layer: layer}
}

// write sends one frame of size bytes (three times that for a keyframe,
// like real ones) at timestamp ts; ext, when set, adds each packet's header
// extensions. It answers how many packets went out.
func (f *frames) write(track *webrtc.TrackLocalStaticRTP, size int, key bool, ts uint32, ext func(*rtp.Header)) (sent uint64) {
	if key {
		size *= 3
	}
	for left := size; left > 0; {
		n := max(min(left, maxPayload), 16)
		first := left == size
		left -= n
		f.buf[0] = 0 // VP8 payload descriptor: S=0
		f.buf[1] = 1 // VP8 header: P=1 (interframe)
		if first {
			f.buf[0] = 0x10
			if key {
				f.buf[1] = 0
			}
		}
		binary.BigEndian.PutUint64(f.buf[stampAt:], uint64(time.Now().UnixNano()))
		f.buf[LayerAt] = f.layer
		f.pkt.Timestamp = ts
		f.pkt.Marker = left <= 0
		f.pkt.Payload = f.buf[:n]
		f.pkt.Header.Extensions = f.pkt.Header.Extensions[:0]
		if ext != nil {
			ext(&f.pkt.Header)
		}
		if track.WriteRTP(&f.pkt) == nil {
			sent++
		}
		f.pkt.SequenceNumber++
	}
	return sent
}

// runLayer sends one simulcast encoding, each packet with the mid and rid
// header extensions (how the node tells the encodings apart). A layer the
// node paused sends nothing (its time goes on) and restarts on a keyframe.
func (o *Out) runLayer(l *Layer, midID, ridID uint8) {
	f := newFrames(l.index)
	var ext func(*rtp.Header)
	if midID != 0 && ridID != 0 {
		ext = func(h *rtp.Header) {
			_ = h.SetExtension(midID, []byte(o.mid))
			_ = h.SetExtension(ridID, []byte(l.RID))
		}
	}
	var ts uint32
	t := time.NewTicker(time.Second / fps)
	defer t.Stop()
	key := true
	for {
		select {
		case <-o.quit:
			return
		case <-t.C:
		}
		ts += 90000 / fps
		if !l.active.Load() {
			continue
		}
		if l.forceKey.Swap(false) {
			key = true
		}
		n := f.write(l.track, l.Bps/8/fps, key, ts, ext)
		l.Sent.Add(n)
		o.Sent.Add(n)
		key = false
	}
}

func (o *Out) runVideo() {
	f := newFrames(0)
	var ts uint32
	t := time.NewTicker(time.Second / fps)
	defer t.Stop()
	key := true
	for {
		select {
		case <-o.quit:
			return
		case <-t.C:
		}
		if o.forceKey.Swap(false) {
			key = true
		}
		o.Sent.Add(f.write(o.track, o.bps/8/fps, key, ts, nil))
		key = false
		ts += 90000 / fps
	}
}

func (o *Out) runAudio() {
	var buf [audioPayload]byte
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111}}
	var levelExt uint8
	for _, e := range o.sender.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI {
			levelExt = uint8(e.ID)
		}
	}
	var level [1]byte
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-o.quit:
			return
		case <-t.C:
		}
		binary.BigEndian.PutUint64(buf[stampAt:], uint64(time.Now().UnixNano()))
		buf[LayerAt] = NoLayer
		pkt.Payload = buf[:]
		if levelExt != 0 {
			level[0] = byte(o.Level.Load()) & 0x7f
			pkt.Header.Extensions = pkt.Header.Extensions[:0]
			_ = pkt.Header.SetExtension(levelExt, level[:])
		}
		if o.track.WriteRTP(&pkt) == nil {
			o.Sent.Add(1)
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 960
	}
}

// In is an incoming track on the subscribe connection and what arrived.
type In struct {
	ID, StreamID string
	Mime         string // negotiated codec
	Kind         webrtc.RTPCodecType
	track        *webrtc.TrackRemote

	Packets   atomic.Uint64 // including duplicates
	Unique    atomic.Uint64
	Bytes     atomic.Uint64
	Keyframes atomic.Uint64
	// Frames counts frames ends (marker bits); LayerFrames by the layer
	// index a simulcast publisher writes (0 without simulcast).
	Frames      atomic.Uint64
	LayerFrames [4]atomic.Uint64
	// LayerPackets counts video packets by layer.
	LayerPackets [4]atomic.Uint64
	// Layer is the layer of the newest packet.
	Layer atomic.Int32
	// TSBack counts packets, newer by sequence number than the one before,
	// whose timestamp went back: a decoder would see time jump.
	TSBack atomic.Uint64
	// SeqJumps counts packets that skipped sequence numbers (a gap the
	// decoder would take for loss).
	SeqJumps atomic.Uint64
	firstAt  atomic.Int64 // Unix ns
	lastAt   atomic.Int64
	lastTS   uint32

	gap *Gap

	mu      sync.Mutex
	lat     []int32 // forwarding latency samples, µs
	seen    [1024]uint64
	highest int64 // extended sequence number of the newest packet, -1 before any
}

// maxSamples bounds the latency samples kept per track.
const maxSamples = 50_000

func newIn(t *webrtc.TrackRemote, g *Gap) *In {
	return &In{ID: t.ID(), StreamID: t.StreamID(), Kind: t.Kind(), Mime: t.Codec().MimeType, track: t, gap: g, lat: make([]int32, 0, 1024), highest: -1}
}

func (in *In) run() {
	var buf [1500]byte
	var pkt rtp.Packet
	for {
		n, _, err := in.track.Read(buf[:])
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		now := time.Now().UnixNano()
		in.firstAt.CompareAndSwap(0, now)
		in.lastAt.Store(now)
		if in.gap != nil {
			in.gap.note(now)
		}
		in.Packets.Add(1)
		in.Bytes.Add(uint64(n))
		p := pkt.Payload
		if in.Kind == webrtc.RTPCodecTypeVideo && len(p) > 1 && p[0]&0x10 != 0 && p[0]&0x80 == 0 && p[1]&1 == 0 {
			in.Keyframes.Add(1)
		}
		in.mu.Lock()
		s := pkt.SequenceNumber
		w, bit := s/64, uint64(1)<<(s%64)
		if in.seen[w]&bit == 0 {
			in.seen[w] |= bit
			in.Unique.Add(1)
		}
		layer := int32(0)
		if len(p) > LayerAt && in.Kind == webrtc.RTPCodecTypeVideo {
			layer = int32(p[LayerAt] & 3)
			in.LayerPackets[layer].Add(1)
		}
		if pkt.Marker {
			in.Frames.Add(1)
			in.LayerFrames[layer].Add(1)
		}
		in.Layer.Store(layer)
		if in.highest < 0 {
			in.highest = int64(s)
			in.lastTS = pkt.Timestamp
		} else if d := int16(s - uint16(in.highest)); d > 0 {
			in.highest += int64(d)
			if d > 1 {
				in.SeqJumps.Add(1)
			}
			if int32(pkt.Timestamp-in.lastTS) < 0 {
				in.TSBack.Add(1)
			}
			in.lastTS = pkt.Timestamp
		}
		far := s + 32768 // forget the far half so a wrap counts again
		in.seen[far/64] &^= uint64(1) << (far % 64)
		if len(p) >= stampAt+8 && len(in.lat) < maxSamples {
			sent := int64(binary.BigEndian.Uint64(p[stampAt:]))
			in.lat = append(in.lat, int32((now-sent)/1000))
		}
		in.mu.Unlock()
	}
}

// Mark returns how many distinct packets arrived and the extended sequence
// number of the newest: between two marks, the difference of the second is
// how many packets were sent and that of the first how many arrived.
func (in *In) Mark() (unique uint64, highest int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.Unique.Load(), in.highest
}

// FirstAt is when the first packet arrived (zero if none did).
func (in *In) FirstAt() time.Time {
	if ns := in.firstAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// LastAt is when the latest packet arrived.
func (in *In) LastAt() time.Time { return time.Unix(0, in.lastAt.Load()) }

// Latencies returns a copy of the latency samples (µs).
func (in *In) Latencies() []int32 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]int32(nil), in.lat...)
}

// ResetLatencies forgets the samples so far (e.g. the warm-up's).
func (in *In) ResetLatencies() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.lat = in.lat[:0]
}

// Gaps is the arrival record of every track a person receives, by track id.
type Gaps struct {
	mu sync.Mutex
	m  map[string]*Gap
}

// NewGaps returns an empty record.
func NewGaps() *Gaps { return &Gaps{m: map[string]*Gap{}} }

func (g *Gaps) of(trackID string) *Gap {
	g.mu.Lock()
	defer g.mu.Unlock()
	x := g.m[trackID]
	if x == nil {
		x = &Gap{}
		g.m[trackID] = x
	}
	return x
}

// Get is the record of one track, nil before any of it arrived.
func (g *Gaps) Get(trackID string) *Gap {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[trackID]
}

// Reset starts a new measure of every track at t.
func (g *Gaps) Reset(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, x := range g.m {
		x.Reset(t)
	}
}

// Gap follows the arrivals of one track id across the subscribe connections
// of successive media sessions: the longest silence since Reset is how long
// a fault cost that track.
type Gap struct {
	since atomic.Int64 // Unix ns of the last Reset
	last  atomic.Int64 // Unix ns of the newest arrival
	max   atomic.Int64 // longest silence since Reset, ns
	count atomic.Uint64
}

func (g *Gap) note(now int64) {
	prev := max(g.last.Swap(now), g.since.Load())
	if d := now - prev; d > g.max.Load() {
		g.max.Store(d)
	}
	g.count.Add(1)
}

// Reset starts a new measure at t.
func (g *Gap) Reset(t time.Time) {
	g.since.Store(t.UnixNano())
	g.max.Store(0)
}

// Longest is the longest silence since Reset, counting the one going on now.
func (g *Gap) Longest(now time.Time) time.Duration {
	cur := now.UnixNano() - max(g.last.Load(), g.since.Load())
	return time.Duration(max(g.max.Load(), cur))
}

// Since is how long ago the newest packet arrived.
func (g *Gap) Since(now time.Time) time.Duration { return now.Sub(time.Unix(0, g.last.Load())) }
