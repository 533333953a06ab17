package state

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/testenv"
)

type fixture struct {
	t  *testing.T
	s  *Store
	cx context.Context
}

func newFixture(t *testing.T) *fixture {
	r := testenv.StartRedis(t)
	f := &fixture{t: t, s: New(r.Client(t)), cx: context.Background()}
	f.node("n1", 0)
	return f
}

func (f *fixture) node(id events.NodeID, participants int) {
	f.t.Helper()
	err := f.s.Heartbeat(f.cx, events.NodeInfo{ID: id, Region: "local", State: events.NodeServing,
		Load: events.NodeLoad{Participants: participants}}, time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
}

func ref(id string) events.ConnRef {
	return events.ConnRef{ConnectionID: events.ConnectionID(id), Endpoint: "http://gw"}
}

func (f *fixture) create() (events.RoomCode, events.ParticipantID) {
	f.t.Helper()
	host := events.NewParticipantID()
	code, err := f.s.Create(f.cx, "Standup", host, "local")
	if err != nil {
		f.t.Fatal(err)
	}
	return code, host
}

func (f *fixture) join(code events.RoomCode, pid events.ParticipantID, role events.Role, conn string) (*JoinResult, error) {
	return f.s.Join(f.cx, JoinInput{Code: code, Conn: ref(conn), Region: "local",
		Participant: events.Participant{ID: pid, Name: "N " + string(pid), Role: role, MicOn: true, CamOn: true, JoinedAt: time.Now().UnixMilli()}})
}

func (f *fixture) mustJoin(code events.RoomCode, pid events.ParticipantID, role events.Role, conn string) *JoinResult {
	f.t.Helper()
	r, err := f.join(code, pid, role, conn)
	if err != nil {
		f.t.Fatalf("join %s: %v", pid, err)
	}
	return r
}

func (f *fixture) knock(code events.RoomCode, conn string) (events.ParticipantID, error) {
	g := events.Guest{ID: events.NewParticipantID(), Name: "Guest", KnockedAt: time.Now().UnixMilli()}
	_, err := f.s.Knock(f.cx, code, g, ref(conn), "", "", 0)
	return g.ID, err
}

// logged returns the changes of code's log after the position after, as
// "type:seq" (lobby changes without a seq as their type), and the last
// position.
func (f *fixture) logged(code events.RoomCode, after LogID) ([]string, LogID) {
	f.t.Helper()
	entries, err := f.s.ReadLog(f.cx, code, after, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Event == nil {
			f.t.Fatalf("log entry %s does not decode", e.ID)
		}
		m := events.MetaOf(e.Event)
		if m.Seq == 0 {
			out = append(out, string(e.Event.EventType()))
		} else {
			out = append(out, fmt.Sprintf("%s:%d", e.Event.EventType(), m.Seq))
		}
		after = e.ID
	}
	return out, after
}

func wantLogged(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("logged %v, want %v", got, want)
	}
}

func wantRefused(t *testing.T, err error, code events.Code) {
	t.Helper()
	if !IsRefused(err, code) {
		t.Fatalf("got %v, want refusal %s", err, code)
	}
}

