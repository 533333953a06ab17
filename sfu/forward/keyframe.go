package forward

import (
	"encoding/binary"
	"strings"

	"github.com/pion/webrtc/v4"
)

// codecKind is what the packet path knows of a video codec's payload: enough
// to see where a keyframe begins, which is where a subscriber may switch
// from one simulcast layer to another (or resume after a pause) without its
// decoder seeing a frame that refers to one it never got.
type codecKind uint8

const (
	codecOther codecKind = iota
	codecVP8
	codecVP9
	codecH264
)

func codecOf(c webrtc.RTPCodecCapability) codecKind {
	switch {
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeVP8):
		return codecVP8
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeVP9):
		return codecVP9
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeH264):
		return codecH264
	}
	return codecOther
}

// keyframeStart reports whether payload is the first packet of a keyframe,
// and for VP8 the frame's size (0 when not given).
func keyframeStart(k codecKind, payload []byte) (key bool, width, height int) {
	switch k {
	case codecVP8:
		return vp8KeyframeStart(payload)
	case codecVP9:
		// RFC 9628 descriptor: I P L F B E V Z. A keyframe starts where P
		// (inter-picture predicted) is clear and B (start of frame) set.
		return len(payload) > 0 && payload[0]&0x40 == 0 && payload[0]&0x08 != 0, 0, 0
	case codecH264:
		return h264KeyframeStart(payload), 0, 0
	}
	// Unknown payloads: every packet is a place to switch (nothing better
	// is known about them).
	return true, 0, 0
}

// vp8KeyframeStart reads the VP8 payload descriptor (RFC 7741 §4.2) and, at
// the start of partition 0, the frame tag: P clear is a keyframe, whose
// header gives its size after the start code 9d 01 2a.
func vp8KeyframeStart(p []byte) (bool, int, int) {
	if len(p) < 1 {
		return false, 0, 0
	}
	start := p[0]&0x10 != 0 && p[0]&0x07 == 0 // S set, partition 0
	n := 1
	if p[0]&0x80 != 0 { // X: extension byte
		if len(p) < 2 {
			return false, 0, 0
		}
		x := p[1]
		n = 2
		if x&0x80 != 0 { // I: picture id, 7 or 15 bits
			if len(p) <= n {
				return false, 0, 0
			}
			if p[n]&0x80 != 0 {
				n += 2
			} else {
				n++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			n++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX
			n++
		}
	}
	if !start || len(p) <= n || p[n]&0x01 != 0 {
		return false, 0, 0
	}
	h := p[n:]
	if len(h) >= 10 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a {
		return true, int(binary.LittleEndian.Uint16(h[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(h[8:]) & 0x3fff)
	}
	return true, 0, 0
}

// h264KeyframeStart: an SPS (browsers send SPS and PPS right before each
// IDR, often aggregated in a STAP-A), or an IDR slice's first fragment.
func h264KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case 5, 7:
		return true
	case 24: // STAP-A: 16-bit sizes, each followed by a NAL unit
		for b := p[1:]; len(b) > 2; {
			size := int(binary.BigEndian.Uint16(b))
			if size == 0 || len(b) < 2+size {
				return false
			}
			if nt := b[2] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			b = b[2+size:]
		}
	case 28: // FU-A: the start fragment of an IDR
		return len(p) > 1 && p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false
}
