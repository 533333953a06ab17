package lambdas

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

const offerSDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"

func TestRedisHandlersLobby(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	e.push.take("c-host")

	// A guest knocks: waits, and the host is told at once.
	e.connect("c-guest", "")
	w := e.one(e.send("c-guest", map[string]any{"action": "join", "id": "k1", "code": code, "name": "Guest"}), "lobby_waiting")
	gid := w["you"].(map[string]any)["id"].(string)
	if w["title"] != "Standup" || w["id"] != "k1" {
		t.Fatalf("lobby_waiting %v", w)
	}
	if k := e.lastChange(code, "knock"); k["guest"].(map[string]any)["id"] != gid || !e.woken("n1", code) {
		t.Fatalf("knock %v (node woken: %v)", k, e.woken("n1", code))
	}
	if len(e.push.take("c-host")) != 0 {
		t.Fatal("the knock went to the host from the handler: the room's node pushes it")
	}
	// A participant may not admit.
	e.seat("c-bob", code, "Bob", false)
	e.push.take("c-host")
	if got := e.errorCode(e.send("c-bob", map[string]any{"action": "admit", "id": "a0", "participantId": gid})); got != "forbidden" {
		t.Fatalf("participant admit: %s", got)
	}
	// The host admits: the guest gets a token, joins with it.
	e.one(e.send("c-host", map[string]any{"action": "admit", "id": "a1", "participantId": gid}), "ack")
	adm := e.one(e.push.take("c-guest"), "admitted")
	if got := e.errorCode(e.send("c-host", map[string]any{"action": "admit", "id": "a2", "participantId": gid})); got != "not_found" {
		t.Fatalf("second admit: %s", got)
	}
	j := e.one(e.send("c-guest", map[string]any{"action": "join", "id": "j2", "code": code, "name": "Guest", "token": adm["token"]}), "joined")
	if j["you"].(map[string]any)["id"] != gid || j["you"].(map[string]any)["role"] != "participant" {
		t.Fatalf("guest joined as %v", j["you"])
	}

	// Another guest is denied, then refused as too soon on the same socket.
	e.connect("c-g2", "")
	g2 := e.one(e.send("c-g2", map[string]any{"action": "join", "id": "k", "code": code, "name": "G2"}), "lobby_waiting")["you"].(map[string]any)["id"]
	e.push.take("c-host")
	e.one(e.send("c-host", map[string]any{"action": "deny", "id": "d", "participantId": g2}), "ack")
	if d := e.one(e.push.take("c-g2"), "denied"); d["retryAfterMs"].(float64) != 30000 {
		t.Fatalf("denied %v", d)
	}
	ev := e.one(e.send("c-g2", map[string]any{"action": "join", "id": "k2", "code": code, "name": "G2"}), "error")
	if ev["code"] != "too_soon" || ev["retryAfterMs"].(float64) <= 0 {
		t.Fatalf("knock after deny %v", ev)
	}

	// A third guest disconnects while waiting: hosts see lobby_left.
	e.connect("c-g3", "")
	g3 := e.one(e.send("c-g3", map[string]any{"action": "join", "id": "k", "code": code, "name": "G3"}), "lobby_waiting")["you"].(map[string]any)["id"]
	e.push.take("c-host")
	e.invoke("$disconnect", "c-g3", "", nil)
	if ll := e.lastChange(code, "lobby_left"); ll["participantId"] != g3 || ll["reason"] != "disconnected" || !e.woken("n1", code) {
		t.Fatalf("lobby_left %v", ll)
	}

	// Locked: knocks are refused.
	e.one(e.send("c-host", map[string]any{"action": "lock", "id": "l", "locked": true}), "ack")
	if ru := e.lastChange(code, "room_updated"); ru["locked"] != true || ru["seq"] == nil {
		t.Fatalf("room_updated %v", ru)
	}
	e.connect("c-g4", "")
	if got := e.errorCode(e.send("c-g4", map[string]any{"action": "join", "id": "k", "code": code, "name": "G4"})); got != "locked" {
		t.Fatalf("knock when locked: %s", got)
	}
}

