// Package token issues and checks meeting tokens: a compact, HMAC-SHA256
// signed statement "participant P may join meeting R as role X until T".
//
// Format: kid "." base64url(JSON claims) "." base64url(HMAC-SHA256(key, kid "." claims)),
// base64url unpadded and canonical. kid names the key (8 characters derived
// from it, so it needs no configuration of its own): a Signer signs with its
// current key and accepts the keys it was given besides, which is how a key
// is rotated without logging everyone out (docs/deploy.md, "Rotating the
// token key"). No JWT library: one algorithm, fixed, so there is no "alg" to
// negotiate.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/veet-dev/veet/events"
)

// Errors Verify returns; all of them mean "unauthorized" to a client.
var (
	ErrMalformed  = errors.New("token: malformed")
	ErrUnknownKey = errors.New("token: signed with a key this server does not hold")
	ErrSignature  = errors.New("token: bad signature")
	ErrExpired    = errors.New("token: expired")
	ErrLifetime   = errors.New("token: lifetime out of bounds")
)

// Claims is what a token says. The caller checks Room against the meeting
// being joined (a token of another meeting is refused there).
type Claims struct {
	Room        events.RoomCode      `json:"room"`
	Participant events.ParticipantID `json:"sub"`
	Role        events.Role          `json:"role"`
	Name        string               `json:"name,omitempty"`
	IssuedAt    int64                `json:"iat"` // Unix seconds
	Expires     int64                `json:"exp"` // Unix seconds
}

const (
	// MinKeyLen is the shortest secret New accepts.
	MinKeyLen = 16
	// MaxLifetime bounds exp - iat: a token lets its holder in for a day at
	// most (the signaling plane issues them for exactly that). A token
	// claiming longer was not made by us, whatever key signed it.
	MaxLifetime = 24 * time.Hour
	// MaxSkew is how far in the future iat may be: the clocks of two Lambda
	// hosts differ by far less.
	MaxSkew = time.Minute
)

var b64 = base64.RawURLEncoding.Strict()

// Signer signs with one key and verifies with it and any previous ones.
type Signer struct {
	current string            // kid of the signing key
	keys    map[string][]byte // kid → key
	now     func() time.Time
}

// New returns a Signer that signs with current and also accepts tokens
// signed with any of accepted (keys being rotated in or out). Every secret
// must be at least MinKeyLen bytes.
func New(current []byte, accepted ...[]byte) (*Signer, error) {
	s := &Signer{keys: map[string][]byte{}, now: time.Now}
	for i, k := range append([][]byte{current}, accepted...) {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("token: secret %d must be at least %d bytes", i, MinKeyLen)
		}
		id := keyID(k)
		if i == 0 {
			s.current = id
		}
		s.keys[id] = append([]byte(nil), k...)
	}
	return s, nil
}

// KeyIDs returns the id of the signing key and of every accepted one (ids
// are not secret: they go in logs so a rotation can be followed).
func (s *Signer) KeyIDs() (signing string, accepted []string) {
	for id := range s.keys {
		if id != s.current {
			accepted = append(accepted, id)
		}
	}
	slices.Sort(accepted)
	return s.current, accepted
}

// keyID derives a key's id from the key: the start of an HMAC under it, so
// the id reveals nothing of the key.
func keyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("veet token key id"))
	return b64.EncodeToString(m.Sum(nil)[:6])
}

// Sign returns a token for c valid for ttl (at most MaxLifetime) from now.
func (s *Signer) Sign(c Claims, ttl time.Duration) (string, error) {
	if !c.Room.Valid() || !c.Participant.Valid() || !c.Role.Valid() {
		return "", fmt.Errorf("token: refusing to sign incomplete claims %+v", c)
	}
	if ttl <= 0 || ttl > MaxLifetime {
		return "", fmt.Errorf("token: lifetime %s is not in (0, %s]", ttl, MaxLifetime)
	}
	now := s.now()
	c.IssuedAt = now.Unix()
	c.Expires = now.Add(ttl).Unix()
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signed := s.current + "." + b64.EncodeToString(body)
	return signed + "." + b64.EncodeToString(mac(s.keys[s.current], signed)), nil
}

// Verify checks the form, the key, the signature and the lifetime, and
// returns the claims.
func (s *Signer) Verify(tok string) (Claims, error) {
	if len(tok) > events.MaxTokenLen {
		return Claims{}, ErrMalformed
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Claims{}, ErrMalformed
	}
	kid, head, sig := parts[0], parts[1], parts[2]
	got, ok := canonical(sig)
	if !ok || len(got) != sha256.Size {
		return Claims{}, ErrMalformed
	}
	key := s.keys[kid]
	if key == nil {
		return Claims{}, ErrUnknownKey
	}
	// Signature before parsing: never read what we did not sign.
	if !hmac.Equal(got, mac(key, kid+"."+head)) {
		return Claims{}, ErrSignature
	}
	body, ok := canonical(head)
	var c Claims
	if !ok || json.Unmarshal(body, &c) != nil {
		return Claims{}, ErrMalformed
	}
	if !c.Room.Valid() || !c.Participant.Valid() || !c.Role.Valid() {
		return Claims{}, ErrMalformed
	}
	now := s.now()
	if c.IssuedAt > now.Add(MaxSkew).Unix() || c.Expires <= c.IssuedAt || c.Expires-c.IssuedAt > int64(MaxLifetime/time.Second) {
		return Claims{}, ErrLifetime
	}
	if now.Unix() >= c.Expires {
		return Claims{}, ErrExpired
	}
	return c, nil
}

// canonical decodes unpadded base64url and accepts only the one spelling
// that encodes back to itself: Strict refuses stray low bits in the last
// character, the comparison refuses what the decoder skips (\r, \n).
func canonical(s string) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	if err != nil || s == "" || b64.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

func mac(key []byte, signed string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return m.Sum(nil)
}
