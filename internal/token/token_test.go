package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

var (
	keyA = []byte("0123456789abcdef0123456789abcdef")
	keyB = []byte("another secret of enough bytes!!")
	keyC = []byte("a third secret, never configured")
)

func signer(t testing.TB, current []byte, accepted ...[]byte) *Signer {
	t.Helper()
	s, err := New(current, accepted...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var claims = Claims{Room: "abc-defg-hij", Participant: "p_Ab3dE5gH9jK1", Role: events.RoleHost, Name: "Ada"}

func TestRoundTrip(t *testing.T) {
	s := signer(t, keyA)
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
	if kid, _, _ := strings.Cut(tok, "."); len(kid) != 8 || kid != keyID(keyA) {
		t.Fatalf("key id %q", kid)
	}
}

func TestVerifyRejects(t *testing.T) {
	s := signer(t, keyA)
	tok, _ := s.Sign(claims, time.Hour)
	parts := strings.Split(tok, ".")
	kid, head, sig := parts[0], parts[1], parts[2]

	// Same claims but role promoted by the client: signature breaks.
	forged := strings.Replace(string(mustDecode(head)), `"role":"host"`, `"role":"cohost"`, 1)
	otherTok, _ := signer(t, keyC).Sign(claims, time.Hour)
	// The other key's token under our key's id: the id picks the key, the
	// signature still has to hold.
	_, otherRest, _ := strings.Cut(otherTok, ".")
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
		"empty":             {"", ErrMalformed},
		"no dots":           {head, ErrMalformed},
		"no key id":         {head + "." + sig, ErrMalformed},
		"four parts":        {tok + ".x", ErrMalformed},
		"bad base64":        {kid + "." + head + ".!!", ErrMalformed},
		"padded":            {tok + "=", ErrMalformed},
		"newline in sig":    {kid + "." + head + "." + sig[:10] + "\n" + sig[10:], ErrMalformed},
		"short sig":         {kid + "." + head + "." + sig[:20], ErrMalformed},
		"tampered body":     {kid + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + sig, ErrSignature},
		"tampered sig":      {kid + "." + head + "." + string(flipped), ErrSignature},
		"unknown key":       {otherTok, ErrUnknownKey},
		"other key, our id": {kid + "." + otherRest, ErrSignature},
		"oversized":         {strings.Repeat("a", events.MaxTokenLen+1), ErrMalformed},
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

// TestVerifyRefusesNonCanonicalBase64: issue 12 found three other spellings
// of a signature's last character that decoded to the same bytes.
func TestVerifyRefusesNonCanonicalBase64(t *testing.T) {
	s := signer(t, keyA)
	tok, _ := s.Sign(claims, time.Hour)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, part := range []int{1, 2} { // claims, signature
		parts := strings.Split(tok, ".")
		p := parts[part]
		accepted := 0
		for _, ch := range alphabet {
			parts[part] = p[:len(p)-1] + string(ch)
			variant := strings.Join(parts, ".")
			if _, err := s.Verify(variant); err == nil {
				accepted++
				if variant != tok {
					t.Errorf("part %d: a second spelling verifies: %s", part, variant)
				}
			}
		}
		if accepted != 1 {
			t.Errorf("part %d: %d spellings verify, want exactly the token's own", part, accepted)
		}
	}
}

// TestVerifyLifetime: tokens that claim more than MaxLifetime, that were
// issued in the future, or that end before they start are refused even with
// a good signature (only a key holder could make them: a leaked key, or a
// bug, must not mint forever-tokens).
func TestVerifyLifetime(t *testing.T) {
	s := signer(t, keyA)
	now := time.Now()
	mint := func(iat, exp time.Time) string {
		c := claims
		c.IssuedAt, c.Expires = iat.Unix(), exp.Unix()
		body, _ := json.Marshal(c)
		signed := keyID(keyA) + "." + base64.RawURLEncoding.EncodeToString(body)
		m := hmac.New(sha256.New, keyA)
		m.Write([]byte(signed))
		return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	for name, c := range map[string]struct {
		tok  string
		want error
	}{
		"a day":             {mint(now, now.Add(MaxLifetime)), nil},
		"a day and a bit":   {mint(now, now.Add(MaxLifetime+time.Second)), ErrLifetime},
		"ten years":         {mint(now, now.AddDate(10, 0, 0)), ErrLifetime},
		"issued in 2 min":   {mint(now.Add(2*time.Minute), now.Add(time.Hour)), ErrLifetime},
		"issued in 30 s":    {mint(now.Add(30*time.Second), now.Add(time.Hour)), nil}, // clock skew
		"ends before start": {mint(now, now.Add(-time.Second)), ErrLifetime},
		"expired":           {mint(now.Add(-2*time.Hour), now.Add(-time.Hour)), ErrExpired},
	} {
		if _, err := s.Verify(c.tok); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := s.Sign(claims, MaxLifetime+time.Second); err == nil {
		t.Error("signed past MaxLifetime")
	}
	if _, err := s.Sign(claims, 0); err == nil {
		t.Error("signed a token that is born expired")
	}
}

// TestRotation walks the documented procedure (docs/deploy.md): old key A
// signing; B added as accepted; B signing with A accepted; A dropped. At no
// step does a token that a server of the previous step issued stop working
// on a server of this step, until A is dropped.
func TestRotation(t *testing.T) {
	step0 := signer(t, keyA)
	step1 := signer(t, keyA, keyB) // B pending: accepted, not used
	step2 := signer(t, keyB, keyA) // B current, A previous
	step3 := signer(t, keyB)       // A dropped after MaxLifetime
	tokA, _ := step0.Sign(claims, time.Hour)
	tokB, _ := step2.Sign(claims, time.Hour)
	for name, c := range map[string]struct {
		s   *Signer
		tok string
		ok  bool
	}{
		"step 1 takes A":       {step1, tokA, true},
		"step 1 takes B":       {step1, tokB, true},
		"step 2 takes A":       {step2, tokA, true},
		"step 2 takes B":       {step2, tokB, true},
		"step 3 refuses A":     {step3, tokA, false},
		"step 0 refuses B":     {step0, tokB, false},
		"step 1 still signs A": {step1, mustSign(t, step1), true},
	} {
		if _, err := c.s.Verify(c.tok); (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
	if tok := mustSign(t, step1); !strings.HasPrefix(tok, keyID(keyA)+".") {
		t.Error("step 1 signs with B before every server accepts it")
	}
	if signing, accepted := step2.KeyIDs(); signing != keyID(keyB) || len(accepted) != 1 || accepted[0] != keyID(keyA) {
		t.Errorf("key ids %s %v", signing, accepted)
	}
}

func mustSign(t *testing.T, s *Signer) string {
	tok, err := s.Sign(claims, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSignRefusesIncompleteClaimsAndShortKeys(t *testing.T) {
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := New(keyA, []byte("short")); err == nil {
		t.Fatal("short previous key accepted")
	}
	if _, err := signer(t, keyA).Sign(Claims{Room: "abc-defg-hij", Role: events.RoleHost}, time.Hour); err == nil {
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
