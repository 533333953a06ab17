package state

import (
	"testing"

	"github.com/veet-dev/veet/events"
)

// A reload is a new connection and so a new guest id: the cool-down holds
// the source address too, and only that one.
func TestRedisStateDenyCooldownHoldsTheSource(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	g := events.Guest{ID: events.NewParticipantID(), Name: "G"}
	if _, err := f.s.Knock(f.cx, code, g, ref("c-g"), "203.0.113.7", ""); err != nil {
		t.Fatal(err)
	}
	room, _ := f.s.Snapshot(f.cx, code, host, "c-host")
	if len(room.Lobby) != 1 || room.Lobby[0] != g {
		t.Fatalf("lobby as hosts see it: %+v", room.Lobby)
	}
	a, _, err := f.s.Deny(f.cx, code, host, "c-host", g.ID)
	if err != nil || a.Conn.ConnectionID != "c-g" {
		t.Fatalf("deny: %+v %v", a, err)
	}
	reloaded := events.Guest{ID: events.NewParticipantID(), Name: "G"}
	_, err = f.s.Knock(f.cx, code, reloaded, ref("c-g-reloaded"), "203.0.113.7", "")
	var r *Refused
	if !IsRefused(err, events.CodeTooSoon) || !asRefused(err, &r) || r.RetryAfterMS <= 0 || r.RetryAfterMS > DenyCooldown.Milliseconds() {
		t.Fatalf("knock from the denied source: %v", err)
	}
	other := events.Guest{ID: events.NewParticipantID(), Name: "H"}
	if _, err := f.s.Knock(f.cx, code, other, ref("c-h"), "198.51.100.9", ""); err != nil {
		t.Fatalf("knock from another source: %v", err)
	}
	unknown := events.Guest{ID: events.NewParticipantID(), Name: "U"}
	if _, err := f.s.Knock(f.cx, code, unknown, ref("c-u"), "", ""); err != nil {
		t.Fatalf("knock from an unknown source: %v", err)
	}
}

// Who may do what is decided from the room's state, never the caller's word,
// and a refusal changes nothing (the room's seq stays put).
func TestRedisStatePermissionEdges(t *testing.T) {
	f := newFixture(t)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	co, co2, p := events.NewParticipantID(), events.NewParticipantID(), events.NewParticipantID()
	f.mustJoin(code, co, events.RoleParticipant, "c-co")
	f.mustJoin(code, co2, events.RoleParticipant, "c-co2")
	f.mustJoin(code, p, events.RoleParticipant, "c-p")
	for _, id := range []events.ParticipantID{co, co2} {
		if _, _, err := f.s.SetRole(f.cx, code, host, "c-host", id, events.RoleCohost); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := f.s.Snapshot(f.cx, code, host, "c-host")

	// A co-host cannot give or take roles, nor remove another co-host.
	_, _, err := f.s.SetRole(f.cx, code, co, "c-co", p, events.RoleCohost)
	wantRefused(t, err, events.CodeForbidden)
	_, _, err = f.s.SetRole(f.cx, code, co, "c-co", co2, events.RoleParticipant)
	wantRefused(t, err, events.CodeForbidden)
	_, err = f.s.Remove(f.cx, code, co, "c-co", co2)
	wantRefused(t, err, events.CodeForbidden)
	// Nobody removes or demotes the host, the host included.
	_, err = f.s.Remove(f.cx, code, co, "c-co", host)
	wantRefused(t, err, events.CodeForbidden)
	_, err = f.s.Remove(f.cx, code, host, "c-host", host)
	wantRefused(t, err, events.CodeBadRequest)
	_, _, err = f.s.SetRole(f.cx, code, host, "c-host", host, events.RoleParticipant)
	wantRefused(t, err, events.CodeForbidden)
	// The host's id on a connection that does not hold the seat is nobody.
	_, err = f.s.Lock(f.cx, code, host, "c-stale", true)
	wantRefused(t, err, events.CodeNotJoined)
	_, err = f.s.End(f.cx, code, host, "c-stale")
	wantRefused(t, err, events.CodeNotJoined)
	// A participant moderates nothing.
	_, err = f.s.Mute(f.cx, code, p, "c-p", host, events.SourceMicrophone)
	wantRefused(t, err, events.CodeForbidden)
	_, err = f.s.MuteAll(f.cx, code, p, "c-p")
	wantRefused(t, err, events.CodeForbidden)

	after, _ := f.s.Snapshot(f.cx, code, host, "c-host")
	if after.Seq != before.Seq || after.Locked || len(after.Participants) != 4 {
		t.Fatalf("refusals changed the room: seq %d -> %d, %+v", before.Seq, after.Seq, after)
	}
	for _, x := range after.Participants {
		if !x.MicOn && x.ID == host {
			t.Fatal("a refused mute muted the host")
		}
	}
	// The co-host may remove a participant; the host a co-host.
	if _, err := f.s.Remove(f.cx, code, co, "c-co", p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Remove(f.cx, code, host, "c-host", co2); err != nil {
		t.Fatal(err)
	}
}
