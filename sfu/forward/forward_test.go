package forward

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestDownTrackRewritesAndKeepsSequenceContiguousAcrossMute(t *testing.T) {
	src := &packets{raw: rawPacket(t, 1100), n: 30}
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
	bind(d, s, 999, 111, 0)
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