func TestRedisHandlersModeration(t *testing.T) {
	e := newEnv(t)
	code, host, _ := e.meeting("c-host")
	bob, tok := e.participantToken(code)
	e.connect("c-bob", "")
	e.one(e.send("c-bob", map[string]any{"action": "join", "id": "j", "code": code, "name": "Bob", "token": tok, "micOn": true, "camOn": true}), "joined")
	e.push.take("c-host")

	// Bob cannot moderate.
	for _, m := range []map[string]any{
		{"action": "mute", "id": "x", "participantId": host, "source": "microphone"},
		{"action": "mute_all", "id": "x"},
		{"action": "remove", "id": "x", "participantId": host},
		{"action": "lock", "id": "x", "locked": true},
		{"action": "end", "id": "x"},
		{"action": "set_role", "id": "x", "participantId": bob, "role": "cohost"},
	} {
		if got := e.errorCode(e.send("c-bob", m)); got != "forbidden" {
			t.Fatalf("%s by participant: %s", m["action"], got)
		}
	}
	if got := e.push.take("c-host"); len(got) != 0 {
		t.Fatalf("refused moderation reached the host: %v", got)
	}

	// Mute: bob told, everyone sees it, node stops forwarding.
	e.one(e.send("c-host", map[string]any{"action": "mute", "id": "m", "participantId": bob, "source": "microphone"}), "ack")
	got := e.push.take("c-bob")
	if m := e.one(got, "muted"); m["by"] != string(host) || m["source"] != "microphone" {
		t.Fatalf("muted %v", m)
	}
	pu := e.lastChange(code, "participant_updated")
	if pu["participant"].(map[string]any)["micOn"] != false {
		t.Fatalf("participant_updated %v", pu)
	}
	muteSeq := uint64(pu["seq"].(float64))
	cmds := e.commands("n1")
	if c := cmds[len(cmds)-1]; c.Type != events.CmdSetMuted || c.Participant != bob || !c.Muted || c.Source != events.SourceMicrophone {
		t.Fatalf("command %+v", c)
	} else if c.Seq != muteSeq {
		// The node orders a host's mute and a self-unmute by this seq.
		t.Fatalf("mute command carries seq %d, the change was seq %d", c.Seq, muteSeq)
	}
	// Bob unmutes himself; the node resumes.
	e.one(e.send("c-bob", map[string]any{"action": "update", "id": "u", "micOn": true}), "ack")
	cmds = e.commands("n1")
	if c := cmds[len(cmds)-1]; c.Type != events.CmdSetMuted || c.Muted {
		t.Fatalf("unmute command %+v", c)
	} else if c.Seq != muteSeq+1 {
		t.Fatalf("unmute command carries seq %d, want %d", c.Seq, muteSeq+1)
	}
	// Muting again what is already muted changes nothing but still tells
	// the node (a repair), as of the room's current seq.
	e.one(e.send("c-host", map[string]any{"action": "mute", "id": "m2", "participantId": bob, "source": "camera"}), "ack")
	e.one(e.send("c-host", map[string]any{"action": "mute", "id": "m3", "participantId": bob, "source": "camera"}), "ack")
	cmds = e.commands("n1")
	if c := cmds[len(cmds)-1]; c.Type != events.CmdSetMuted || c.Source != events.SourceCamera || c.Seq != muteSeq+2 {
		t.Fatalf("repeated mute command %+v, want seq %d", c, muteSeq+2)
	}
	e.push.take("c-bob")
	e.push.take("c-host")

	// Promote bob to co-host; the host sees the update.
	e.one(e.send("c-host", map[string]any{"action": "set_role", "id": "r", "participantId": bob, "role": "cohost"}), "ack")
	if pu := e.lastChange(code, "participant_updated"); pu["participant"].(map[string]any)["role"] != "cohost" {
		t.Fatalf("role update %v", pu)
	}
	// The new co-host gets the room, lobby included (the host's view).
	if s := e.one(e.push.take("c-bob"), "snapshot"); s["room"].(map[string]any)["lobby"] == nil || s["seq"].(float64) != float64(muteSeq+3) {
		t.Fatalf("new co-host's snapshot %v", s)
	}
	// Demote, then remove bob: told, closed, banned, node told, host sees it.
	e.send("c-host", map[string]any{"action": "set_role", "id": "r2", "participantId": bob, "role": "participant"})
	e.push.take("c-bob")
	got = e.send("c-host", map[string]any{"action": "remove", "id": "rm", "participantId": bob})
	e.one(got, "ack")
	if r := e.one(e.push.take("c-bob"), "removed"); r["by"] != string(host) {
		t.Fatalf("removed %v", r)
	}
	if !e.push.deleted["c-bob"] {
		t.Fatal("removed participant's socket not closed")
	}
	if pl := e.lastChange(code, "participant_left"); pl["reason"] != "removed" || pl["participantId"] != string(bob) {
		t.Fatalf("participant_left %v", pl)
	}
	e.connect("c-bob2", "")
	if got := e.errorCode(e.send("c-bob2", map[string]any{"action": "join", "id": "j", "code": code, "name": "Bob", "token": tok})); got != "banned" {
		t.Fatalf("rejoin after remove: %s", got)
	}

	// End: everyone told, node closes the room, later joins refused.
	_, tok3 := e.participantToken(code)
	e.connect("c-cy", "")
	e.send("c-cy", map[string]any{"action": "join", "id": "j", "code": code, "name": "Cy", "token": tok3})
	e.one(e.send("c-host", map[string]any{"action": "end", "id": "end"}), "ack")
	if en := e.one(e.push.take("c-cy"), "ended"); en["by"] != string(host) {
		t.Fatalf("ended %v", en)
	}
	cmds = e.commands("n1")
	if c := cmds[len(cmds)-1]; c.Type != events.CmdCloseRoom {
		t.Fatalf("last command %+v", c)
	}
	_, tok4 := e.participantToken(code)
	e.connect("c-late", "")
	if got := e.errorCode(e.send("c-late", map[string]any{"action": "join", "id": "j", "code": code, "name": "Late", "token": tok4})); got != "ended" {
		t.Fatalf("join after end: %s", got)
	}
}

