package forward

import (
	"io"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// packets is a Source that replays n copies of one packet with growing
// sequence numbers, running f before each read.
type packets struct {
	raw    []byte
	n, i   int
	before func(i int)
}

func (p *packets) Read(b []byte) (int, interceptor.Attributes, error) {
	if p.i >= p.n {
		return 0, nil, io.EOF
	}
	if p.before != nil {
		p.before(p.i)
	}
	copy(b, p.raw)
	b[2], b[3] = byte(p.i>>8), byte(p.i)
	p.i++
	return len(p.raw), nil, nil
}

// sink is a subscriber's write stream that keeps what it was given.
type sink struct {
	seqs   []uint16
	ssrc   uint32
	pt     uint8
	keep   bool
	writes int
}

func (s *sink) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	s.writes++
	s.ssrc, s.pt = h.SSRC, h.PayloadType
	if s.keep {
		s.seqs = append(s.seqs, h.SequenceNumber)
	}
	return len(payload), nil
}
func (s *sink) Write(b []byte) (int, error) { return len(b), nil }

func rawPacket(t testing.TB) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 100, SSRC: 1234, Timestamp: 1}, Payload: make([]byte, 1100)}
	if err := p.Header.SetExtension(3, []byte{0x80 | 30}); err != nil {
		t.Fatal(err)
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// bind attaches a DownTrack to a sink as pion's Bind would.
func bind(d *DownTrack, s *sink, ssrc uint32, pt uint8) {
	d.bound.Store(&binding{id: "b", ssrc: ssrc, pt: pt, stream: s})
}

func TestDownTrackRewritesAndKeepsSequenceContiguousAcrossMute(t *testing.T) {
	src := &packets{raw: rawPacket(t), n: 30}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeAudio, AudioLevelExt: 3})
	src.before = func(i int) {
		switch i {
		case 10:
			r.SetMuted(true)
		case 20:
			r.SetMuted(false)
		}
	}
	s := &sink{keep: true}
	d := NewDownTrack(r, "p-mic", "p", nil)
	bind(d, s, 999, 111)
	r.AddDown(d)
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	if len(s.seqs) != 20 {
		t.Fatalf("forwarded %d packets, want 20 (10 muted)", len(s.seqs))
	}
	for i := 1; i < len(s.seqs); i++ {
		if s.seqs[i] != s.seqs[i-1]+1 {
			t.Fatalf("sequence jumps %d → %d at %d", s.seqs[i-1], s.seqs[i], i)
		}
	}
	if s.ssrc != 999 || s.pt != 111 {
		t.Fatalf("ssrc/pt %d/%d, want the subscriber's 999/111", s.ssrc, s.pt)
	}
	if n, l := r.Voice(); n != 30 || l != 127-30 {
		t.Fatalf("voice: %d packets at loudness %d, want 30 at %d", n, l, 127-30)
	}
	if n, _ := r.Voice(); n != 0 {
		t.Fatalf("voice counted again after being read: %d packets", n)
	}
}

func TestForwardingAllocatesNothingPerPacket(t *testing.T) {
	raw := rawPacket(t)
	sinks := make([]*sink, 10)
	src := &packets{raw: raw}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo})
	for i := range sinks {
		sinks[i] = &sink{}
		d := NewDownTrack(r, "t", "s", nil)
		bind(d, sinks[i], uint32(i), 96)
		r.AddDown(d)
	}
	src.n = 1 // warm up
	_ = r.Run()
	allocs := testing.AllocsPerRun(3, func() {
		src.i, src.n = 0, 1000
		_ = r.Run()
	})
	// Run's own setup may allocate a little; 1000 packets × 10 copies must not.
	if allocs > 5 {
		t.Fatalf("%.0f allocations for 1000 packets to 10 subscribers", allocs)
	}
	if sinks[9].writes < 3000 {
		t.Fatalf("subscriber got %d writes", sinks[9].writes)
	}
}

// BenchmarkForward is the node's own cost per forwarded copy, without
// SRTP and the kernel (see make bench for the whole path).
func BenchmarkForward(b *testing.B) {
	src := &packets{raw: rawPacket(b)}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo})
	for i := 0; i < 50; i++ {
		d := NewDownTrack(r, "t", "s", nil)
		bind(d, &sink{}, uint32(i), 96)
		r.AddDown(d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	src.n = b.N
	_ = r.Run()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/copy")
}

func TestMatchCodecPicksTheSubscribersPayloadType(t *testing.T) {
	h264 := func(pt uint8, profile string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(pt), RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile}}
	}
	have := []webrtc.RTPCodecParameters{
		{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}},
		h264(102, "42001f"), h264(106, "42e01f"), h264(112, "640032"),
		{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}},
	}
	cases := []struct {
		want webrtc.RTPCodecCapability
		pt   webrtc.PayloadType
	}{
		{webrtc.RTPCodecCapability{MimeType: "video/vp8", ClockRate: 90000}, 96},
		{h264(0, "42e034").RTPCodecCapability, 106}, // same profile, other level
		{h264(0, "640028").RTPCodecCapability, 112},
		{h264(0, "4d001f").RTPCodecCapability, 102}, // no exact profile: any H.264 beats none
		{webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, 111},
	}
	for _, c := range cases {
		got, ok := MatchCodec(c.want, have)
		if !ok || got.PayloadType != c.pt {
			t.Errorf("%s %s: got %d %v, want %d", c.want.MimeType, c.want.SDPFmtpLine, got.PayloadType, ok, c.pt)
		}
	}
	if _, ok := MatchCodec(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, have); ok {
		t.Error("AV1 matched a subscriber without AV1")
	}
}
