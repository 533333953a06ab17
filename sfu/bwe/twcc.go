package bwe

import "encoding/binary"

// feedback is one transport-wide congestion control feedback packet (RTCP
// RTPFB, FMT 15; draft-holmer-rmcat-transport-wide-cc-extensions-01) read
// in place: a subscriber sends ten a second, and pion's parser allocates a
// struct per packet status. next walks the statuses with their arrival
// deltas without allocating.
type feedback struct {
	base   uint16 // transport-wide sequence number of the first status
	count  int    // statuses
	ref    int64  // reference time, 24 bits of 64 ms
	chunks []byte // packet status chunks
	deltas []byte // receive deltas

	// walk state
	done  int    // statuses walked
	chunk uint16 // the chunk being walked
	inRun int    // statuses of it walked
	seq   uint16 // sequence number of the next status
	dpos  int    // next delta byte
}

// Packet status symbols.
const (
	notReceived = 0
	smallDelta  = 1 // delta in one unsigned byte of 250 µs
	largeDelta  = 2 // delta in two signed bytes of 250 µs
	deltaTick   = 250
	headerLen   = 20 // RTCP header, both SSRCs, base, count, reference, fb count
)

// parseFeedback reads p, a whole RTCP packet; false when it is not a
// well-formed TWCC feedback.
func parseFeedback(p []byte) (feedback, bool) {
	if len(p) < headerLen || p[0]>>6 != 2 || p[0]&0x1f != 15 || p[1] != 205 {
		return feedback{}, false
	}
	if n := 4 * (int(binary.BigEndian.Uint16(p[2:])) + 1); n <= len(p) {
		p = p[:n]
	}
	f := feedback{
		base:  binary.BigEndian.Uint16(p[12:]),
		count: int(binary.BigEndian.Uint16(p[14:])),
		ref:   int64(p[16])<<16 | int64(p[17])<<8 | int64(p[18]),
	}
	// The chunks come first; the deltas begin where the chunks have
	// covered count statuses.
	body := p[headerLen:]
	covered, i := 0, 0
	for covered < f.count {
		if i+2 > len(body) {
			return feedback{}, false
		}
		covered += chunkLen(binary.BigEndian.Uint16(body[i:]))
		i += 2
	}
	f.chunks, f.deltas = body[:i], body[i:]
	f.seq = f.base
	return f, true
}

// chunkLen is how many statuses a chunk holds.
func chunkLen(c uint16) int {
	switch {
	case c&0x8000 == 0: // run length
		return int(c & 0x1fff)
	case c&0x4000 == 0: // vector of 14 one-bit symbols
		return 14
	default: // vector of 7 two-bit symbols
		return 7
	}
}

// chunkSymbol is the i-th status of chunk c.
func chunkSymbol(c uint16, i int) uint8 {
	switch {
	case c&0x8000 == 0:
		return uint8(c >> 13 & 3)
	case c&0x4000 == 0:
		return uint8(c >> (13 - i) & 1) // 1: received, small delta
	default:
		return uint8(c >> (12 - 2*i) & 3)
	}
}

// next returns the next status: its sequence number, its symbol, and for
// a received packet its arrival delta in µs from the previous one (the
// first from the reference time); ok is false after the last, or when the
// deltas run out.
func (f *feedback) next() (seq uint16, sym uint8, delta int64, ok bool) {
	for f.done < f.count {
		if f.inRun == 0 || f.inRun == chunkLen(f.chunk) {
			if len(f.chunks) < 2 {
				return 0, 0, 0, false
			}
			f.chunk, f.chunks, f.inRun = binary.BigEndian.Uint16(f.chunks), f.chunks[2:], 0
			if chunkLen(f.chunk) == 0 {
				continue
			}
		}
		sym = chunkSymbol(f.chunk, f.inRun)
		f.inRun++
		f.done++
		seq = f.seq
		f.seq++
		switch sym {
		case smallDelta:
			if f.dpos+1 > len(f.deltas) {
				return 0, 0, 0, false
			}
			delta = int64(f.deltas[f.dpos]) * deltaTick
			f.dpos++
		case largeDelta:
			if f.dpos+2 > len(f.deltas) {
				return 0, 0, 0, false
			}
			delta = int64(int16(binary.BigEndian.Uint16(f.deltas[f.dpos:]))) * deltaTick
			f.dpos += 2
		}
		return seq, sym, delta, true
	}
	return 0, 0, 0, false
}
