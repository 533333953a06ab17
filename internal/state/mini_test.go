package state

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

// The local stack runs on miniredis by default: every script must run there.
func TestMiniredisFlow(t *testing.T) {
	m := miniredis.RunT(t)
	s := New(redis.NewClient(&redis.Options{Addr: m.Addr()}))
	f := &fixture{t: t, s: s, cx: context.Background()}
	f.node("n1", 0)
	code, host := f.create()
	f.mustJoin(code, host, events.RoleHost, "c-host")
	gid, err := f.knock(code, "c-g")
	if err != nil {
		t.Fatal(err)
	}
	adm, _, err := s.Admit(f.cx, code, host, "c-host", gid)
	if err != nil || len(adm) != 1 {
		t.Fatal(adm, err)
	}
	// Deny holds the source: a reloaded guest from it is too soon.
	g := events.Guest{ID: events.NewParticipantID(), Name: "G"}
	if _, err := s.Knock(f.cx, code, g, ref("c-d"), "203.0.113.7", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Deny(f.cx, code, host, "c-host", g.ID); err != nil {
		t.Fatal(err)
	}
	g2 := events.Guest{ID: events.NewParticipantID(), Name: "G"}
	if _, err := s.Knock(f.cx, code, g2, ref("c-d2"), "203.0.113.7", ""); !IsRefused(err, events.CodeTooSoon) {
		t.Fatalf("knock from a denied source: %v", err)
	}
	p := events.NewParticipantID()
	f.mustJoin(code, p, events.RoleParticipant, "c-p")
	if _, err := s.Mute(f.cx, code, host, "c-host", p, events.SourceMicrophone); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MuteAll(f.cx, code, host, "c-host"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetRole(f.cx, code, host, "c-host", p, events.RoleCohost); err != nil {
		t.Fatal(err)
	}
	on := true
	if _, err := s.Update(f.cx, code, p, "c-p", Patch{MicOn: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(f.cx, code, host, "c-host", true); err != nil {
		t.Fatal(err)
	}
	room, err := s.Snapshot(f.cx, code, host, "c-host")
	if err != nil || len(room.Participants) != 2 {
		t.Fatal(room, err)
	}
	if _, err := s.Remove(f.cx, code, host, "c-host", p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.End(f.cx, code, host, "c-host"); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, _, err := s.Allow(f.cx, "c1"); err != nil {
			t.Fatal(err)
		}
	}
	ok, _, _ := s.Allow(f.cx, "c1")
	if ok {
		t.Fatal("not limited")
	}
}
