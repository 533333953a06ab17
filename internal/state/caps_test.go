package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

// TestRedisStateCapsRefuseAndChangeNothing: past the participant cap a
// newcomer is refused full, past the lobby cap a knock lobby_full, and
// neither refusal changes the room or its log; whoever already holds a seat
// gets it back, and the host gets in to their own meeting.
func TestRedisStateCapsRefuseAndChangeNothing(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	const maxP, maxL = 3, 2
	join := func(pid events.ParticipantID, conn string) (*JoinResult, error) {
		return f.s.Join(f.cx, JoinInput{Code: code, Conn: ref(conn), Region: "local", MaxParticipants: maxP,
			Participant: events.Participant{ID: pid, Name: "N", Role: events.RoleParticipant, JoinedAt: time.Now().UnixMilli()}})
	}
	var seated []events.ParticipantID
	for i := range maxP {
		p := events.NewParticipantID()
		if _, err := join(p, fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
		seated = append(seated, p)
	}
	before, _ := f.s.rdb.HGetAll(f.cx, participantsKey(code)).Result()
	logBefore, _ := f.logged(code, LogID{})
	_, err := join(events.NewParticipantID(), "c-late")
	wantRefused(t, err, events.CodeFull)
	// A seat holder coming back on a new socket is no newcomer.
	if _, err := join(seated[1], "c-reload"); err != nil {
		t.Fatalf("rejoin of a full meeting: %v", err)
	}
	after, _ := f.s.rdb.HGetAll(f.cx, participantsKey(code)).Result()
	if len(after) != len(before) {
		t.Fatalf("%d participants after the refusal, %d before", len(after), len(before))
	}
	if got, _ := f.logged(code, LogID{}); fmt.Sprint(got) != fmt.Sprint(logBefore) {
		t.Fatalf("the refusal logged something: %v, was %v", got, logBefore)
	}
	// The host is never locked out of their own meeting.
	if j, err := join(host, "c-host"); err != nil || j.Me.Role != events.RoleHost {
		t.Fatalf("host into a full meeting: %+v %v", j, err)
	}

	// The lobby: two wait, a third is refused, a reload of one is not.
	guests := make([]events.Guest, 3)
	for i := range guests {
		guests[i] = events.Guest{ID: events.NewParticipantID(), Name: "G", KnockedAt: time.Now().UnixMilli() + int64(i)}
	}
	for i, g := range guests[:maxL] {
		if _, err := f.s.Knock(f.cx, code, g, ref(fmt.Sprint("c-g", i)), "", "", maxL); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.s.Knock(f.cx, code, guests[2], ref("c-g2"), "", "", maxL)
	wantRefused(t, err, events.CodeLobbyFull)
	if _, err := f.s.Knock(f.cx, code, guests[0], ref("c-g0b"), "", "", maxL); err != nil {
		t.Fatalf("a waiting guest's knock again: %v", err)
	}
	if n, _ := f.s.rdb.HLen(f.cx, lobbyKey(code)).Result(); n != maxL {
		t.Fatalf("%d waiting", n)
	}

	// No seat is free: neither admit nor admit_all lets anyone in.
	_, _, err = f.s.Admit(f.cx, code, host, "c-host", guests[0].ID, maxP)
	wantRefused(t, err, events.CodeFull)
	_, _, err = f.s.Admit(f.cx, code, host, "c-host", "", maxP)
	wantRefused(t, err, events.CodeFull)
	// One leaves (host included, the meeting holds maxP+1): two seats free
	// up as two go; admit_all lets in the longest waiting first, one at a
	// time as seats allow.
	for _, p := range seated[:2] {
		conn := connOf(t, f, code, p)
		if _, err := f.s.Leave(f.cx, code, p, conn, events.ReasonLeft); err != nil {
			t.Fatal(err)
		}
	}
	adm, _, err := f.s.Admit(f.cx, code, host, "c-host", "", maxP)
	if err != nil || len(adm) != 1 || adm[0].Guest.ID != guests[0].ID {
		t.Fatalf("admit_all with one free seat: %+v %v", adm, err)
	}
	if n, _ := f.s.rdb.HLen(f.cx, lobbyKey(code)).Result(); n != 1 {
		t.Fatalf("%d still waiting, want 1", n)
	}
}

func connOf(t *testing.T, f *fixture, code events.RoomCode, pid events.ParticipantID) events.ConnectionID {
	t.Helper()
	all, err := f.s.Participants(f.cx, code)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.Participant == pid {
			return p.Conn.ConnectionID
		}
	}
	t.Fatalf("%s has no connection", pid)
	return ""
}

// TestRedisStateLogPositions: a join's room is exactly the log up to its
// position, whatever else happens around it: the room's changes after that
// position are the ones it does not show.
func TestRedisStateLogPositions(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	var joins []*JoinResult
	for i := range 5 {
		joins = append(joins, f.mustJoin(code, events.NewParticipantID(), events.RoleParticipant, fmt.Sprint("c", i)))
		if _, err := f.knock(code, fmt.Sprint("g", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, j := range joins {
		after, _ := f.s.ReadLog(f.cx, code, j.Log, 100)
		// Each later join is after this one's position, each earlier one not.
		var later int
		for _, e := range after {
			if _, ok := e.Event.(*events.ParticipantJoined); ok {
				later++
			}
			if m := events.MetaOf(e.Event); m.Seq != 0 && m.Seq <= j.Room.Seq {
				t.Fatalf("join %d: change at seq %d is after its room at seq %d", i, m.Seq, j.Room.Seq)
			}
		}
		if later != len(joins)-1-i {
			t.Fatalf("join %d: %d joins after its position, want %d", i, later, len(joins)-1-i)
		}
	}
	// The changes decode as the server sends them: Go's encoding, not cjson's.
	name := "a/b <c>"
	if _, err := f.s.Update(f.cx, code, host, "c-host", Patch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	all, _ := f.s.ReadLog(f.cx, code, LogID{}, 100)
	last := all[len(all)-1]
	want, _ := events.Marshal(last.Event)
	if string(last.Change) != string(want) || last.Event.(*events.ParticipantUpdated).Participant.Name != name {
		t.Fatalf("change %s", last.Change)
	}
}
