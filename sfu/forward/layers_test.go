package forward

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// vp8Packet is one packet of a VP8 layer: seq and ts of that layer's own
// numbering, a keyframe's first packet when key.
func vp8Packet(seq uint16, ts uint32, key bool) []byte {
	b := make([]byte, 12+20)
	b[0], b[1] = 0x80, 96
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	pl := b[12:]
	pl[0] = 0x10 // S, partition 0
	pl[1] = 1    // P: interframe
	if key {
		pl[1] = 0
		pl[4], pl[5], pl[6] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(pl[7:], 640)
		binary.LittleEndian.PutUint16(pl[9:], 360)
	}
	return b
}

// feed hands one packet of layer r to d as r's forwarding loop would.
func feed(r *Receiver, d *DownTrack, raw []byte, now int64) bool {
	var p inPacket
	if !p.parse(raw) {
		panic("bad packet")
	}
	p.now = now
	p.key, _, _ = keyframeStart(r.codec, p.payload())
	return d.writeRTP(r, &p, nil)
}

func TestLayerSwitchWaitsForKeyframeAndKeepsTheStreamContinuous(t *testing.T) {
	vp8 := Options{Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	lo, hi := NewReceiver(nil, vp8), NewReceiver(nil, vp8)
	s := &sink{keep: true}
	d := NewLayeredDownTrack(lo, "p-camera", "p", nil)
	bind(d, s, 7, 96, 0)
	frame := int64(33 * time.Millisecond)
	now := int64(time.Hour)
	// Before any target nothing goes, keyframe or not.
	if feed(lo, d, vp8Packet(100, 5000, true), now) {
		t.Fatal("sent before a target was set")
	}
	d.SetTarget(lo)
	// The low layer starts at its keyframe, not before.
	if feed(lo, d, vp8Packet(101, 5000, false), now) {
		t.Fatal("started on a delta frame")
	}
	for i := 0; i < 10; i++ {
		if !feed(lo, d, vp8Packet(uint16(102+i), 8000+uint32(i)*3000, i == 0), now+int64(i)*frame) {
			t.Fatalf("low layer packet %d not sent", i)
		}
		// The high layer's packets are not this subscriber's.
		if feed(hi, d, vp8Packet(uint16(60000+i), 900000+uint32(i)*3000, true), now+int64(i)*frame) {
			t.Fatal("a layer other than the target was sent")
		}
	}
	// Switch up: the low layer goes on until the high one's keyframe.
	d.SetTarget(hi)
	now += 10 * frame
	if !feed(lo, d, vp8Packet(112, 38000, false), now) {
		t.Fatal("current layer stopped before the new one's keyframe")
	}
	if feed(hi, d, vp8Packet(65534, 2000000, false), now) {
		t.Fatal("switched on a delta frame")
	}
	// The high layer's keyframe, across its own sequence wrap.
	for i := 0; i < 5; i++ {
		if !feed(hi, d, vp8Packet(uint16(65535+i), 2000000+uint32(i)*3000, i == 0), now+int64(i+1)*frame) {
			t.Fatalf("high layer packet %d not sent", i)
		}
		if feed(lo, d, vp8Packet(uint16(113+i), 41000+uint32(i)*3000, false), now) {
			t.Fatal("old layer sent after the switch")
		}
	}
	// Pause, then resume on the low layer: nothing while paused, and the
	// numbering goes on without a gap.
	d.SetTarget(nil)
	if feed(hi, d, vp8Packet(4, 2015000, true), now+6*frame) {
		t.Fatal("sent while paused")
	}
	d.SetTarget(lo)
	now += 20 * frame
	if !feed(lo, d, vp8Packet(200, 100000, true), now) || !feed(lo, d, vp8Packet(201, 100000, false), now) {
		t.Fatal("resume did not send")
	}
	for i := 1; i < len(s.seqs); i++ {
		if s.seqs[i] != s.seqs[i-1]+1 {
			t.Fatalf("sequence jumps %d → %d at %d: %v", s.seqs[i-1], s.seqs[i], i, s.seqs)
		}
		if dt := int32(s.tss[i] - s.tss[i-1]); dt < 0 || dt > 90000 {
			t.Fatalf("timestamp moves by %d at %d: %v", dt, i, s.tss)
		}
	}
	if len(s.seqs) != 10+1+5+2 {
		t.Fatalf("%d packets sent, want 18", len(s.seqs))
	}
	if d.Switches() != 3 {
		t.Fatalf("%d switches, want 3", d.Switches())
	}
	// A frame's worth of ticks at the switch, as the time since the last
	// packet says (one frame).
	if dt, want := s.tss[11]-s.tss[10], uint32(frame*90000/1e9); dt != want {
		t.Fatalf("timestamp step at the switch %d, want %d", dt, want)
	}
}

func TestKeyframeStart(t *testing.T) {
	if k, w, h := keyframeStart(codecVP8, vp8Packet(1, 1, true)[12:]); !k || w != 640 || h != 360 {
		t.Fatalf("vp8 keyframe: %v %dx%d", k, w, h)
	}
	if k, _, _ := keyframeStart(codecVP8, vp8Packet(1, 1, false)[12:]); k {
		t.Fatal("vp8 delta frame taken for a keyframe")
	}
	// With X, I (15-bit picture id), L and T.
	ext := []byte{0x90, 0xe0, 0x80 | 0x12, 0x34, 0x05, 0x40, 0x00, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}
	if k, w, h := keyframeStart(codecVP8, ext); !k || w != 640 || h != 360 {
		t.Fatalf("vp8 keyframe with extensions: %v %dx%d", k, w, h)
	}
	stap := []byte{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}
	if !keyframeStart2(codecH264, stap) || keyframeStart2(codecH264, []byte{0x41, 0}) ||
		!keyframeStart2(codecH264, []byte{0x7c, 0x85}) || keyframeStart2(codecH264, []byte{0x7c, 0x05}) {
		t.Fatal("h264 keyframe starts")
	}
	if !keyframeStart2(codecVP9, []byte{0x08}) || keyframeStart2(codecVP9, []byte{0x48}) {
		t.Fatal("vp9 keyframe starts")
	}
}

func keyframeStart2(k codecKind, p []byte) bool { key, _, _ := keyframeStart(k, p); return key }

// Each layer hands its packets only to the subscribers on it or heading
// for it: with three layers, a packet is not offered to every subscriber
// three times.
func TestLayerListsFollowTheTarget(t *testing.T) {
	vp8 := Options{Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	lo, mid, hi := NewReceiver(nil, vp8), NewReceiver(nil, vp8), NewReceiver(nil, vp8)
	layers := []*Receiver{lo, mid, hi}
	d := NewLayeredDownTrack(lo, "p-camera", "p", nil)
	bind(d, &sink{}, 7, 96, 0)
	lists := func(want ...int) {
		t.Helper()
		for i, l := range layers {
			if downs(l) != want[i] {
				t.Fatalf("layer %d feeds %d DownTracks, want %d (lists %d/%d/%d)", i, downs(l), want[i], downs(lo), downs(mid), downs(hi))
			}
		}
	}
	for _, l := range layers {
		l.AddDown(d) // as a subscription does: no layer is its yet
	}
	lists(0, 0, 0)
	now := int64(time.Hour)
	d.SetTarget(lo)
	lists(1, 0, 0)
	feed(lo, d, vp8Packet(1, 1000, true), now)
	// Heading for hi from lo: both, until hi's keyframe.
	d.SetTarget(hi)
	lists(1, 0, 1)
	// Changing its mind before the keyframe: hi is nobody's any more.
	d.SetTarget(mid)
	lists(1, 1, 0)
	mid.AddDown(d) // a repeated AddDown (a layer appearing late) adds it once
	lists(1, 1, 0)
	feed(mid, d, vp8Packet(500, 9000, true), now+1)
	lists(0, 1, 0)
	if d.Current() != mid {
		t.Fatal("did not switch to mid at its keyframe")
	}
	d.SetTarget(nil)
	lists(0, 0, 0)
	d.SetTarget(hi)
	lists(0, 0, 1)
	d.Stop()
	lists(0, 0, 0)
	if d.SetTarget(lo) || downs(lo) != 0 {
		t.Fatal("a stopped DownTrack was fed again")
	}
	hi.AddDown(d)
	lists(0, 0, 0)
}

// downs is how many DownTracks layer r's packets are handed to.
func downs(r *Receiver) int { return len(*r.downs.Load()) }
