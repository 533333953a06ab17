package events

import (
	"strings"
	"testing"
)

// TestDecodeClientStrict: the payloads of issue 12 and their relatives. Keys
// are matched exactly, once, required ones present; the head names the
// request whenever its id was readable.
func TestDecodeClientStrict(t *testing.T) {
	cases := []struct {
		name, in string
		code     Code
		id       string // the head's id
		msg      string // part of the error message
	}{
		// Issue 12, item 1: case-folded keys got a pong and turned the mic on.
		{"folded action and id", `{"Action":"ping","Id":"x"}`, CodeBadRequest, "", "action is required"},
		{"folded field", `{"action":"update","id":"u1","MICON":true}`, CodeBadRequest, "u1", `unknown field "MICON"`},
		{"second action in another case", `{"action":"ping","id":"d4","Action":"end"}`, CodeBadRequest, "d4", `unknown field "Action"`},
		// Issue 12, item 2: lock without locked unlocked the meeting.
		{"lock without locked", `{"action":"lock","id":"k1"}`, CodeBadRequest, "k1", `field "locked" is required`},
		{"lock with null", `{"action":"lock","id":"k1","locked":null}`, CodeBadRequest, "k1", "must not be null"},
		{"duplicate action", `{"action":"ping","id":"d5","action":"end"}`, CodeBadRequest, "d5", "action appears more than once"},
		{"duplicate id", `{"action":"ping","id":"a","id":"b"}`, CodeBadRequest, "", `field "id" appears more than once`},
		{"duplicate field", `{"action":"update","id":"u2","micOn":true,"micOn":false}`, CodeBadRequest, "u2", `field "micOn" appears more than once`},
		{"escaped duplicate", `{"action":"update","id":"u3","micOn":true,"mic\u004fn":false}`, CodeBadRequest, "u3", "appears more than once"},
		{"nested folded key", `{"action":"candidate","id":"i1","target":"publish","candidate":{"Candidate":"x"}}`, CodeBadRequest, "i1", `unknown field "candidate.Candidate"`},
		{"nested duplicate", `{"action":"candidate","id":"i2","target":"publish","candidate":{"candidate":"a","candidate":"b"}}`, CodeBadRequest, "i2", `"candidate.candidate" appears more than once`},
		{"nested required", `{"action":"candidate","id":"i3","target":"publish","candidate":{"sdpMid":"0"}}`, CodeBadRequest, "i3", `"candidate.candidate" is required`},
		{"array element key", `{"action":"publish_offer","id":"o1","sdp":"v=0\r\n","tracks":[{"trackId":"t","source":"camera","Source":"screen"}]}`, CodeBadRequest, "o1", `unknown field "tracks[0].Source"`},
		{"offer without tracks", `{"action":"publish_offer","id":"o2","session":"m1","sdp":"v=0\r\n"}`, CodeBadRequest, "o2", `"tracks" is required`},
		{"join without name", `{"action":"join","id":"j1","code":"abc-defg-hij"}`, CodeBadRequest, "j1", `"name" is required`},
		{"mute without source", `{"action":"mute","id":"m1","participantId":"p_Ab3dE5gH9jK1"}`, CodeBadRequest, "m1", `"source" is required`},
		{"set_role without role", `{"action":"set_role","id":"r1","participantId":"p_Ab3dE5gH9jK1"}`, CodeBadRequest, "r1", `"role" is required`},
		{"wrong type names the field", `{"action":"lock","id":"k2","locked":"yes"}`, CodeBadRequest, "k2", `field "locked" must be true or false`},
		{"action null", `{"action":null,"id":"n1"}`, CodeBadRequest, "n1", "action must be a string"},
		{"action number", `{"action":7,"id":"n2"}`, CodeBadRequest, "n2", "action must be a string"},
		{"unknown action keeps the id", `{"action":"fly","id":"f1"}`, CodeUnknownAction, "f1", `unknown action "fly"`},
		{"trailing data", `{"action":"ping","id":"t1"} {}`, CodeBadRequest, "", "trailing data"},
		{"not an object", `["ping"]`, CodeBadRequest, "", "JSON object"},
		{"invalid id not named", `{"action":"ping","id":"<b>"}`, CodeBadRequest, "", "id is required"},
	}
	for _, c := range cases {
		msg, head, err := DecodeClient([]byte(c.in))
		if err == nil {
			t.Errorf("%s: accepted %+v", c.name, msg)
			continue
		}
		if err.Code != c.code || head.ID != c.id || !strings.Contains(err.Message, c.msg) {
			t.Errorf("%s: got %v (head id %q); want %s naming %q with %q", c.name, err, head.ID, c.code, c.id, c.msg)
		}
	}
}

func TestDecodeClientAcceptsWhatTheProtocolSays(t *testing.T) {
	// A null pointer field is absent; the others still count.
	m, head, err := DecodeClient([]byte(`{"action":"update","id":"u","micOn":null,"handRaised":true}`))
	if err != nil {
		t.Fatal(err)
	}
	u := m.(*UpdateRequest)
	if u.MicOn != nil || u.HandRaised == nil || !*u.HandRaised || head.Action != ActionUpdate || head.ID != "u" {
		t.Fatalf("%+v %+v", u, head)
	}
	// Escapes in keys and values are JSON: "\u0061ction" is "action".
	m, _, err = DecodeClient([]byte(`{"\u0061ction":"lock","id":"k","locked":true}`))
	if err != nil || !m.(*LockRequest).Locked {
		t.Fatalf("escaped key: %+v %v", m, err)
	}
	// A field without omitempty is still optional unless tagged required.
	m, _, err = DecodeClient([]byte(`{"action":"join","id":"j","code":"abc-defg-hij","name":"Ada"}`))
	if err != nil || m.(*JoinRequest).MicOn {
		t.Fatalf("join without device state: %+v %v", m, err)
	}
}

func TestDecodeCommandStrict(t *testing.T) {
	good := `{"type":"leave","room":"abc-defg-hij","participant":"p_Ab3dE5gH9jK1","conn":{"connectionId":"c","endpoint":"http://gw"},"sentAt":1}`
	c, err := DecodeCommand([]byte(good))
	if err != nil || c.Type != CmdLeave || c.Conn.Endpoint != "http://gw" {
		t.Fatalf("%+v %v", c, err)
	}
	for name, in := range map[string]string{
		"folded key":       `{"Type":"leave","room":"abc-defg-hij"}`,
		"duplicate type":   `{"type":"leave","type":"close_room","room":"abc-defg-hij"}`,
		"nested duplicate": `{"type":"leave","room":"abc-defg-hij","conn":{"connectionId":"a","connectionId":"b","endpoint":""}}`,
		"no room":          `{"type":"close_room"}`,
		"no type":          `{"room":"abc-defg-hij"}`,
		"unknown field":    `{"type":"leave","room":"abc-defg-hij","reboot":true}`,
		"not json":         `leave`,
	} {
		if c, err := DecodeCommand([]byte(in)); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
}
