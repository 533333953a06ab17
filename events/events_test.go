package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// examples returns the fenced blocks of PROTOCOL.md tagged ```json KIND.
func examples(t *testing.T, kind string) []string {
	t.Helper()
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```json " + kind + "\n(.*?)\n```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("no %s examples in PROTOCOL.md", kind)
	}
	return out
}

// TestProtocolDocClientExamples: every client example parses, and every
// action has one.
func TestProtocolDocClientExamples(t *testing.T) {
	seen := map[Action]bool{}
	for _, ex := range examples(t, "client") {
		msg, err := ParseClient([]byte(ex))
		if err != nil {
			t.Errorf("example does not parse: %v\n%s", err, ex)
			continue
		}
		seen[msg.Head().Action] = true
	}
	for a := range ClientMessages() {
		if !seen[a] {
			t.Errorf("PROTOCOL.md has no example of %q", a)
		}
	}
}

// TestProtocolDocServerExamples: every server example decodes into its type
// with no unknown field and re-encodes to the same JSON, and every event type
// has one.
func TestProtocolDocServerExamples(t *testing.T) {
	byType := map[EventType]func() Event{}
	for _, e := range ServerEvents() {
		byType[e.EventType()] = func() Event { return cloneZero(e) }
	}
	seen := map[EventType]bool{}
	for _, ex := range examples(t, "server") {
		var head struct{ Type EventType }
		_ = json.Unmarshal([]byte(ex), &head)
		mk, ok := byType[head.Type]
		if !ok {
			t.Errorf("example of unknown type %q", head.Type)
			continue
		}
		e := mk()
		dec := json.NewDecoder(strings.NewReader(ex))
		dec.DisallowUnknownFields()
		if err := dec.Decode(e); err != nil {
			t.Errorf("%s example: %v", head.Type, err)
			continue
		}
		out, _ := Marshal(e)
		if !jsonEqual(out, []byte(ex)) {
			t.Errorf("%s example does not round-trip:\n doc: %s\n got: %s", head.Type, ex, out)
		}
		seen[head.Type] = true
	}
	for typ := range byType {
		if !seen[typ] {
			t.Errorf("PROTOCOL.md has no example of %q", typ)
		}
	}
}