func TestRedisStateMeetingFlow(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()

	hj := f.mustJoin(code, host, events.RoleParticipant, "c-host") // creator is host whatever the token says
	if hj.Me.Role != events.RoleHost || hj.Node != "n1" || !hj.Placed || hj.Room.Seq != 1 || hj.Room.Title != "Standup" {
		t.Fatalf("host join: %+v", hj)
	}
	bob := events.NewParticipantID()
	bj := f.mustJoin(code, bob, events.RoleParticipant, "c-bob")
	if bj.Room.Seq != 2 || len(bj.Room.Participants) != 2 || len(bj.Others) != 0 || bj.Placed {
		t.Fatalf("bob join: %+v", bj)
	}
	// Each change is in the log, and bob's room is at the log's end.
	got, pos := f.logged(code, LogID{})
	wantLogged(t, got, "participant_joined:1", "participant_joined:2")
	if pos != bj.Log {
		t.Fatalf("bob's room at %v, the log ends at %v", bj.Log, pos)
	}

	// Guest knocks: in the log, without a seq (hosts only see it).
	gid, err := f.knock(code, "c-guest")
	if err != nil {
		t.Fatal(err)
	}
	// Bob may not admit; the host may, once.
	_, _, err = f.s.Admit(f.cx, code, bob, "c-bob", gid, 0)
	wantRefused(t, err, events.CodeForbidden)
	adm, _, err := f.s.Admit(f.cx, code, host, "c-host", gid, 0)
	if err != nil || len(adm) != 1 || adm[0].Conn.ConnectionID != "c-guest" {
		t.Fatalf("admit: %+v %v", adm, err)
	}
	_, _, err = f.s.Admit(f.cx, code, host, "c-host", gid, 0)
	wantRefused(t, err, events.CodeNotFound)
	got, pos = f.logged(code, pos)
	wantLogged(t, got, "knock", "lobby_left")

	// Mute bob's mic; bob unmutes himself.
	ch, err := f.s.Mute(f.cx, code, host, "c-host", bob, events.SourceMicrophone)
	if err != nil || ch.Target.MicOn || ch.Seq != 3 || ch.TargetConn.ConnectionID != "c-bob" {
		t.Fatalf("mute: %+v %v", ch, err)
	}
	on := true
	up, err := f.s.Update(f.cx, code, bob, "c-bob", Patch{MicOn: &on})
	if err != nil || !up.Target.MicOn || up.Seq != 4 || len(up.Changed) != 1 {
		t.Fatalf("update: %+v %v", up, err)
	}
	// A stale connection of bob's cannot act for him.
	_, err = f.s.Update(f.cx, code, bob, "c-other", Patch{MicOn: &on})
	wantRefused(t, err, events.CodeNotJoined)
	// Nor does an update that changes nothing log anything.
	if up, err := f.s.Update(f.cx, code, bob, "c-bob", Patch{MicOn: &on}); err != nil || up.Seq != 0 {
		t.Fatalf("update changing nothing: %+v %v", up, err)
	}
	got, pos = f.logged(code, pos)
	wantLogged(t, got, "participant_updated:3", "participant_updated:4")

	// Reload: bob joins from a new connection; the old one is replaced and its
	// late $disconnect changes nothing.
	rj := f.mustJoin(code, bob, events.RoleParticipant, "c-bob2")
	if !rj.Rejoin || rj.Replaced == nil || rj.Replaced.ConnectionID != "c-bob" {
		t.Fatalf("rejoin: %+v", rj)
	}
	if l, _ := f.s.Leave(f.cx, code, bob, "c-bob", events.ReasonDisconnected); l.Kind != LeftNothing {
		t.Fatalf("stale leave: %+v", l)
	}

	// Remove bob: banned from rejoining.
	if _, err := f.s.Remove(f.cx, code, host, "c-host", bob); err != nil {
		t.Fatal(err)
	}
	_, err = f.join(code, bob, events.RoleParticipant, "c-bob3")
	wantRefused(t, err, events.CodeBanned)

	// Lock: new knocks refused.
	if ch, err := f.s.Lock(f.cx, code, host, "c-host", true); err != nil || ch.Seq == 0 {
		t.Fatalf("lock: %+v %v", ch, err)
	}
	// The rejoin from a new socket changed nothing others see: not logged.
	got, _ = f.logged(code, pos)
	wantLogged(t, got, "participant_left:5", "room_updated:6")
	_, err = f.knock(code, "c-g2")
	wantRefused(t, err, events.CodeLocked)

	// End: later joins refused.
	end, err := f.s.End(f.cx, code, host, "c-host")
	if err != nil || end.Node != "n1" || len(end.Others) != 1 {
		t.Fatalf("end: %+v %v", end, err)
	}
	_, err = f.join(code, host, events.RoleHost, "c-host")
	wantRefused(t, err, events.CodeEnded)

	_, err = f.join("zzz-zzzz-zzz", host, events.RoleHost, "c-host")
	wantRefused(t, err, events.CodeNotFound)
}

