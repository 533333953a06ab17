package srtpgcm

import (
	"crypto/aes"
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
	n := k.Profile.KeyLen()
	if n == 0 {
		return nil, ErrProfile
	}
	if len(k.Key) != n || len(k.Salt) != saltLen {
		return nil, ErrProfile
	}
	master, err := aes.NewCipher(k.Key)
	if err != nil {
		return nil, err
	}
	const labelEncryption, labelSalt = 0x03, 0x05
	block, err := aes.NewCipher(derive(master, k.Salt, labelEncryption, n))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	o := &RTCPOpener{aead: aead}
	copy(o.salt[:], derive(master, k.Salt, labelSalt, saltLen))
	return o, nil
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
	n[0], n[1] = o.salt[0], o.salt[1]
	binary.BigEndian.PutUint32(n[2:], ssrc^binary.BigEndian.Uint32(o.salt[2:]))
	n[6], n[7] = o.salt[6], o.salt[7]
	binary.BigEndian.PutUint32(n[8:], index^binary.BigEndian.Uint32(o.salt[8:]))
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
