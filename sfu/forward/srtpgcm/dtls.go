package srtpgcm

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
)

// FromDTLS derives the SRTP master keys of a DTLS-SRTP association
// (RFC 5764 §4.2) from the DTLS 1.2 master secret and the two hello randoms:
// the keying material exporter with the "EXTRACTOR-dtls_srtp" label
// (RFC 5705), whose PRF hash is the cipher suite's (sha384 for suites that
// name it, sha256 otherwise). It returns what the server sends with
// (server true) or the client.
func FromDTLS(p Profile, masterSecret, clientRandom, serverRandom []byte, sha384, server bool) (Keys, error) {
	n := p.KeyLen()
	if n == 0 {
		return Keys{}, ErrProfile
	}
	seed := make([]byte, 0, 64+19)
	seed = append(seed, "EXTRACTOR-dtls_srtp"...)
	seed = append(append(seed, clientRandom...), serverRandom...)
	h := sha256.New
	if sha384 {
		h = sha512.New384
	}
	// client key | server key | client salt | server salt
	m := pHash(h, masterSecret, seed, 2*n+2*saltLen)
	if server {
		return Keys{Profile: p, Key: m[n : 2*n], Salt: m[2*n+saltLen:]}, nil
	}
	return Keys{Profile: p, Key: m[:n], Salt: m[2*n : 2*n+saltLen]}, nil
}

// pHash is TLS 1.2's P_hash (RFC 5246 §5): A(i) = HMAC(secret, A(i-1)),
// output = HMAC(secret, A(1) || seed) || HMAC(secret, A(2) || seed) || …
func pHash(h func() hash.Hash, secret, seed []byte, n int) []byte {
	out := make([]byte, 0, n+64)
	mac := hmac.New(h, secret)
	mac.Write(seed)
	a := mac.Sum(nil)
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(seed)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}