func TestRedisHandlersMuteAll(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	for i := range 3 {
		_, tok := e.participantToken(code)
		c := events.ConnectionID(fmt.Sprint("c-p", i))
		e.connect(c, "")
		e.send(c, map[string]any{"action": "join", "id": "j", "code": code, "name": "P", "token": tok, "micOn": true})
	}
	for i := range 3 {
		e.push.take(events.ConnectionID(fmt.Sprint("c-p", i)))
	}
	e.push.take("c-host")
	e.changes(code)
	before := len(e.commands("n1"))
	e.one(e.send("c-host", map[string]any{"action": "mute_all", "id": "ma"}), "ack")
	// One change and one command, however many are muted; nothing from the
	// handler to each participant.
	if got := e.changes(code); len(got) != 1 || got[0]["type"] != "all_muted" || got[0]["by"] != string(e.hostOf(code)) {
		t.Fatalf("logged %v, want one all_muted", got)
	}
	if cmds := e.commands("n1")[before:]; len(cmds) != 1 || cmds[0].Type != events.CmdMuteAll || cmds[0].Participant != e.hostOf(code) || cmds[0].Seq == 0 {
		t.Fatalf("commands %+v", cmds)
	}
	for i := range 3 {
		if got := e.push.take(events.ConnectionID(fmt.Sprint("c-p", i))); len(got) != 0 {
			t.Fatalf("p%d got %v from the handler", i, got)
		}
	}
	room, _ := e.st.Snapshot(context.Background(), code, e.hostOf(code), "c-host")
	for _, p := range room.Participants {
		if p.MicOn != (p.Role == events.RoleHost) {
			t.Fatalf("%s micOn=%v", p.Name, p.MicOn)
		}
	}
}

func (e *env) hostOf(code events.RoomCode) events.ParticipantID {
	m, err := e.st.Meeting(context.Background(), code)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.Host
}

func TestRedisHandlersReloadReplacesConnection(t *testing.T) {
	e := newEnv(t)
	code, host, hostTok := e.meeting("c-host")
	e.seat("c-bob", code, "Bob", false)
	e.push.take("c-host")
	_ = host

	// The host reloads: new socket, same token.
	e.connect("c-host2", "")
	j := e.one(e.send("c-host2", map[string]any{"action": "join", "id": "j", "code": code, "name": "Host", "token": hostTok}), "joined")
	if j["you"].(map[string]any)["role"] != "host" || len(j["room"].(map[string]any)["participants"].([]any)) != 2 {
		t.Fatalf("rejoined %v", j)
	}
	e.one(e.push.take("c-host"), "left")
	if !e.push.deleted["c-host"] {
		t.Fatal("old connection not closed")
	}
	if pu := e.lastChange(code, "participant_updated"); pu["participant"].(map[string]any)["role"] != "host" {
		t.Fatalf("bob is pushed %v", pu)
	}
	// The old socket's late $disconnect does not take the host out.
	e.invoke("$disconnect", "c-host", "", nil)
	if got := e.changes(code); len(got) != 0 {
		t.Fatalf("stale disconnect logged %v", got)
	}
	// The host still moderates from the new socket.
	e.one(e.send("c-host2", map[string]any{"action": "lock", "id": "l", "locked": true}), "ack")
}

