package forward

import (
	"github.com/pion/rtp"

	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// sender is what one goroutine needs to send copies: the header being
// written (the AEAD's additional data), the sealer for the current Path
// and pion's header form for the stream fallback. A DownTrack's forwarding
// goroutine has one, its retransmitter another.
type sender struct {
	hdr     [maxHeader]byte
	sealer  *srtpgcm.Sealer
	sealFor *Path
	slowHdr rtp.Header
	slowExt [1]rtp.Extension
	twccVal [2]byte
}

// send writes one copy of p with header fields o: encrypted into b when
// there is a Path whose keys it can use, else through pion's stream. It
// reports whether the copy went, and whether it went into the batch.
func (s *sender) send(b *batch, path *Path, bd *binding, p *inPacket, o *out, roc uint32) (sent, batched bool) {
	if path != nil && s.sealerFor(path) {
		n := writeHeader(s.hdr[:], p, o)
		buf := b.next(path.Conn)
		copy(buf, s.hdr[:n])
		pkt := s.sealer.Seal(buf[:n], s.hdr[:n], p.body, o.ssrc, roc, o.seq)
		b.commit(len(pkt), path.Addr)
		return true, true
	}
	return s.writeSlow(bd, p, o), false
}

// sealerFor makes sure s encrypts with p's keys; false if it cannot.
func (s *sender) sealerFor(p *Path) bool {
	if s.sealFor == p {
		return s.sealer != nil
	}
	s.sealFor = p
	s.sealer, _ = srtpgcm.NewSealer(p.Keys) // nil with keys it cannot use: pion's stream then
	return s.sealer != nil
}

// writeSlow sends through pion's stream, which encrypts and sends at once.
func (s *sender) writeSlow(bd *binding, p *inPacket, o *out) bool {
	h := &s.slowHdr
	*h = rtp.Header{Version: 2, Padding: p.padding, PaddingSize: byte(p.padLen), Marker: p.marker,
		PayloadType: o.pt, SequenceNumber: o.seq, Timestamp: o.ts, SSRC: o.ssrc, Extensions: s.slowExt[:0]}
	if len(p.csrc) > 0 {
		h.CSRC = make([]uint32, len(p.csrc)/4) // rare: mixers set CSRCs, browsers do not
		for i := range h.CSRC {
			h.CSRC[i] = uint32(p.csrc[4*i])<<24 | uint32(p.csrc[4*i+1])<<16 | uint32(p.csrc[4*i+2])<<8 | uint32(p.csrc[4*i+3])
		}
	}
	if o.twccID != 0 {
		s.twccVal[0], s.twccVal[1] = byte(o.twccSeq>>8), byte(o.twccSeq)
		_ = h.SetExtension(o.twccID, s.twccVal[:]) // into slowExt: no allocation
	}
	_, err := bd.stream.WriteRTP(h, p.payload())
	return err == nil
}
