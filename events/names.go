package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Display text (names, titles) is shown to everyone in the meeting, so it
// must look like what it is:
//
//   - NFC-normalized, so one name has one spelling (and one byte length);
//   - surrounding white space trimmed and every inner run of it made one
//     space, so line breaks cannot stack a fake second line;
//   - control characters (C0, C1), format characters (bidi embeddings,
//     overrides and isolates, the byte-order mark, zero-width spaces, tags)
//     and line/paragraph separators refused. "\u202egnp.exe" would display
//     as "exe.png". The zero-width joiner and non-joiner are kept: emoji
//     sequences and Persian or Indic spellings need them;
//   - a name must have something to see: a letter, digit, punctuation mark
//     or symbol other than the blank look-alikes below;
//   - lengths are counted in bytes of the JSON the server sends ("<" is six:
//     \u003c), which is what a page of participants costs.
//
// Refused rather than stripped: a client that sent them gets bad_request and
// can say why, where silently altering a name would surprise its owner.

// Limits on display text, in bytes of its JSON encoding (without quotes).
const (
	MaxNameBytes  = 128
	MaxTitleBytes = 200
)

// blankRunes render as nothing in common fonts although Unicode calls them
// letters or symbols (Hangul fillers, the braille blank); a name of only
// these is invisible.
var blankRunes = map[rune]bool{0x115F: true, 0x1160: true, 0x3164: true, 0xFFA0: true, 0x2800: true, 0x034F: true}

// CleanName returns a participant's display name in its canonical form, or
// why it is refused.
func CleanName(s string) (string, error) { return cleanText("name", s, MaxNameBytes, true) }

// CleanTitle returns a meeting title in its canonical form; empty is allowed.
func CleanTitle(s string) (string, error) { return cleanText("title", s, MaxTitleBytes, false) }

func cleanText(field, s string, maxBytes int, required bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s must be valid UTF-8", field)
	}
	// A bound before any work: NFC can grow a string (by at most 3x).
	if len(s) > 4*maxBytes {
		return "", fmt.Errorf("%s must be at most %d bytes", field, maxBytes)
	}
	s = norm.NFC.String(s)
	var b strings.Builder
	space, visible := false, false
	for _, r := range s {
		switch {
		case r == '\u200c' || r == '\u200d': // ZWNJ, ZWJ: part of a spelling
		case unicode.Is(unicode.Cc, r), unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			return "", fmt.Errorf("%s must not contain control, format or bidirectional characters (U+%04X)", field, r)
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if !blankRunes[r] && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)) {
			visible = true
		}
	}
	out := b.String()
	if required && !visible {
		return "", fmt.Errorf("%s is required: it must have a visible character", field)
	}
	if !required && out != "" && !visible {
		return "", fmt.Errorf("%s must have a visible character, or be empty", field)
	}
	if n := encodedLen(out); n > maxBytes {
		return "", fmt.Errorf("%s must be at most %d bytes as JSON (this one is %d)", field, maxBytes, n)
	}
	return out, nil
}

// encodedLen is the length of s as the server's JSON carries it, quotes
// excluded.
func encodedLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b) - 2
}