func TestRedisHandlersGoneConnectionIsCleanedUp(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	bob := e.seat("c-bob", code, "Bob", false)
	e.push.take("c-host")
	// Bob's socket died without a $disconnect; the next push to it (the
	// host mutes him: "muted" goes straight to him) finds 410.
	e.push.mu.Lock()
	e.push.gone["c-bob"] = true
	e.push.mu.Unlock()
	e.changes(code)
	e.one(e.send("c-host", map[string]any{"action": "mute", "id": "m", "participantId": bob, "source": "camera"}), "ack")
	away := e.lastChange(code, "participant_updated")["participant"].(map[string]any)
	if away["id"] != string(bob) || away["reconnecting"] != true {
		t.Fatalf("bob not shown reconnecting: %v", away)
	}
	if c, _ := e.st.GetConn(context.Background(), "c-bob"); c != nil {
		t.Fatalf("gone connection kept: %+v", c)
	}
	// Bob does not come back: his seat goes (the room's node does this).
	time.Sleep(60 * time.Millisecond)
	gone, err := e.st.ExpireAway(context.Background(), code)
	if err != nil || len(gone) != 1 || gone[0].Participant != bob {
		t.Fatalf("expired %+v (%v)", gone, err)
	}
}

func TestRedisHandlersSignalRelay(t *testing.T) {
	e := newEnv(t)
	code, host, _ := e.meeting("c-host")
	_ = code
	before := len(e.commands("n1"))
	if got := e.send("c-host", map[string]any{"action": "publish_offer", "id": "o1", "session": "m1", "sdp": offerSDP,
		"tracks": []map[string]any{{"trackId": "t1", "source": "microphone"}}}); len(got) != 0 {
		t.Fatalf("publish_offer answered by the lambda: %v", got)
	}
	e.send("c-host", map[string]any{"action": "candidate", "id": "c1", "session": "m1", "target": "publish",
		"candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}})
	cmds := e.commands("n1")[before:]
	if len(cmds) != 2 || cmds[0].Type != events.CmdPublishOffer || cmds[0].RequestID != "o1" || cmds[0].Participant != host ||
		cmds[0].SDP != offerSDP || len(cmds[0].Tracks) != 1 || cmds[0].GatewayRequestID == "" {
		t.Fatalf("commands %+v", cmds)
	}
	if cmds[1].Type != events.CmdCandidate || cmds[1].Candidate == nil || *cmds[1].Candidate.SDPMid != "0" {
		t.Fatalf("candidate command %+v", cmds[1])
	}
	// Broken SDP that starts right is still refused, and not relayed.
	if got := e.errorCode(e.send("c-host", map[string]any{"action": "subscribe_answer", "id": "a", "session": "m1", "offerId": "o1", "sdp": "v=0\r\nthis is not sdp"})); got != "bad_request" {
		t.Fatalf("bad sdp: %s", got)
	}
	if n := len(e.commands("n1")); n != before+2 {
		t.Fatalf("bad sdp relayed")
	}
	// Video sizes go to the node as they are, and are acknowledged.
	got := e.send("c-host", map[string]any{"action": "video_sizes", "id": "v1", "session": "m1",
		"sizes": []map[string]any{{"mid": "1", "width": 640, "height": 360}, {"mid": "2", "width": 0, "height": 0}}})
	if len(got) != 1 || got[0]["type"] != "ack" || got[0]["id"] != "v1" {
		t.Fatalf("video_sizes reply %v", got)
	}
	cmds = e.commands("n1")[before+2:]
	if len(cmds) != 1 || cmds[0].Type != events.CmdVideoSizes || cmds[0].Session != "m1" || len(cmds[0].Sizes) != 2 ||
		cmds[0].Sizes[0] != (events.VideoSize{Mid: "1", Width: 640, Height: 360}) || cmds[0].Epoch == 0 {
		t.Fatalf("video_sizes command %+v", cmds)
	}
	if got := e.errorCode(e.send("c-host", map[string]any{"action": "video_sizes", "id": "v2", "session": "m1",
		"sizes": []map[string]any{{"mid": "1", "width": 9000, "height": 360}}})); got != "bad_request" {
		t.Fatalf("huge size: %s", got)
	}
	if n := len(e.commands("n1")); n != before+3 {
		t.Fatalf("bad sizes relayed")
	}
}

// A denied guest who reloads (a new socket, so a new guest id) still meets
// the cool-down: it holds their address. Another address may knock.
func TestRedisHandlersDeniedGuestReloadMeetsCooldown(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	e.push.take("c-host")
	e.ip["c-g"], e.ip["c-g-reload"], e.ip["c-other"] = "203.0.113.7", "203.0.113.7", "198.51.100.9"
	e.connect("c-g", "")
	g := e.one(e.send("c-g", map[string]any{"action": "join", "id": "k", "code": code, "name": "G"}), "lobby_waiting")["you"].(map[string]any)["id"]
	e.push.take("c-host")
	e.one(e.send("c-host", map[string]any{"action": "deny", "id": "d", "participantId": g}), "ack")
	e.one(e.push.take("c-g"), "denied")
	e.push.take("c-host")

	e.invoke("$disconnect", "c-g", "", nil)
	e.connect("c-g-reload", "")
	ev := e.one(e.send("c-g-reload", map[string]any{"action": "join", "id": "k2", "code": code, "name": "G"}), "error")
	if ev["code"] != "too_soon" || ev["retryAfterMs"].(float64) <= 0 {
		t.Fatalf("knock after deny and reload: %v", ev)
	}
	e.changes(code)
	e.invoke("$disconnect", "c-g-reload", "", nil)
	if got := e.changes(code); len(got) != 0 {
		t.Fatalf("a refused knock reached the lobby: %v", got)
	}
	e.connect("c-other", "")
	e.one(e.send("c-other", map[string]any{"action": "join", "id": "k3", "code": code, "name": "H"}), "lobby_waiting")
	e.lastChange(code, "knock")
}

func TestKnockSource(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":              "203.0.113.7",
		"::ffff:203.0.113.7":       "203.0.113.7",
		"2001:db8:1:2:aa:bb:cc:dd": "2001:db8:1:2::/64",
		"2001:db8:1:2:11:22:33:44": "2001:db8:1:2::/64",
		"127.0.0.1":                "",
		"::1":                      "",
		"":                         "",
		"not an ip":                "",
	} {
		if got := knockSource(in); got != want {
			t.Errorf("knockSource(%q) = %q, want %q", in, got, want)
		}
	}
}

// A mute or an update recorded while the node cannot be told answers
// unavailable (not ack), so the client knows; the same request again
// reaches the node although the state no longer changes.
func TestRedisHandlersUnsentMuteIsVisibleAndRepairable(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	bob := e.seat("c-bob", code, "Bob", true)
	e.push.take("c-host")
	lastCmd := func() events.Command {
		cmds := e.commands("n1")
		return cmds[len(cmds)-1]
	}

	restore := e.breakBus()
	got := e.send("c-host", map[string]any{"action": "mute", "id": "m", "participantId": bob, "source": "microphone"})
	if e.errorCode(got) != "unavailable" || len(e.push.take("c-host")) != 0 {
		t.Fatalf("mute with the node unreachable: %v", got)
	}
	if pu := e.lastChange(code, "participant_updated"); pu["participant"].(map[string]any)["micOn"] != false {
		t.Fatalf("the recorded mute was not logged for everyone: %v", pu)
	}
	e.one(e.push.take("c-bob"), "muted")
	got = e.send("c-bob", map[string]any{"action": "update", "id": "u", "camOn": false})
	if e.errorCode(got) != "unavailable" {
		t.Fatalf("update with the node unreachable: %v", got)
	}
	e.lastChange(code, "participant_updated")
	e.push.take("c-host")
	restore()

	e.one(e.send("c-host", map[string]any{"action": "mute", "id": "m2", "participantId": bob, "source": "microphone"}), "ack")
	if c := lastCmd(); c.Type != events.CmdSetMuted || c.Participant != bob || c.Source != events.SourceMicrophone || !c.Muted {
		t.Fatalf("repeated mute: command %+v", c)
	}
	got = e.send("c-bob", map[string]any{"action": "update", "id": "u2", "camOn": false})
	e.one(got, "ack")
	if c := lastCmd(); c.Type != events.CmdSetMuted || c.Participant != bob || c.Source != events.SourceCamera || !c.Muted {
		t.Fatalf("repeated update: command %+v", c)
	}
	if ch := e.changes(code); len(ch) != 0 {
		t.Fatalf("a mute and an update that changed nothing were logged: %v", ch)
	}
}
