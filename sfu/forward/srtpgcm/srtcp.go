package srtpgcm

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
)

// RTCPOpener decrypts the SRTCP packets of one direction (RFC 7714 §9,
// AES-GCM, encrypted packets only). Like Sealer, it is for one goroutine.
type RTCPOpener struct {
	aead  cipher.AEAD
	salt  [saltLen]byte
	nonce [saltLen]byte
	aad   [12]byte
}

// ErrSRTCP means a packet is not SRTCP this opener can authenticate.
var ErrSRTCP = errors.New("srtpgcm: not an authentic encrypted SRTCP packet")

// NewRTCPOpener derives the SRTCP session key and salt from k.
func NewRTCPOpener(k Keys) (*RTCPOpener, error) {
	aead, salt, err := session(k, 0x03, 0x05) // RFC 3711 §4.3: SRTCP's labels
	if err != nil {
		return nil, err
	}
	return &RTCPOpener{aead: aead, salt: salt}, nil
}

// rtcpNonce is the IV of an SRTCP packet: 00 00 || SSRC || 00 00 || index,
// XOR salt (RFC 7714 §9.1).
func rtcpNonce(n *[saltLen]byte, salt *[saltLen]byte, ssrc, index uint32) {
	n[0], n[1] = salt[0], salt[1]
	binary.BigEndian.PutUint32(n[2:], ssrc^binary.BigEndian.Uint32(salt[2:]))
	n[6], n[7] = salt[6], salt[7]
	binary.BigEndian.PutUint32(n[8:], index^binary.BigEndian.Uint32(salt[8:]))
}

// RTCPSealer encrypts the SRTCP packets of one direction (RFC 7714 §9).
// Like Sealer, it is for one goroutine.
type RTCPSealer struct {
	aead  cipher.AEAD
	salt  [saltLen]byte
	nonce [saltLen]byte
	aad   [12]byte
}

// NewRTCPSealer derives the SRTCP session key and salt from k.
func NewRTCPSealer(k Keys) (*RTCPSealer, error) {
	aead, salt, err := session(k, 0x03, 0x05) // RFC 3711 §4.3: SRTCP's labels
	if err != nil {
		return nil, err
	}
	return &RTCPSealer{aead: aead, salt: salt}, nil
}

// RTCPOverhead is what sealing adds to a compound RTCP packet: the tag and
// the E flag with the index.
const RTCPOverhead = TagLen + 4

// Seal encrypts the compound RTCP packet pkt in place under SRTCP index
// (31 bits; the caller counts them per sender SSRC, the first packet's)
// and returns it, RTCPOverhead bytes longer: pkt must have that much spare
// capacity.
func (s *RTCPSealer) Seal(pkt []byte, index uint32) []byte {
	if len(pkt) < 8 {
		return nil
	}
	index &= 0x7fffffff
	rtcpNonce(&s.nonce, &s.salt, binary.BigEndian.Uint32(pkt[4:8]), index)
	copy(s.aad[:8], pkt[:8])
	binary.BigEndian.PutUint32(s.aad[8:], 1<<31|index)
	out := s.aead.Seal(pkt[8:8], s.nonce[:], pkt[8:], s.aad[:])
	out = out[:len(out)+4]
	copy(out[len(out)-4:], s.aad[8:])
	return pkt[:8+len(out)]
}

// Open authenticates and decrypts pkt into dst and returns the compound
// RTCP packet, its sender SSRC and its SRTCP index (for replay checks).
//
// An SRTCP packet is the first 8 bytes of the RTCP compound in the clear
// (header and sender SSRC), the rest encrypted, the 16-byte tag, and the
// E flag with the 31-bit index; the clear bytes and the index are the
// additional data, and the IV is 00 00 || SSRC || 00 00 || index, XOR salt.
func (o *RTCPOpener) Open(dst, pkt []byte) (rtcp []byte, ssrc, index uint32, err error) {
	if len(pkt) < 8+TagLen+4 {
		return nil, 0, 0, ErrSRTCP
	}
	trailer := binary.BigEndian.Uint32(pkt[len(pkt)-4:])
	if trailer>>31 == 0 {
		return nil, 0, 0, ErrSRTCP // unencrypted SRTCP: browsers do not send it
	}
	index = trailer & 0x7fffffff
	ssrc = binary.BigEndian.Uint32(pkt[4:8])
	n := &o.nonce
	rtcpNonce(n, &o.salt, ssrc, index)
	copy(o.aad[:8], pkt[:8])
	copy(o.aad[8:], pkt[len(pkt)-4:])
	dst = append(dst[:0], pkt[:8]...)
	out, err := o.aead.Open(dst, n[:], pkt[8:len(pkt)-4], o.aad[:])
	if err != nil {
		return nil, 0, 0, ErrSRTCP
	}
	return out, ssrc, index, nil
}

// Replay is a receiver's window over one SSRC's indexes (RFC 3711 §3.3.2):
// an index is accepted once, and only if it is no older than 64 behind the
// highest seen.
type Replay struct {
	top  uint32
	mask uint64 // bit i: top-i was seen
	seen bool
}

// Accept reports whether index is new, and notes it.
func (r *Replay) Accept(index uint32) bool {
	if !r.seen {
		r.seen, r.top, r.mask = true, index, 1
		return true
	}
	switch {
	case index > r.top:
		if d := index - r.top; d < 64 {
			r.mask = r.mask<<d | 1
		} else {
			r.mask = 1
		}
		r.top = index
		return true
	case r.top-index >= 64:
		return false
	default:
		bit := uint64(1) << (r.top - index)
		if r.mask&bit != 0 {
			return false
		}
		r.mask |= bit
		return true
	}
}
