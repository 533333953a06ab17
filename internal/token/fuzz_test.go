package token

import (
	"strings"
	"testing"
	"time"
)

// FuzzVerify: no input makes Verify panic, and the only tokens it accepts
// are ones the key holder signed, spelled exactly as signed: a fuzzer
// cannot forge, and no other spelling of a real token verifies.
func FuzzVerify(f *testing.F) {
	s := signer(f, keyA, keyB)
	at := time.Unix(1764000000, 0)
	s.now = func() time.Time { return at }
	signed := map[string]bool{}
	for _, c := range []Claims{claims, {Room: "zzz-zzzz-zzz", Participant: "p_Zz9yX8wV7uT6", Role: "participant"}} {
		tok, err := s.Sign(c, time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		signed[tok] = true
		f.Add(tok)
		f.Add(tok[:len(tok)-1] + "B")
		f.Add(strings.Replace(tok, ".", "..", 1))
	}
	old, _ := signer(f, keyB).Sign(claims, time.Hour) // accepted key, old-style: not signed by s's clock
	f.Add(old)
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok)
		if err != nil {
			return
		}
		if !signed[tok] && tok != old {
			t.Fatalf("accepted a token nobody signed: %q → %+v", tok, c)
		}
	})
}
