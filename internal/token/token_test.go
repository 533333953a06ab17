package token

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

func signer(t *testing.T) *Signer {
	s, err := New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var claims = Claims{Room: "abc-defg-hij", Participant: "p_Ab3dE5gH9jK1", Role: events.RoleHost, Name: "Ada"}

func TestRoundTrip(t *testing.T) {
	s := signer(t)
	tok, err := s.Sign(claims, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Room != claims.Room || got.Participant != claims.Participant || got.Role != claims.Role || got.Name != "Ada" {
		t.Fatalf("claims %+v", got)
	}
	if got.Expires-got.IssuedAt != 3600 {
		t.Fatalf("ttl %d", got.Expires-got.IssuedAt)
	}
}

func TestVerifyRejects(t *testing.T) {
	s := signer(t)
	tok, _ := s.Sign(claims, time.Hour)
	head, sig, _ := strings.Cut(tok, ".")

	// Same claims but role promoted to host by the client: signature breaks.
	forged := strings.Replace(string(mustDecode(head)), `"role":"host"`, `"role":"cohost"`, 1)
	other, _ := New([]byte("another secret of enough bytes!!"))
	otherTok, _ := other.Sign(claims, time.Hour)
	// Swap one signature character for another valid base64url one (a bit
	// flip could make it undecodable, which is a different error).
	flipped := []byte(sig)
	if flipped[3] == 'A' {
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}

	cases := map[string]struct {
		tok  string
		want error
	}{
		"empty":         {"", ErrMalformed},
		"no dot":        {head, ErrMalformed},
		"two dots":      {tok + ".x", ErrMalformed},
		"bad base64":    {head + ".!!", ErrMalformed},
		"tampered body": {base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + sig, ErrSignature},
		"tampered sig":  {head + "." + string(flipped), ErrSignature},
		"other secret":  {otherTok, ErrSignature},
		"oversized":     {strings.Repeat("a", events.MaxTokenLen+1), ErrMalformed},
	}
	for name, c := range cases {
		if _, err := s.Verify(c.tok); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}

	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := s.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
}

func TestSignRefusesIncompleteClaimsAndShortKeys(t *testing.T) {
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := signer(t).Sign(Claims{Room: "abc-defg-hij", Role: events.RoleHost}, time.Hour); err == nil {
		t.Fatal("signed claims without a participant")
	}
}

func mustDecode(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
