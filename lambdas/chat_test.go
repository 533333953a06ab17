package lambdas

import (
	"strings"
	"testing"

	"github.com/veet-dev/veet/events"
)

func TestRedisHandlersChat(t *testing.T) {
	e := newEnv(t)
	code, host, _ := e.meeting("c-host")
	bob := e.seat("c-bob", code, "Bob", true)
	e.push.take("c-host")

	// The sender's copy is the reply; the others get the same message.
	reply := e.one(e.send("c-bob", map[string]any{"action": "chat", "id": "t1", "text": " <b>hi</b>\r\nall "}), "chat")
	msg := reply["message"].(map[string]any)
	if reply["id"] != "t1" || msg["from"] != string(bob) || msg["name"] != "Bob" || msg["text"] != "<b>hi</b>\nall" || msg["id"].(float64) == 0 {
		t.Fatalf("chat reply %v", reply)
	}
	got := e.one(e.push.take("c-host"), "chat")
	if got["id"] != nil || got["seq"] != nil || got["message"].(map[string]any)["id"] != msg["id"] {
		t.Fatalf("the host's copy %v", got)
	}

	// Refused: too long, not joined, past the limit.
	if c := e.errorCode(e.send("c-bob", map[string]any{"action": "chat", "id": "t2", "text": strings.Repeat("x", events.MaxChatBytes+1)})); c != "bad_request" {
		t.Fatalf("a long message: %s", c)
	}
	e.connect("c-stranger", "")
	if c := e.errorCode(e.send("c-stranger", map[string]any{"action": "chat", "id": "t3", "text": "hi"})); c != "not_joined" {
		t.Fatalf("a stranger's message: %s", c)
	}
	var limited map[string]any
	for i := 0; i < 10 && limited == nil; i++ {
		for _, ev := range e.send("c-bob", map[string]any{"action": "chat", "id": "t4", "text": "again"}) {
			if ev["type"] == "error" {
				limited = ev
			}
		}
	}
	if limited == nil || limited["code"] != "rate_limited" || limited["retryAfterMs"].(float64) <= 0 {
		t.Fatalf("ten messages at once: %v", limited)
	}

	// A late joiner asks for what was said.
	e.seat("c-late", code, "Late", false)
	h := e.one(e.send("c-late", map[string]any{"action": "chat_history", "id": "h1"}), "chat_history")
	msgs := h["messages"].([]any)
	if h["id"] != "h1" || h["more"] != false || len(msgs) < 2 || msgs[0].(map[string]any)["text"] != "<b>hi</b>\nall" {
		t.Fatalf("history %v", h)
	}

	// The host turns chat off: everyone is told (a presence change, in
	// sequence); the node's copy says so; a participant is refused, the
	// host is not.
	e.push.take("c-bob")
	e.one(e.send("c-bob", map[string]any{"action": "set_chat", "id": "s0", "enabled": false}), "error")
	e.one(e.send("c-host", map[string]any{"action": "set_chat", "id": "s1", "enabled": false}), "ack")
	ru := e.one(e.push.take("c-bob"), "room_updated")
	if ru["chatDisabled"] != true || ru["locked"] != false || ru["seq"].(float64) == 0 {
		t.Fatalf("room_updated %v", ru)
	}
	cmds := e.commands("n1")
	if last := cmds[len(cmds)-1]; last.Type != events.CmdRoomMeta || !last.Meta.ChatDisabled {
		t.Fatalf("the node's copy was not told: %+v", last)
	}
	// Locking keeps saying chat is off.
	e.one(e.send("c-host", map[string]any{"action": "lock", "id": "k1", "locked": true}), "ack")
	if ru := e.one(e.push.take("c-bob"), "room_updated"); ru["chatDisabled"] != true || ru["locked"] != true {
		t.Fatalf("room_updated after lock %v", ru)
	}
	snap := e.one(e.send("c-late", map[string]any{"action": "resync", "id": "r1"}), "snapshot")
	if snap["room"].(map[string]any)["chatDisabled"] != true {
		t.Fatalf("snapshot %v", snap)
	}
	if c := e.errorCode(e.send("c-late", map[string]any{"action": "chat", "id": "t5", "text": "hello?"})); c != "forbidden" {
		t.Fatalf("a participant's message while chat is off: %s", c)
	}
	e.one(e.send("c-host", map[string]any{"action": "chat", "id": "t6", "text": "only hosts now"}), "chat")
	_ = host
}

func TestRedisHandlersReactionsAndHands(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	bob := e.seat("c-bob", code, "Bob", true)
	ann := e.seat("c-ann", code, "Ann", true)
	for _, c := range []events.ConnectionID{"c-host", "c-bob", "c-ann"} {
		e.push.take(c)
	}

	e.one(e.send("c-bob", map[string]any{"action": "react", "id": "x1", "emoji": "🎉"}), "ack")
	for _, c := range []events.ConnectionID{"c-host", "c-ann"} {
		r := e.one(e.push.take(c), "reaction")
		if r["participantId"] != string(bob) || r["emoji"] != "🎉" || r["seq"] != nil {
			t.Fatalf("reaction at %s: %v", c, r)
		}
	}
	if len(e.push.take("c-bob")) != 0 {
		t.Fatal("the sender got their own reaction back")
	}
	if c := e.errorCode(e.send("c-bob", map[string]any{"action": "react", "id": "x2", "emoji": "🍕"})); c != "bad_request" {
		t.Fatalf("an emoji outside the set: %s", c)
	}

	// Two hands up, in order; the host lowers all of them.
	for _, c := range []events.ConnectionID{"c-bob", "c-ann"} {
		e.one(e.send(c, map[string]any{"action": "update", "id": "u", "handRaised": true}), "ack")
	}
	var at []float64
	for _, ev := range e.push.take("c-host") {
		if ev["type"] == "participant_updated" {
			at = append(at, ev["participant"].(map[string]any)["handRaisedAt"].(float64))
		}
	}
	if len(at) != 2 || at[0] > at[1] || at[0] == 0 {
		t.Fatalf("hand times at the host: %v", at)
	}
	if c := e.errorCode(e.send("c-ann", map[string]any{"action": "lower_hands", "id": "lh0"})); c != "forbidden" {
		t.Fatalf("a participant lowers all hands: %s", c)
	}
	e.push.take("c-bob")
	e.one(e.send("c-host", map[string]any{"action": "lower_hands", "id": "lh1"}), "ack")
	var down []string
	for _, ev := range e.push.take("c-bob") {
		if ev["type"] == "participant_updated" {
			p := ev["participant"].(map[string]any)
			if p["handRaised"] != false || p["handRaisedAt"] != nil {
				t.Fatalf("a lowered hand %v", p)
			}
			down = append(down, p["id"].(string))
		}
	}
	if len(down) != 2 || !strings.Contains(strings.Join(down, ","), string(ann)) {
		t.Fatalf("lowered %v", down)
	}
}
