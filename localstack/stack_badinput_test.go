package localstack_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// TestStackBadInput: each kind of bad input gets the documented error event
// (code, message, gateway request id, and the client's id when it had a
// readable one) and leaves the room exactly as it was.
func TestStackBadInput(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1})
	host, code := createMeeting(t, s, "host")
	ann := admitGuest(t, s, host, code, "ann")
	host.WaitFor(t, "participant_joined")
	before := roomState(t, s, code, host)

	// Another meeting, whose host token must not open this one.
	other, _ := createMeeting(t, s, "other")

	pad := func(n int) string {
		head := `{"action":"ping","id":"big","pad":"`
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}
	cases := []struct {
		name   string
		send   func(c *wsclient.Client) error
		code   string
		id     string // the client id the error must name; "" = none
		dialer wsclient.Options
	}{
		{name: "malformed JSON", code: "bad_request",
			send: raw(`{"action":"join","id":"m1","code":`)},
		{name: "not JSON at all", code: "bad_request",
			send: raw(`hello`)},
		{name: "unknown action", code: "unknown_action", id: "u1",
			send: raw(`{"action":"dance","id":"u1"}`)},
		{name: "unknown field", code: "bad_request", id: "f1",
			send: raw(`{"action":"ping","id":"f1","extra":1}`)},
		{name: "200 KB message in 16 KB frames", code: "message_too_large",
			dialer: wsclient.Options{WriteBufferSize: 16 * 1024},
			send:   raw(pad(200 * 1024))},
		{name: "40 KB frame", code: "frame_too_large",
			send: raw(pad(40 * 1024))},
		{name: "join an unknown meeting", code: "not_found", id: "j1",
			send: raw(`{"action":"join","id":"j1","code":"zzz-zzzz-zzz","name":"eve"}`)},
		{name: "join with another meeting's token", code: "unauthorized", id: "j2",
			send: raw(`{"action":"join","id":"j2","code":"` + string(code) + `","name":"eve","token":"` + other.token + `"}`)},
		{name: "moderate without joining", code: "not_joined", id: "k1",
			send: raw(`{"action":"remove","id":"k1","participantId":"` + string(ann.id) + `"}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := wsclient.Dial(t, s.WSURL(), tc.dialer)
			c.Name = "eve"
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			e := c.WaitFor(t, "error")
			if e.Code != tc.code || e.Message == "" || e.RequestID == "" || e.ID != tc.id {
				t.Errorf("error event %s; want code %q, a message, a requestId and id %q", e, tc.code, tc.id)
			}
			// The socket stays usable.
			id := c.MustSend(t, "ping", nil)
			if r := c.WaitReply(t, id); r.Type != "pong" {
				t.Errorf("ping after the error: %s", r)
			}
		})
	}

	// A participant may not moderate: ann tries to remove the host.
	id := ann.MustSend(t, "remove", map[string]any{"participantId": host.id})
	if e := ann.WaitReply(t, id); e.Type != "error" || e.Code != "forbidden" || e.RequestID == "" {
		t.Errorf("ann removing the host: %s", e)
	}

	after := roomState(t, s, code, host)
	if !reflect.DeepEqual(before, after) {
		b, _ := json.Marshal(before)
		a, _ := json.Marshal(after)
		t.Errorf("bad input changed the room:\nbefore %s\nafter  %s", b, a)
	}
	// Nobody in the meeting heard of any of it.
	for _, p := range []*person{host, ann} {
		if e, ok := p.Next(func(e wsclient.Event) bool {
			return e.Seq > 0 && e.Type != "joined"
		}, 200*time.Millisecond); ok {
			t.Errorf("%s got a presence event from bad input: %s", p.Name, e)
		}
	}
}

func raw(s string) func(c *wsclient.Client) error {
	return func(c *wsclient.Client) error { return c.SendRaw([]byte(s)) }
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
