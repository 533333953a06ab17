package events

import (
	"strings"
	"testing"
)

func TestCleanNameRefuses(t *testing.T) {
	for name, in := range map[string]string{
		// Issue 12, item 3.
		"C1 control NEL":        "Ada\u0085Lovelace",
		"bidi override":         "\u202egnp.exe",
		"bidi isolate":          "Ada\u2066x\u2069",
		"byte-order mark":       "\ufeffAda",
		"line separator":        "Ada\u2028Host",
		"paragraph separator":   "Ada\u2029",
		"only zero-width":       "\u200b\u200c\u200d",
		"zero-width space":      "A\u200bda",
		"C0 control":            "Ada\x07",
		"newline":               "Ada\nHost",
		"tag characters":        "Ada\U000E0041",
		"only spaces":           " \u00a0\u3000 ",
		"only hangul fillers":   "\u3164\u3164",
		"only braille blank":    "\u2800",
		"only combining marks":  "\u0301\u0301",
		"empty":                 "",
		"invalid UTF-8":         "Ada\xff",
		"too long in JSON":      strings.Repeat("<", 22), // 22 × 6 bytes > 128
		"too long in UTF-8":     strings.Repeat("é", 65),
		"too long before NFC":   strings.Repeat("e\u0301", 300),
		"129 ASCII":             strings.Repeat("a", 129),
		"ZWJ without a visible": "\u200d \u200d",
	} {
		if got, err := CleanName(in); err == nil {
			t.Errorf("%s: accepted as %q", name, got)
		}
	}
}

func TestCleanNameNormalizes(t *testing.T) {
	for in, want := range map[string]string{
		"  Ada   Lovelace ":       "Ada Lovelace",
		"Ada\u00a0\u3000Lovelace": "Ada Lovelace",
		"Rene\u0301":              "René", // NFC: one code point
		"👩\u200d💻 Grace":          "👩\u200d💻 Grace",
		"می\u200cخواهم":           "می\u200cخواهم", // ZWNJ in a Persian spelling
		"李小龍":                     "李小龍",
		"<img src=x>":             "<img src=x>", // text, not markup: the SPA never renders it as HTML
		strings.Repeat("a", 128):  strings.Repeat("a", 128),
		strings.Repeat("<", 21):   strings.Repeat("<", 21),
	} {
		got, err := CleanName(in)
		if err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := CleanTitle(""); err != nil {
		t.Errorf("empty title refused: %v", err)
	}
	if _, err := CleanTitle("\u202e"); err == nil {
		t.Error("bidi title accepted")
	}
}

// TestJoinAndUpdateCleanNames: the messages carry the cleaned name on, and
// refuse what CleanName refuses.
func TestJoinAndUpdateCleanNames(t *testing.T) {
	m, err := ParseClient([]byte(`{"action":"join","id":"j","code":"abc-defg-hij","name":" Rene\u0301  D "}`))
	if err != nil || m.(*JoinRequest).Name != "René D" {
		t.Fatalf("join: %+v %v", m, err)
	}
	m, err = ParseClient([]byte(`{"action":"update","id":"u","name":"Grace\u0020\u0020H"}`))
	if err != nil || *m.(*UpdateRequest).Name != "Grace H" {
		t.Fatalf("update: %+v %v", m, err)
	}
	for _, in := range []string{
		`{"action":"update","id":"u","name":"\u202egnp.exe"}`,
		`{"action":"join","id":"j","code":"abc-defg-hij","name":"\u200b"}`,
		`{"action":"create","id":"c","title":"x\u0085y"}`,
	} {
		if _, err := ParseClient([]byte(in)); err == nil || err.Code != CodeBadRequest {
			t.Errorf("%s: %v", in, err)
		}
	}
}