func TestRedisStateDenyCooldownAndLobbyLeave(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	g := events.Guest{ID: events.NewParticipantID(), Name: "G"}
	if _, err := f.s.Knock(f.cx, code, g, ref("c-g"), "", "", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.Deny(f.cx, code, host, "c-host", g.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.Knock(f.cx, code, g, ref("c-g"), "", "", 0)
	var r *Refused
	if !IsRefused(err, events.CodeTooSoon) || !asRefused(err, &r) || r.RetryAfterMS <= 0 || r.RetryAfterMS > DenyCooldown.Milliseconds() {
		t.Fatalf("knock after deny: %v", err)
	}
	g2 := events.Guest{ID: events.NewParticipantID(), Name: "G2"}
	if _, err := f.s.Knock(f.cx, code, g2, ref("c-g2"), "", "", 0); err != nil {
		t.Fatal(err)
	}
	l, err := f.s.Leave(f.cx, code, g2.ID, "c-g2", events.ReasonDisconnected)
	if err != nil || l.Kind != LeftLobby || l.Node != "n1" {
		t.Fatalf("lobby leave: %+v %v", l, err)
	}
	entries, _ := f.s.ReadLog(f.cx, code, LogID{}, 100)
	if ll, ok := entries[len(entries)-1].Event.(*events.LobbyLeft); !ok || ll.ParticipantID != g2.ID || ll.Reason != events.ReasonDisconnected {
		t.Fatalf("last change %s", entries[len(entries)-1].Change)
	}
	room, _ := f.s.Snapshot(f.cx, code, host, "c-host")
	if len(room.Lobby) != 0 {
		t.Fatalf("lobby %+v", room.Lobby)
	}
}

func TestRedisStateRoles(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	a, b := events.NewParticipantID(), events.NewParticipantID()
	f.mustJoin(code, a, events.RoleParticipant, "c-a")
	f.mustJoin(code, b, events.RoleParticipant, "c-b")
	_, _, err := f.s.SetRole(f.cx, code, a, "c-a", b, events.RoleCohost)
	wantRefused(t, err, events.CodeForbidden)
	ch, _, err := f.s.SetRole(f.cx, code, host, "c-host", a, events.RoleCohost)
	if err != nil || ch.Target.Role != events.RoleCohost {
		t.Fatalf("promote: %+v %v", ch, err)
	}
	// The co-host moderates, and keeps the role across a reload.
	if _, err := f.s.Mute(f.cx, code, a, "c-a", b, events.SourceCamera); err != nil {
		t.Fatal(err)
	}
	if j := f.mustJoin(code, a, events.RoleParticipant, "c-a2"); j.Me.Role != events.RoleCohost {
		t.Fatalf("role after reload: %s", j.Me.Role)
	}
	_, err = f.s.Remove(f.cx, code, a, "c-a2", host)
	wantRefused(t, err, events.CodeForbidden)
	// mute_all spares the caller.
	ma, err := f.s.MuteAll(f.cx, code, host, "c-host")
	if err != nil || ma.Muted != 2 || ma.Node != "n1" {
		t.Fatalf("mute_all: %+v %v", ma, err)
	}
	// One change for all of them, naming who did it.
	entries, _ := f.s.ReadLog(f.cx, code, LogID{}, 100)
	last := entries[len(entries)-1]
	if am, ok := last.Event.(*events.AllMuted); !ok || am.By != host || am.Seq != ma.Seq {
		t.Fatalf("last change %s, want all_muted at %d", last.Change, ma.Seq)
	}
	// Again, with every microphone off: no change, the same seq.
	if again, err := f.s.MuteAll(f.cx, code, host, "c-host"); err != nil || again.Muted != 0 || again.Seq != ma.Seq {
		t.Fatalf("mute_all of muted microphones: %+v %v", again, err)
	}
	if n, _ := f.s.ReadLog(f.cx, code, last.ID, 10); len(n) != 0 {
		t.Fatalf("mute_all that muted nothing logged %d changes", len(n))
	}
	room, _ := f.s.Snapshot(f.cx, code, host, "c-host")
	for _, p := range room.Participants {
		if p.MicOn != (p.ID == host) {
			t.Fatalf("after mute_all %s micOn=%v", p.ID, p.MicOn)
		}
	}
}

func TestRedisStateConcurrentAdmitsAdmitOnce(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	co := events.NewParticipantID()
	f.mustJoin(code, co, events.RoleParticipant, "c-co")
	if _, _, err := f.s.SetRole(f.cx, code, host, "c-host", co, events.RoleCohost); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		gid, err := f.knock(code, fmt.Sprint("c-g", round))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, refusals := 0, 0
		for _, m := range []struct {
			p events.ParticipantID
			c events.ConnectionID
		}{{host, "c-host"}, {co, "c-co"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				adm, _, err := f.s.Admit(f.cx, code, m.p, m.c, gid, 0)
				mu.Lock()
				defer mu.Unlock()
				if err == nil && len(adm) == 1 {
					wins++
				} else if IsRefused(err, events.CodeNotFound) {
					refusals++
				} else {
					t.Errorf("admit: %v %v", adm, err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || refusals != 1 {
			t.Fatalf("round %d: %d admissions, %d refusals", round, wins, refusals)
		}
	}
}

func TestRedisStateConcurrentFirstJoinsPickOneNode(t *testing.T) {
	f := newFixture(t)
	for i := 2; i <= 4; i++ {
		f.node(events.NodeID(fmt.Sprint("n", i)), 0)
	}
	for round := range 10 {
		code, _ := f.create()
		var wg sync.WaitGroup
		nodes := make([]events.NodeID, 6)
		for i := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j, err := f.join(code, events.NewParticipantID(), events.RoleParticipant, fmt.Sprint("c", round, i))
				if err != nil {
					t.Error(err)
					return
				}
				nodes[i] = j.Node
			}()
		}
		wg.Wait()
		for _, n := range nodes {
			if n != nodes[0] || n == "" {
				t.Fatalf("round %d: room split over nodes %v", round, nodes)
			}
		}
	}
}

func TestRedisStatePlacementSkipsDeadAndDraining(t *testing.T) {
	f := newFixture(t)
	f.node("n2", 5)
	code, host := f.create()
	j := f.mustJoin(code, host, events.RoleHost, "c1")
	if j.Node != "n1" {
		t.Fatalf("placed on %s, want the least loaded n1", j.Node)
	}
	// n1 dies (its entry expires): the next join re-places the room on n2
	// and the stale index member is pruned.
	if err := f.s.rdb.Del(f.cx, nodeKey("n1")).Err(); err != nil {
		t.Fatal(err)
	}
	j = f.mustJoin(code, events.NewParticipantID(), events.RoleParticipant, "c2")
	if j.Node != "n2" || !j.Placed || !j.PrevNodeDead() || len(j.Others) != 1 || j.Others[0].Participant != host {
		t.Fatalf("after n1 died: %+v (everyone else must be told to follow)", j)
	}
	if n, _ := f.s.rdb.ZScore(f.cx, nodesKey("local"), "n1").Result(); n != 0 {
		t.Fatalf("dead n1 still indexed")
	}
	// n2 drains: a new room finds no node.
	_ = f.s.Heartbeat(f.cx, events.NodeInfo{ID: "n2", Region: "local", State: events.NodeDraining}, time.Minute)
	code2, h2 := f.create()
	_, err := f.join(code2, h2, events.RoleHost, "c3")
	wantRefused(t, err, events.CodeUnavailable)
	// The draining node keeps its room.
	if j := f.mustJoin(code, events.NewParticipantID(), events.RoleParticipant, "c4"); j.Node != "n2" {
		t.Fatalf("room moved off a draining node: %s", j.Node)
	}
	if err := f.s.RemoveNode(f.cx, "n2"); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.s.Node(f.cx, "n2"); n != nil {
		t.Fatal("removed node still registered")
	}
}

func TestRedisStateRemoveDuringJoin(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	for round := range 20 {
		p := events.NewParticipantID()
		f.mustJoin(code, p, events.RoleParticipant, fmt.Sprint("c-p", round))
		var wg sync.WaitGroup
		var joinErr, removeErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, joinErr = f.join(code, p, events.RoleParticipant, fmt.Sprint("c-q", round))
		}()
		go func() { defer wg.Done(); _, removeErr = f.s.Remove(f.cx, code, host, "c-host", p) }()
		wg.Wait()
		if removeErr != nil {
			t.Fatalf("remove: %v", removeErr)
		}
		if joinErr != nil && !IsRefused(joinErr, events.CodeBanned) {
			t.Fatalf("join: %v", joinErr)
		}
		// Whatever the order, the participant ends up out and banned.
		room, _ := f.s.Snapshot(f.cx, code, host, "c-host")
		for _, x := range room.Participants {
			if x.ID == p {
				t.Fatalf("round %d: removed participant still in the room", round)
			}
		}
	}
}

func TestRedisStateKnockWhileLocking(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	var wg sync.WaitGroup
	results := make([]error, 20)
	ids := make([]events.ParticipantID, 20)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); ids[i], results[i] = f.knock(code, fmt.Sprint("c-g", i)) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = f.s.Lock(f.cx, code, host, "c-host", true) }()
	wg.Wait()
	room, _ := f.s.Snapshot(f.cx, code, host, "c-host")
	waiting := map[events.ParticipantID]bool{}
	for _, g := range room.Lobby {
		waiting[g.ID] = true
	}
	for i, err := range results {
		switch {
		case err == nil && !waiting[ids[i]]:
			t.Fatalf("knock %d accepted but not in the lobby", i)
		case err != nil && !IsRefused(err, events.CodeLocked):
			t.Fatalf("knock %d: %v", i, err)
		case err != nil && waiting[ids[i]]:
			t.Fatalf("knock %d refused but waiting", i)
		}
	}
	if _, err := f.knock(code, "late"); !IsRefused(err, events.CodeLocked) {
		t.Fatalf("knock after lock: %v", err)
	}
}

