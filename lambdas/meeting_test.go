package lambdas

import (
	"strings"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

func TestRedisHandlersCreateJoinLeave(t *testing.T) {
	e := newEnv(t)
	code, host, _ := e.meeting("c-host")
	if !code.Valid() {
		t.Fatalf("code %q", code)
	}
	cmds := e.commands("n1")
	if len(cmds) != 1 || cmds[0].Type != events.CmdJoin || cmds[0].Participant != host || cmds[0].Conn.Endpoint != "http://gw" {
		t.Fatalf("node commands %+v", cmds)
	}

	// A participant with a token joins straight in; the host sees it.
	_, tok := e.participantToken(code)
	e.connect("c-bob", "")
	joined := e.one(e.send("c-bob", map[string]any{"action": "join", "id": "j2", "code": code, "name": "Bob", "token": tok, "micOn": false, "camOn": true}), "joined")
	room := joined["room"].(map[string]any)
	if len(room["participants"].([]any)) != 2 || joined["id"] != "j2" || room["seq"].(float64) != 2 {
		t.Fatalf("joined %v", joined)
	}
	if room["lobby"] != nil && len(room["lobby"].([]any)) != 0 {
		t.Fatalf("participant sees the lobby: %v", room["lobby"])
	}
	pj := e.one(e.push.take("c-host"), "participant_joined")
	if pj["seq"].(float64) != 2 || pj["participant"].(map[string]any)["name"] != "Bob" {
		t.Fatalf("participant_joined %v", pj)
	}
	if cmds := e.commands("n1"); cmds[1].Type != events.CmdJoin || len(cmds[1].MutedSources) == 0 || cmds[1].MutedSources[0] != events.SourceMicrophone || cmds[1].Seq != 2 {
		t.Fatalf("bob's join command %+v (want seq 2, the join's)", cmds[1])
	}

	// Ping answers pong.
	if p := e.one(e.send("c-bob", map[string]any{"action": "ping", "id": "p1"}), "pong"); p["serverTime"].(float64) == 0 {
		t.Fatalf("pong %v", p)
	}

	// Bob leaves: reply left, host sees participant_left, node told.
	e.one(e.send("c-bob", map[string]any{"action": "leave", "id": "l1"}), "left")
	pl := e.one(e.push.take("c-host"), "participant_left")
	if pl["reason"] != "left" || pl["seq"].(float64) != 3 {
		t.Fatalf("participant_left %v", pl)
	}
	cmds = e.commands("n1")
	if last := cmds[len(cmds)-1]; last.Type != events.CmdLeave {
		t.Fatalf("last command %+v", last)
	}

	// The host disconnects and does not come back: the room is empty.
	e.invoke("$disconnect", "c-host", "", nil)
	time.Sleep(60 * time.Millisecond)
	if gone, _, err := e.st.ExpireAway(t.Context(), code); err != nil || len(gone) != 1 {
		t.Fatalf("expired %+v (%v)", gone, err)
	}
	snap, err := e.st.Meeting(t.Context(), code)
	if err != nil || snap.Node != "" {
		t.Fatalf("after everyone left: %+v %v", snap, err)
	}
}

func TestRedisHandlersConnectToken(t *testing.T) {
	e := newEnv(t)
	if got := e.connect("c1", "garbage.token"); got != 401 {
		t.Fatalf("bad token connect: %d", got)
	}
	code, _, _ := e.meeting("c-host")
	pid, tok := e.participantToken(code)
	if got := e.connect("c2", tok); got != 200 {
		t.Fatalf("good token connect: %d", got)
	}
	// join without a token uses the one from $connect.
	j := e.one(e.send("c2", map[string]any{"action": "join", "id": "j", "code": code, "name": "Q"}), "joined")
	if j["you"].(map[string]any)["id"] != string(pid) {
		t.Fatalf("joined as %v", j["you"])
	}
}

func TestRedisHandlersBadInput(t *testing.T) {
	e := newEnv(t)
	code, _, hostTok := e.meeting("c-host")
	e.push.take("c-host")
	e.connect("c-x", "")
	other, _, _ := e.meeting("c-other")
	otherPid, otherTok := e.participantToken(other)
	_ = otherPid

	cases := []struct {
		name, route, body, code string
	}{
		{"malformed json", "$default", `{"action":`, "bad_request"},
		{"not an object", "$default", `[1,2]`, "bad_request"},
		{"unknown action", "$default", `{"action":"dance","id":"1"}`, "unknown_action"},
		{"unknown field", "join", `{"action":"join","id":"1","code":"` + string(code) + `","name":"a","color":"red"}`, "bad_request"},
		{"missing id", "ping", `{"action":"ping"}`, "bad_request"},
		{"bad code", "join", `{"action":"join","id":"1","code":"nope","name":"a"}`, "bad_request"},
		{"unknown room", "join", `{"action":"join","id":"1","code":"zzz-zzzz-zzz","name":"a"}`, "not_found"},
		{"token of another meeting", "join", `{"action":"join","id":"1","code":"` + string(code) + `","name":"a","token":"` + otherTok + `"}`, "unauthorized"},
		{"forged token", "join", `{"action":"join","id":"1","code":"` + string(code) + `","name":"a","token":"` + hostTok[:len(hostTok)-3] + `AAA"}`, "unauthorized"},
		{"not joined mute", "mute", `{"action":"mute","id":"1","participantId":"p_000000000000","source":"microphone"}`, "not_joined"},
		{"not joined offer", "publish_offer", `{"action":"publish_offer","id":"1","session":"m1","sdp":"v=0\r\n","tracks":[]}`, "not_joined"},
		{"bad sdp prefix", "publish_offer", `{"action":"publish_offer","id":"1","session":"m1","sdp":"hello","tracks":[]}`, "bad_request"},
		{"offer without a session", "publish_offer", `{"action":"publish_offer","id":"1","sdp":"v=0\r\n","tracks":[]}`, "bad_request"},
		{"oversized", "ping", `{"action":"ping","id":"1","pad":"` + strings.Repeat("x", MaxMessage) + `"}`, "message_too_large"},
		{"action on the wrong route", "ping", `{"action":"leave","id":"1"}`, "unknown_action"},
	}
	before := e.commands("n1")
	for _, c := range cases {
		e.invoke(c.route, "c-x", c.body, nil)
		if got := e.errorCode(e.push.take("c-x")); got != c.code {
			t.Errorf("%s: code %s, want %s", c.name, got, c.code)
		}
	}
	if after := e.commands("n1"); len(after) != len(before) {
		t.Fatalf("bad input queued %d commands", len(after)-len(before))
	}
	if got := e.push.take("c-host"); len(got) != 0 {
		t.Fatalf("bad input reached the host: %v", got)
	}
	// The request id names the request in errors.
	ev := e.one(e.send("c-x", map[string]any{"action": "join", "id": "abc", "code": "zzz-zzzz-zzz", "name": "a"}), "error")
	if ev["id"] != "abc" || !strings.HasPrefix(ev["requestId"].(string), "gw-") {
		t.Fatalf("error event %v", ev)
	}
}

func TestRedisHandlersResync(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	e.connect("c-g", "")
	e.send("c-g", map[string]any{"action": "join", "id": "k", "code": code, "name": "Guest"})
	s := e.one(e.send("c-host", map[string]any{"action": "resync", "id": "r1"}), "snapshot")
	room := s["room"].(map[string]any)
	if s["id"] != "r1" || s["seq"].(float64) != 1 || room["seq"].(float64) != 1 || len(room["lobby"].([]any)) != 1 {
		t.Fatalf("snapshot %v", s)
	}
	// A guest in the lobby has no seat to resync.
	if got := e.errorCode(e.send("c-g", map[string]any{"action": "resync", "id": "r2"})); got != "not_joined" {
		t.Fatalf("guest resync: %s", got)
	}
	e.send("c-host", map[string]any{"action": "leave", "id": "l"})
	if got := e.errorCode(e.send("c-host", map[string]any{"action": "resync", "id": "r3"})); got != "not_joined" {
		t.Fatalf("resync after leave: %s", got)
	}
}

// A join whose command cannot reach the node is undone as a leave: the
// caller gets unavailable, and those who saw the seat (a reload) see it go.
func TestRedisHandlersJoinUndoneWhenNodeUnreachable(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	bob, tok := e.participantToken(code)
	e.connect("c-bob", "")
	e.one(e.send("c-bob", map[string]any{"action": "join", "id": "j", "code": code, "name": "Bob", "token": tok}), "joined")
	e.one(e.push.take("c-host"), "participant_joined")

	restore := e.breakBus()
	e.connect("c-bob2", "")
	if got := e.errorCode(e.send("c-bob2", map[string]any{"action": "join", "id": "j2", "code": code, "name": "Bob", "token": tok})); got != "unavailable" {
		t.Fatalf("join with the node unreachable: %s", got)
	}
	got := e.push.take("c-host")
	if pl := e.one(got, "participant_left"); pl["participantId"] != string(bob) || pl["seq"].(float64) != 3 {
		t.Fatalf("host saw %v", got) // joined = 2, the undone rejoin changed nothing anyone sees, its undo = 3
	}
	if c, _ := e.st.GetConn(t.Context(), "c-bob2"); c == nil || c.Room != "" {
		t.Fatalf("connection of the undone join: %+v", c)
	}
	room, _ := e.st.Snapshot(t.Context(), code, e.hostOf(code), "c-host")
	if len(room.Participants) != 1 {
		t.Fatalf("participants after the undone join: %+v", room.Participants)
	}

	restore()
	j := e.one(e.send("c-bob2", map[string]any{"action": "join", "id": "j3", "code": code, "name": "Bob", "token": tok}), "joined")
	if len(j["room"].(map[string]any)["participants"].([]any)) != 2 {
		t.Fatalf("joined %v", j)
	}
}

// A connection moves to another meeting only once the new join or knock
// stands: a refused one leaves it where it was.
func TestRedisHandlersRefusedJoinKeepsTheOldSeat(t *testing.T) {
	e := newEnv(t)
	codeA, _, _ := e.meeting("c-host-a")
	codeB, _, _ := e.meeting("c-host-b")
	e.one(e.send("c-host-b", map[string]any{"action": "lock", "id": "l", "locked": true}), "ack")
	bob, tok := e.participantToken(codeA)
	e.connect("c-bob", "")
	e.one(e.send("c-bob", map[string]any{"action": "join", "id": "j", "code": codeA, "name": "Bob", "token": tok}), "joined")
	e.push.take("c-host-a")

	if got := e.errorCode(e.send("c-bob", map[string]any{"action": "join", "id": "k", "code": codeB, "name": "Bob"})); got != "locked" {
		t.Fatalf("knock on a locked meeting: %s", got)
	}
	_, tokB := e.participantToken(codeB)
	e.one(e.send("c-host-b", map[string]any{"action": "end", "id": "e"}), "ack")
	if got := e.errorCode(e.send("c-bob", map[string]any{"action": "join", "id": "j2", "code": codeB, "name": "Bob", "token": tokB})); got != "ended" {
		t.Fatalf("join of an ended meeting: %s", got)
	}
	if got := e.push.take("c-host-a"); len(got) != 0 {
		t.Fatalf("refused joins elsewhere moved bob out: %v", got)
	}
	if c, _ := e.st.GetConn(t.Context(), "c-bob"); c == nil || c.Room != codeA || c.Participant != bob {
		t.Fatalf("connection after refused joins: %+v", c)
	}

	// A join that stands moves him: meeting A sees him leave.
	codeC, _, _ := e.meeting("c-host-c")
	_, tokC := e.participantToken(codeC)
	e.one(e.send("c-bob", map[string]any{"action": "join", "id": "j3", "code": codeC, "name": "Bob", "token": tokC}), "joined")
	if pl := e.one(e.push.take("c-host-a"), "participant_left"); pl["participantId"] != string(bob) {
		t.Fatalf("meeting A saw %v", pl)
	}
}
