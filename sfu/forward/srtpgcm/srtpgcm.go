// Package srtpgcm protects RTP with SRTP's AEAD_AES_128_GCM and
// AEAD_AES_256_GCM transforms (RFC 7714) straight into a caller's buffer:
// no allocation, no lock, no per-SSRC lookup. The caller keeps the rollover
// counter (it rewrites sequence numbers anyway, so it knows when they wrap).
// Opening goes the other way, for what a peer sends: the receiver cannot
// know the sender's rollovers, so it keeps a Rollover per stream, which
// estimates them and moves only on authentic packets.
//
// pion's srtp.Context does the same job behind a mutex, a map lookup and a
// buffer pool per packet, which is right for a general library and too much
// for a fan-out that encrypts one packet hundreds of times.
package srtpgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// Profile is a DTLS-SRTP protection profile id (RFC 5764, RFC 7714).
type Profile uint16

// The profiles this package implements.
const (
	AES128GCM Profile = 0x0007
	AES256GCM Profile = 0x0008
)

// TagLen is what sealing adds to a packet.
const TagLen = 16

const saltLen = 12

// KeyLen is the master key length of p, 0 when p is not supported.
func (p Profile) KeyLen() int {
	switch p {
	case AES128GCM:
		return 16
	case AES256GCM:
		return 32
	}
	return 0
}

func (p Profile) String() string {
	switch p {
	case AES128GCM:
		return "SRTP_AEAD_AES_128_GCM"
	case AES256GCM:
		return "SRTP_AEAD_AES_256_GCM"
	}
	return fmt.Sprintf("SRTP profile 0x%04x", uint16(p))
}

// Keys are one direction's master key and salt.
type Keys struct {
	Profile Profile
	Key     []byte
	Salt    []byte
}

// ErrProfile means the negotiated protection profile is not an AES-GCM one.
var ErrProfile = errors.New("srtpgcm: not an AES-GCM SRTP profile")

// Sealer encrypts RTP packets of one SRTP direction. It is not safe for
// concurrent use: give each goroutine its own (they are cheap to make).
type Sealer struct {
	aead  cipher.AEAD
	salt  [saltLen]byte
	nonce [saltLen]byte
}

// NewSealer derives the session key and salt from k (RFC 3711 §4.3 with the
// AES-CM PRF, as RFC 7714 §11 prescribes) and returns a Sealer.
func NewSealer(k Keys) (*Sealer, error) {
	aead, salt, err := session(k, 0x00, 0x02) // RFC 3711 §4.3: SRTP's labels
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, salt: salt}, nil
}

// session is the session cipher and salt under k for one of SRTP's and
// SRTCP's label pairs (RFC 3711 §4.3).
func session(k Keys, labelEncryption, labelSalt byte) (cipher.AEAD, [saltLen]byte, error) {
	var salt [saltLen]byte
	n := k.Profile.KeyLen()
	if n == 0 {
		return nil, salt, ErrProfile
	}
	if len(k.Key) != n || len(k.Salt) != saltLen {
		return nil, salt, fmt.Errorf("srtpgcm: %s wants a %d-byte key and a %d-byte salt, got %d and %d",
			k.Profile, n, saltLen, len(k.Key), len(k.Salt))
	}
	master, err := aes.NewCipher(k.Key)
	if err != nil {
		return nil, salt, err
	}
	block, err := aes.NewCipher(derive(master, k.Salt, labelEncryption, n))
	if err != nil {
		return nil, salt, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, salt, err
	}
	copy(salt[:], derive(master, k.Salt, labelSalt, saltLen))
	return aead, salt, nil
}

// derive is the SRTP key derivation with a key derivation rate of 0: the
// AES-CM keystream under the master key, from the master salt (left
// aligned in the block) with the label XORed into its eighth byte and a
// 16-bit block counter at the end.
func derive(master cipher.Block, salt []byte, label byte, n int) []byte {
	var in [aes.BlockSize]byte
	copy(in[:], salt)
	in[7] ^= label
	out := make([]byte, (n+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	for i := 0; i*aes.BlockSize < n; i++ {
		binary.BigEndian.PutUint16(in[aes.BlockSize-2:], uint16(i))
		master.Encrypt(out[i*aes.BlockSize:], in[:])
	}
	return out[:n]
}

// Seal appends the SRTP form of an RTP packet to dst and returns the
// result: header is the RTP header (authenticated, sent in the clear),
// payload what follows it (encrypted), ssrc, roc and seq the packet's SSRC,
// rollover counter and sequence number (they make the IV). dst normally
// holds a copy of header already, with room for len(payload)+TagLen more;
// header itself must not overlap dst's spare capacity, nor payload.
func (s *Sealer) Seal(dst, header, payload []byte, ssrc, roc uint32, seq uint16) []byte {
	rtpNonce(&s.nonce, &s.salt, ssrc, roc, seq)
	return s.aead.Seal(dst, s.nonce[:], payload, header)
}

// rtpNonce is the IV of an SRTP packet (RFC 7714 §8.1):
// (00 00 || SSRC || ROC || SEQ) XOR salt.
func rtpNonce(n, salt *[saltLen]byte, ssrc, roc uint32, seq uint16) {
	n[0], n[1] = salt[0], salt[1]
	binary.BigEndian.PutUint32(n[2:], ssrc^binary.BigEndian.Uint32(salt[2:]))
	binary.BigEndian.PutUint32(n[6:], roc^binary.BigEndian.Uint32(salt[6:]))
	binary.BigEndian.PutUint16(n[10:], seq^binary.BigEndian.Uint16(salt[10:]))
}
