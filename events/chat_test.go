package events

import (
	"strings"
	"testing"
)

func TestCleanChat(t *testing.T) {
	ok := []struct{ in, want string }{
		{"  hello  ", "hello"},
		{"line one\r\nline two\rthree", "line one\nline two\nthree"},
		{"code:\n\tindented  twice", "code:\n\tindented  twice"},
		{"<script>alert(1)</script>", "<script>alert(1)</script>"}, // text, rendered as text
		{"e\u0301", "\u00e9"},          // NFC
		{"👩\u200d💻 ok", "👩\u200d💻 ok"}, // ZWJ sequence kept
	}
	for _, c := range ok {
		got, err := CleanChat(c.in)
		if err != nil || got != c.want {
			t.Errorf("CleanChat(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []string{
		"", "   \n\t ", "\u3164\u3164", // nothing to see
		"abc\u202egnp.exe", "a\u0007b", "a\u2028b", "\ufeffhi", "a\u200bb", // control, bidi, format
		strings.Repeat("x", MaxChatBytes+1),
		strings.Repeat("<", MaxChatBytes/6+1), // six bytes each as the server sends them
		"\xff\xfe",
	}
	for _, in := range bad {
		if got, err := CleanChat(in); err == nil {
			t.Errorf("CleanChat(%q) = %q, want a refusal", in, got)
		}
	}
	if _, err := CleanChat(strings.Repeat("x", MaxChatBytes)); err != nil {
		t.Errorf("a message of exactly %d bytes: %v", MaxChatBytes, err)
	}
}

func TestParseChatMessages(t *testing.T) {
	cases := []struct {
		in   string
		code Code // "" = accepted
	}{
		{`{"action":"chat","id":"1","text":"hi"}`, ""},
		{`{"action":"chat","id":"1"}`, CodeBadRequest},
		{`{"action":"chat","id":"1","text":" "}`, CodeBadRequest},
		{`{"action":"chat","id":"1","text":"hi","html":true}`, CodeBadRequest},
		{`{"action":"chat_history","id":"1"}`, ""},
		{`{"action":"chat_history","id":"1","before":-1}`, CodeBadRequest},
		{`{"action":"react","id":"1","emoji":"🎉"}`, ""},
		{`{"action":"react","id":"1","emoji":"🍕"}`, CodeBadRequest},
		{`{"action":"react","id":"1","emoji":"👍👍"}`, CodeBadRequest},
		{`{"action":"set_chat","id":"1","enabled":false}`, ""},
		{`{"action":"set_chat","id":"1"}`, CodeBadRequest},
		{`{"action":"lower_hands","id":"1"}`, ""},
		{`{"action":"lower_hands","id":"1","participantId":"bob"}`, CodeBadRequest},
	}
	for _, c := range cases {
		_, err := ParseClient([]byte(c.in))
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%s refused: %v", c.in, err)
		case c.code != "" && (err == nil || err.Code != c.code):
			t.Errorf("%s: got %v, want %s", c.in, err, c.code)
		}
	}
	m, err := ParseClient([]byte(`{"action":"chat","id":"1","text":"  two\r\nlines "}`))
	if err != nil || m.(*ChatRequest).Text != "two\nlines" {
		t.Fatalf("chat text not cleaned: %+v %v", m, err)
	}
}

// A history page of the longest messages from senders with the longest
// names still fits in one API Gateway message (128 KB), escaped as sent.
func TestChatPageFitsOneMessage(t *testing.T) {
	name, err := CleanName(strings.Repeat("<", MaxNameBytes/6))
	if err != nil {
		t.Fatal(err)
	}
	text, err := CleanChat(strings.Repeat("<", MaxChatBytes/6))
	if err != nil {
		t.Fatal(err)
	}
	page := &ChatHistory{More: true}
	page.ID = strings.Repeat("i", MaxIDLen)
	for i := range ChatPage {
		page.Messages = append(page.Messages, ChatMessage{ID: 1<<53 - uint64(i), From: "p_Ab3dE5gH9jK1", Name: name, Text: text, At: 1 << 50})
	}
	b, err := Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 128*1024 {
		t.Fatalf("a full chat_history page is %d bytes, over 128 KB", len(b))
	}
	t.Logf("a full chat_history page: %d bytes", len(b))
}
