package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeClient: whatever a client sends, DecodeClient answers without
// panicking, with a code; what it accepts is a message it would accept again
// after the server re-encodes it, with the same head, clean names, and only
// keys of the protocol.
func FuzzDecodeClient(f *testing.F) {
	for _, s := range []string{
		`{"action":"ping","id":"p1"}`,
		`{"action":"join","id":"j1","code":"abc-defg-hij","name":"Ada","token":"x.y.z","micOn":true,"camOn":false}`,
		`{"action":"update","id":"u1","micOn":null,"name":" René "}`,
		`{"action":"candidate","id":"i1","target":"publish","candidate":{"candidate":"","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"action":"publish_offer","id":"o1","sdp":"v=0\r\n","tracks":[{"trackId":"t","source":"camera"}]}`,
		`{"action":"ping","id":"d4","Action":"end"}`,
		`{"action":"lock","id":"k1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, head, err := DecodeClient(data)
		if err != nil {
			if err.Code != CodeBadRequest && err.Code != CodeUnknownAction {
				t.Fatalf("refused with %s: %v", err.Code, err)
			}
			if head.ID != "" && !requestIDRE.MatchString(head.ID) {
				t.Fatalf("an invalid id names the request: %q", head.ID)
			}
			return
		}
		if msg.Head().Action != head.Action || msg.Head().ID != head.ID {
			t.Fatalf("head %+v, message head %+v", head, *msg.Head())
		}
		out, jerr := json.Marshal(msg)
		if jerr != nil {
			t.Fatal(jerr)
		}
		again, _, err := DecodeClient(out)
		if err != nil {
			t.Fatalf("accepted %q but not its re-encoding %s: %v", data, out, err)
		}
		if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("re-encoding changed the message:\n%s\n%s", out, out2)
		}
		checkNames(t, msg)
	})
}

// checkNames: a name that got through is its own clean form.
func checkNames(t *testing.T, msg ClientMessage) {
	var names []string
	switch m := msg.(type) {
	case *JoinRequest:
		names = append(names, m.Name)
	case *UpdateRequest:
		if m.Name != nil {
			names = append(names, *m.Name)
		}
	case *CreateRequest:
		if m.Title != "" {
			names = append(names, m.Title)
		}
	}
	for _, n := range names {
		if !utf8.ValidString(n) || strings.TrimSpace(n) != n {
			t.Fatalf("name %q is not clean", n)
		}
		if c, err := cleanText("x", n, MaxTitleBytes, true); err != nil || c != n {
			t.Fatalf("name %q cleans to %q, %v", n, c, err)
		}
	}
}

// FuzzDecodeCommand: no command a node reads makes the decoder panic; one
// it accepts survives re-encoding unchanged, and Validate does not panic.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","room":"abc-defg-hij","participant":"p_Ab3dE5gH9jK1","conn":{"connectionId":"c","endpoint":"http://gw"},"requestId":"j1","mutedSources":["camera"],"seq":7,"sentAt":1}`,
		`{"type":"candidate","room":"abc-defg-hij","participant":"p_Ab3dE5gH9jK1","conn":{"connectionId":"c","endpoint":"e"},"target":"publish","candidate":{"candidate":"x","sdpMid":"0"},"sentAt":1}`,
		`{"type":"close_room","room":"abc-defg-hij","conn":{"connectionId":"","endpoint":""},"sentAt":1}`,
		`{"type":"leave","type":"close_room","room":"abc-defg-hij"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			return
		}
		_ = c.Validate()
		out, jerr := json.Marshal(c)
		if jerr != nil {
			t.Fatal(jerr)
		}
		again, err := DecodeCommand(out)
		if err != nil {
			t.Fatalf("accepted %q but not its re-encoding %s: %v", data, out, err)
		}
		if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("re-encoding changed the command:\n%s\n%s", out, out2)
		}
	})
}
