package srtpgcm

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
)

// Opener decrypts the SRTP packets of one direction (RFC 7714 §8). Like
// Sealer, it is for one goroutine; each SSRC's rollover counter is the
// caller's (a Rollover per stream), so opening needs no lookup.
type Opener struct {
	aead  cipher.AEAD
	salt  [saltLen]byte
	nonce [saltLen]byte
}

// Errors of Open: a packet that is not an authentic SRTP packet under the
// Opener's keys (or not RTP at all), and one already received or too old
// to tell.
var (
	ErrSRTP   = errors.New("srtpgcm: not an authentic SRTP packet")
	ErrReplay = errors.New("srtpgcm: SRTP packet replayed or too old")
)

// NewOpener derives the session key and salt from k.
func NewOpener(k Keys) (*Opener, error) {
	aead, salt, err := session(k, 0x00, 0x02) // RFC 3711 §4.3: SRTP's labels
	if err != nil {
		return nil, err
	}
	return &Opener{aead: aead, salt: salt}, nil
}

// Rollover is what a receiver knows of one SSRC's packet index (RFC 3711
// §3.3.1): the rollover counter and the highest sequence number
// authenticated under it, and which of the 64 indexes below the highest
// were seen (the replay list, §3.3.2).
type Rollover struct {
	roc     uint32
	highest uint16
	started bool
	seen    uint64 // bit i: the index i below the highest was authenticated
}

// ROC is the rollover counter of the highest packet authenticated so far.
func (r *Rollover) ROC() uint32 { return r.roc }

// guess is the rollover counter a packet with seq was most likely sent
// under (RFC 3711 Appendix A): the one that puts it nearest the highest.
func (r *Rollover) guess(seq uint16) uint32 {
	if !r.started {
		return r.roc
	}
	switch {
	case r.highest < 32768 && seq > r.highest && seq-r.highest > 32768:
		return r.roc - 1 // late, from before the last wrap
	case r.highest >= 32768 && seq < r.highest && r.highest-seq > 32768:
		return r.roc + 1 // the sequence wrapped
	}
	return r.roc
}

// behind is how far the packet index roc:seq is below the highest
// (negative: above it).
func (r *Rollover) behind(roc uint32, seq uint16) int64 {
	return (int64(r.roc)<<16 | int64(r.highest)) - (int64(roc)<<16 | int64(seq))
}

// replayed reports whether roc:seq was seen, or is too old to tell.
func (r *Rollover) replayed(roc uint32, seq uint16) bool {
	if !r.started {
		return false
	}
	d := r.behind(roc, seq)
	return d >= 64 || d >= 0 && r.seen&(1<<d) != 0
}

// note moves the index on after a packet authenticated under roc.
func (r *Rollover) note(seq uint16, roc uint32) {
	if !r.started {
		r.started, r.roc, r.highest, r.seen = true, roc, seq, 1
		return
	}
	d := r.behind(roc, seq)
	if d >= 0 {
		r.seen |= 1 << d
		return
	}
	if -d < 64 {
		r.seen = r.seen<<-d | 1
	} else {
		r.seen = 1
	}
	r.roc, r.highest = roc, seq
}

// headerLen is the length of pkt's RTP header with its CSRCs and
// extension, 0 when pkt is not RTP.
func headerLen(pkt []byte) int {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return 0
	}
	n := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < n+4 {
			return 0
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:]))
	}
	if len(pkt) < n {
		return 0
	}
	return n
}

// Open authenticates and decrypts pkt, an SRTP packet of the stream whose
// index r follows, and appends the RTP packet (header and payload) to dst.
// dst may be pkt[:0], which decrypts in place (and leaves pkt garbled when
// it fails). A packet that fails leaves r as it was, so a forged sequence
// number cannot move the index; one r has seen is refused (ErrReplay).
func (o *Opener) Open(dst, pkt []byte, r *Rollover) ([]byte, error) {
	h := headerLen(pkt)
	if h == 0 || len(pkt) < h+TagLen {
		return nil, ErrSRTP
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	seq := binary.BigEndian.Uint16(pkt[2:4])
	roc := r.guess(seq)
	if r.replayed(roc, seq) {
		return nil, ErrReplay
	}
	rtpNonce(&o.nonce, &o.salt, ssrc, roc, seq)
	out := append(dst, pkt[:h]...)
	out, err := o.aead.Open(out, o.nonce[:], pkt[h:], out[len(out)-h:])
	if err != nil {
		return nil, ErrSRTP
	}
	r.note(seq, roc)
	return out, nil
}