func TestRedisStateKeysExpire(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	for _, k := range roomKeys(code)[:3] {
		ttl := f.s.rdb.TTL(f.cx, k).Val()
		if ttl <= 0 || ttl > RoomTTL {
			t.Fatalf("%s ttl %v", k, ttl)
		}
	}
	_ = f.s.PutConn(f.cx, Conn{ID: "c-host", Endpoint: "http://gw"})
	if ttl := f.s.rdb.TTL(f.cx, connKey("c-host")).Val(); ttl <= 2*time.Hour {
		t.Fatalf("conn ttl %v", ttl)
	}
}

// A host whose socket dropped and who does not come back hands the meeting
// on, and the node's copy of the settings learns the new co-host (so a
// rebuild after a Redis loss keeps the role).
func TestRedisStateExpiredHostHandsOver(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	ann := events.NewParticipantID()
	f.mustJoin(code, ann, events.RoleParticipant, "c-ann")
	if _, err := f.s.Away(f.cx, code, host, "c-host", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	gone, err := f.s.ExpireAway(f.cx, code)
	if err != nil || len(gone) != 2 {
		t.Fatalf("expire: %+v %v", gone, err)
	}
	if gone[0].Participant != host || gone[0].Handover != nil {
		t.Fatalf("first the host leaves: %+v", gone[0])
	}
	h := gone[1]
	if h.Handover == nil || h.Handover.ID != ann || h.Handover.Role != events.RoleCohost || h.Meta == nil {
		t.Fatalf("then ann is made co-host: %+v", h)
	}
	if len(h.Meta.Cohosts) != 1 || h.Meta.Cohosts[0] != ann {
		t.Fatalf("the node's copy of the settings: %+v", h.Meta)
	}
}
