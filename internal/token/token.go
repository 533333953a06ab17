// Package token issues and checks meeting tokens: a compact, HMAC-SHA256
// signed statement "participant P may join meeting R as role X until T".
//
// Format: base64url(JSON claims) "." base64url(HMAC-SHA256(key, first part)).
// No JWT library: one algorithm, fixed, so there is no "alg" to negotiate.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/veet-dev/veet/events"
)

// Errors Verify returns; all of them mean "unauthorized" to a client.
var (
	ErrMalformed = errors.New("token: malformed")
	ErrSignature = errors.New("token: bad signature")
	ErrExpired   = errors.New("token: expired")
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

// MinKeyLen is the shortest secret New accepts.
const MinKeyLen = 16

// Signer signs and verifies tokens with one secret.
type Signer struct {
	key []byte
	now func() time.Time
}

// New returns a Signer; the secret must be at least MinKeyLen bytes.
func New(secret []byte) (*Signer, error) {
	if len(secret) < MinKeyLen {
		return nil, fmt.Errorf("token: secret must be at least %d bytes", MinKeyLen)
	}
	return &Signer{key: append([]byte(nil), secret...), now: time.Now}, nil
}

// Sign returns a token for c valid for ttl from now.
func (s *Signer) Sign(c Claims, ttl time.Duration) (string, error) {
	if !c.Room.Valid() || !c.Participant.Valid() || !c.Role.Valid() {
		return "", fmt.Errorf("token: refusing to sign incomplete claims %+v", c)
	}
	now := s.now()
	c.IssuedAt = now.Unix()
	c.Expires = now.Add(ttl).Unix()
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	head := base64.RawURLEncoding.EncodeToString(body)
	return head + "." + base64.RawURLEncoding.EncodeToString(s.mac(head)), nil
}

// Verify checks the signature and expiry and returns the claims.
func (s *Signer) Verify(tok string) (Claims, error) {
	var c Claims
	if len(tok) > events.MaxTokenLen {
		return c, ErrMalformed
	}
	head, sig, ok := strings.Cut(tok, ".")
	if !ok || head == "" || strings.Contains(sig, ".") {
		return c, ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return c, ErrMalformed
	}
	// Signature first: never parse what we did not sign.
	if !hmac.Equal(got, s.mac(head)) {
		return c, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil || json.Unmarshal(body, &c) != nil {
		return Claims{}, ErrMalformed
	}
	if !c.Room.Valid() || !c.Participant.Valid() || !c.Role.Valid() {
		return Claims{}, ErrMalformed
	}
	if s.now().Unix() >= c.Expires {
		return Claims{}, ErrExpired
	}
	return c, nil
}

func (s *Signer) mac(head string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(head))
	return m.Sum(nil)
}
