package forward

import (
	"encoding/binary"
	"time"
)

// epoch is the origin of the monotonic nanoseconds the packet path keeps.
var epoch = time.Now()

func monotime() int64 { return int64(time.Since(epoch)) }

// inPacket is one packet from a publisher, parsed just enough to forward it:
// fields of the fixed header, the CSRC list and extension block as they
// came, and the body (payload and padding) that every copy sends verbatim.
type inPacket struct {
	raw     []byte
	body    []byte // raw after the header: payload, then padding
	csrc    []byte // raw CSRC list
	ext     []byte // extension block after its 4-byte header; nil without
	extProf uint16
	seq     uint16
	ts      uint32
	marker  bool
	padding bool
	padLen  int
	now     int64 // monotime when the fan-out of the packet began
	// key: the packet begins a keyframe (video), where a subscriber may
	// switch layers or resume.
	key bool
}

// parse reads an RTP packet into p, which keeps slices of raw; false when
// raw is not RTP the path can forward.
func (p *inPacket) parse(raw []byte) bool {
	if len(raw) < 12 || raw[0]>>6 != 2 {
		return false
	}
	cc := int(raw[0] & 0x0f)
	n := 12 + 4*cc
	if len(raw) < n {
		return false
	}
	p.raw = raw
	p.csrc = raw[12:n]
	p.ext, p.extProf = nil, 0
	if raw[0]&0x10 != 0 {
		if len(raw) < n+4 {
			return false
		}
		p.extProf = binary.BigEndian.Uint16(raw[n:])
		l := 4 * int(binary.BigEndian.Uint16(raw[n+2:]))
		if len(raw) < n+4+l {
			return false
		}
		p.ext = raw[n+4 : n+4+l]
		n += 4 + l
	}
	p.body = raw[n:]
	p.padding = raw[0]&0x20 != 0
	p.padLen = 0
	if p.padding {
		if len(p.body) == 0 || int(p.body[len(p.body)-1]) > len(p.body) || p.body[len(p.body)-1] == 0 {
			return false
		}
		p.padLen = int(p.body[len(p.body)-1])
	}
	p.marker = raw[1]&0x80 != 0
	p.seq = binary.BigEndian.Uint16(raw[2:])
	p.ts = binary.BigEndian.Uint32(raw[4:])
	return true
}

// payload is the body without its padding.
func (p *inPacket) payload() []byte { return p.body[:len(p.body)-p.padLen] }

// extension returns the value of header extension id (RFC 8285, one-byte
// or two-byte form), nil when absent.
func (p *inPacket) extension(id uint8) []byte {
	b := p.ext
	switch {
	case p.extProf == 0xbede:
		for len(b) > 0 {
			if b[0] == 0 { // padding
				b = b[1:]
				continue
			}
			eid, l := b[0]>>4, int(b[0]&0x0f)+1
			if eid == 15 || len(b) < 1+l {
				return nil
			}
			if eid == id {
				return b[1 : 1+l]
			}
			b = b[1+l:]
		}
	case p.extProf&0xfff0 == 0x1000:
		for len(b) >= 2 {
			if b[0] == 0 {
				b = b[1:]
				continue
			}
			eid, l := b[0], int(b[1])
			if len(b) < 2+l {
				return nil
			}
			if eid == id {
				return b[2 : 2+l]
			}
			b = b[2+l:]
		}
	}
	return nil
}

// maxHeader is the largest header a DownTrack writes: the fixed part, 15
// CSRCs and the transport-wide sequence number extension.
const maxHeader = 12 + 15*4 + 8

// out is what one subscriber's copy of a packet says in its header.
type out struct {
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	twccID  uint8 // 0: no transport-wide sequence number
	twccSeq uint16
}

// writeHeader writes the subscriber's header of p into b (maxHeader long)
// and returns its length. The publisher's extensions are dropped: their ids
// were negotiated on another connection.
func writeHeader(b []byte, p *inPacket, o *out) int {
	b[0] = 0x80 | byte(len(p.csrc)/4)
	if p.padding {
		b[0] |= 0x20
	}
	b[1] = o.pt & 0x7f
	if p.marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], o.seq)
	binary.BigEndian.PutUint32(b[4:], o.ts)
	binary.BigEndian.PutUint32(b[8:], o.ssrc)
	n := 12 + copy(b[12:], p.csrc)
	if o.twccID == 0 {
		return n
	}
	b[0] |= 0x10
	if o.twccID < 15 {
		// One-byte form: id and length-1 in one byte, two bytes of value,
		// one of padding.
		b[n], b[n+1], b[n+2], b[n+3] = 0xbe, 0xde, 0, 1
		b[n+4] = o.twccID<<4 | 1
		binary.BigEndian.PutUint16(b[n+5:], o.twccSeq)
		b[n+7] = 0
	} else {
		b[n], b[n+1], b[n+2], b[n+3] = 0x10, 0x00, 0, 1
		b[n+4], b[n+5] = o.twccID, 2
		binary.BigEndian.PutUint16(b[n+6:], o.twccSeq)
	}
	return n + 8
}