func TestProtocolDocCommandExamples(t *testing.T) {
	seen := map[CommandType]bool{}
	for _, ex := range examples(t, "command") {
		c, err := DecodeCommand([]byte(ex))
		if err != nil {
			t.Errorf("command example: %v\n%s", err, ex)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("command example invalid: %v\n%s", err, ex)
		}
		seen[c.Type] = true
	}
	for _, typ := range []CommandType{CmdJoin, CmdPublishOffer, CmdSubscribeAnswer, CmdCandidate, CmdLeave, CmdSetMuted, CmdCloseRoom, CmdVideoSizes} {
		if !seen[typ] {
			t.Errorf("PROTOCOL.md has no example of command %q", typ)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestParseClientRefuses(t *testing.T) {
	sdp := `"v=0\r\n"`
	cases := []struct {
		name, in string
		code     Code
	}{
		{"not json", `{"action":`, CodeBadRequest},
		{"array", `[]`, CodeBadRequest},
		{"no action", `{"id":"1"}`, CodeBadRequest},
		{"unknown action", `{"action":"fly","id":"1"}`, CodeUnknownAction},
		{"action not a string", `{"action":7,"id":"1"}`, CodeBadRequest},
		{"no id", `{"action":"ping"}`, CodeBadRequest},
		{"bad id", `{"action":"ping","id":"a b"}`, CodeBadRequest},
		{"long id", `{"action":"ping","id":"` + strings.Repeat("a", 65) + `"}`, CodeBadRequest},
		{"unknown field", `{"action":"ping","id":"1","x":1}`, CodeBadRequest},
		{"trailing data", `{"action":"ping","id":"1"} {}`, CodeBadRequest},
		{"wrong type", `{"action":"lock","id":"1","locked":"yes"}`, CodeBadRequest},
		{"create long title", `{"action":"create","id":"1","title":"` + strings.Repeat("t", MaxTitleBytes+1) + `"}`, CodeBadRequest},
		{"join bad code", `{"action":"join","id":"1","code":"ABC-defg-hij","name":"a"}`, CodeBadRequest},
		{"join no name", `{"action":"join","id":"1","code":"abc-defg-hij","name":"  "}`, CodeBadRequest},
		{"join control char", `{"action":"join","id":"1","code":"abc-defg-hij","name":"a\u0007"}`, CodeBadRequest},
		{"join long token", `{"action":"join","id":"1","code":"abc-defg-hij","name":"a","token":"` + strings.Repeat("t", MaxTokenLen+1) + `"}`, CodeBadRequest},
		{"update nothing", `{"action":"update","id":"1"}`, CodeBadRequest},
		{"update empty name", `{"action":"update","id":"1","name":""}`, CodeBadRequest},
		{"offer bad sdp", `{"action":"publish_offer","id":"1","sdp":"x","tracks":[]}`, CodeBadRequest},
		{"offer huge sdp", `{"action":"publish_offer","id":"1","sdp":"v=0` + strings.Repeat("a", MaxSDPLen) + `","tracks":[]}`, CodeBadRequest},
		{"offer bad source", `{"action":"publish_offer","id":"1","sdp":` + sdp + `,"tracks":[{"trackId":"t","source":"radio"}]}`, CodeBadRequest},
		{"offer no track id", `{"action":"publish_offer","id":"1","sdp":` + sdp + `,"tracks":[{"trackId":"","source":"camera"}]}`, CodeBadRequest},
		{"offer many tracks", `{"action":"publish_offer","id":"1","sdp":` + sdp + `,"tracks":[` + strings.Repeat(`{"trackId":"t","source":"camera"},`, MaxTracks) + `{"trackId":"t","source":"camera"}]}`, CodeBadRequest},
		{"answer bad sdp", `{"action":"subscribe_answer","id":"1","sdp":""}`, CodeBadRequest},
		{"candidate bad target", `{"action":"candidate","id":"1","target":"both","candidate":{"candidate":""}}`, CodeBadRequest},
		{"candidate long", `{"action":"candidate","id":"1","target":"publish","candidate":{"candidate":"` + strings.Repeat("c", MaxCandidate+1) + `"}}`, CodeBadRequest},
		{"admit bad id", `{"action":"admit","id":"1","participantId":"bob"}`, CodeBadRequest},
		{"deny bad id", `{"action":"deny","id":"1","participantId":""}`, CodeBadRequest},
		{"remove bad id", `{"action":"remove","id":"1","participantId":"p_short"}`, CodeBadRequest},
		{"mute bad source", `{"action":"mute","id":"1","participantId":"p_Ab3dE5gH9jK1","source":"voice"}`, CodeBadRequest},
		{"set_role host", `{"action":"set_role","id":"1","participantId":"p_Ab3dE5gH9jK1","role":"host"}`, CodeBadRequest},
		{"sizes no session", `{"action":"video_sizes","id":"1","sizes":[]}`, CodeBadRequest},
		{"sizes missing", `{"action":"video_sizes","id":"1","session":"m1"}`, CodeBadRequest},
		{"size no height", `{"action":"video_sizes","id":"1","session":"m1","sizes":[{"mid":"1","width":3}]}`, CodeBadRequest},
		{"size negative", `{"action":"video_sizes","id":"1","session":"m1","sizes":[{"mid":"1","width":-1,"height":3}]}`, CodeBadRequest},
		{"size huge", `{"action":"video_sizes","id":"1","session":"m1","sizes":[{"mid":"1","width":8193,"height":3}]}`, CodeBadRequest},
		{"size bad mid", `{"action":"video_sizes","id":"1","session":"m1","sizes":[{"mid":"a b","width":1,"height":3}]}`, CodeBadRequest},
		{"size mid twice", `{"action":"video_sizes","id":"1","session":"m1","sizes":[{"mid":"1","width":1,"height":3},{"mid":"1","width":0,"height":0}]}`, CodeBadRequest},
		{"sizes too many", `{"action":"video_sizes","id":"1","session":"m1","sizes":[` + manySizes(MaxVideoSizes+1) + `]}`, CodeBadRequest},
	}
	for _, c := range cases {
		_, err := ParseClient([]byte(c.in))
		if err == nil || err.Code != c.code {
			t.Errorf("%s: got %v, want %s", c.name, err, c.code)
		}
	}
}

func manySizes(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"mid":"%d","width":320,"height":180}`, i)
	}
	return strings.Join(parts, ",")
}

func TestParseClientAccepts(t *testing.T) {
	if _, err := ParseClient([]byte(`{"action":"video_sizes","id":"1","session":"m1","sizes":[` + manySizes(MaxVideoSizes) + `]}`)); err != nil {
		t.Fatalf("%d sizes refused: %v", MaxVideoSizes, err)
	}
	m, err := ParseClient([]byte(`{"action":"candidate","id":"1","session":"m1","target":"subscribe","candidate":{"candidate":""}}`))
	if err != nil {
		t.Fatalf("end-of-candidates refused: %v", err)
	}
	if c := m.(*CandidateRequest); c.Target != TargetSubscribe {
		t.Fatalf("%+v", c)
	}
	m, err = ParseClient([]byte(`{"action":"update","id":"u","micOn":false}`))
	if err != nil || m.(*UpdateRequest).MicOn == nil || *m.(*UpdateRequest).MicOn {
		t.Fatalf("update micOn:false: %+v %v", m, err)
	}
}

func TestMarshalReplyWithSeq(t *testing.T) {
	e := WithSeq(7, Reply("r1", &ParticipantLeft{ParticipantID: "p_Ab3dE5gH9jK1", Reason: ReasonLeft}))
	b, err := Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"type":"participant_left","id":"r1","seq":7,"participantId":"p_Ab3dE5gH9jK1","reason":"left"}` {
		t.Fatalf("%s", b)
	}
	// No id, no seq: both omitted.
	b, _ = Marshal(&Ack{})
	if string(b) != `{"type":"ack"}` {
		t.Fatalf("%s", b)
	}
	ev := ErrorFor("c1", "gw-1", Errorf(CodeForbidden, "only %s", "hosts"))
	b, _ = Marshal(ev)
	if string(b) != `{"type":"error","id":"c1","code":"forbidden","message":"only hosts","requestId":"gw-1"}` {
		t.Fatalf("%s", b)
	}
	if AsError(os.ErrNotExist).Code != CodeInternal {
		t.Fatal("unexpected errors must map to internal")
	}
}

func TestIDs(t *testing.T) {
	for range 100 {
		if c := NewRoomCode(); !c.Valid() {
			t.Fatalf("bad code %q", c)
		}
		if p := NewParticipantID(); !p.Valid() {
			t.Fatalf("bad id %q", p)
		}
	}
	if RoomCode("abc-defg-hi").Valid() || ParticipantID("p_!!!!!!!!!!!!").Valid() {
		t.Fatal("invalid ids accepted")
	}
	if !RoleCohost.Moderates() || RoleParticipant.Moderates() || Role("admin").Valid() {
		t.Fatal("roles")
	}
}

func TestCommandValidate(t *testing.T) {
	conn := ConnRef{ConnectionID: "c", Endpoint: "http://gw"}
	bad := []Command{
		{Type: CmdJoin, Room: "nope", Participant: "p_Ab3dE5gH9jK1", Conn: conn},
		{Type: CmdJoin, Room: "abc-defg-hij", Participant: "p_Ab3dE5gH9jK1"},
		{Type: CmdPublishOffer, Room: "abc-defg-hij", Participant: "p_Ab3dE5gH9jK1", SDP: "x"},
		{Type: CmdCandidate, Room: "abc-defg-hij", Participant: "p_Ab3dE5gH9jK1", Target: TargetPublish},
		{Type: CmdSetMuted, Room: "abc-defg-hij", Participant: "p_Ab3dE5gH9jK1", Source: "x"},
		{Type: CmdLeave, Room: "abc-defg-hij"},
		{Type: "reboot", Room: "abc-defg-hij"},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

// cloneZero returns a new zero value of e's concrete type.
func cloneZero(e Event) Event {
	return reflect.New(reflect.TypeOf(e).Elem()).Interface().(Event)
}
