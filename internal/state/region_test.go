package state

import (
	"errors"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

// A meeting lives in the region that created it: a join or a knock that
// reaches another region is refused wrong_region, naming the meeting's,
// and changes nothing.
func TestRedisStateJoinFromAnotherRegionIsSentToTheMeetingsRegion(t *testing.T) {
	f := newFixture(t)
	f.node("n1", 0)
	code, host := f.create() // in region "local"
	_, err := f.s.Join(f.cx, JoinInput{Code: code, Conn: ref("c-far"), Region: "far-away",
		Participant: events.Participant{ID: host, Name: "H", Role: events.RoleHost, JoinedAt: time.Now().UnixMilli()}})
	var r *Refused
	if !errors.As(err, &r) || r.Err.Code != events.CodeWrongRegion || r.Region != "local" {
		t.Fatalf("join from another region: %v (%+v)", err, r)
	}
	g := events.Guest{ID: events.NewParticipantID(), Name: "G"}
	if _, err := f.s.Knock(f.cx, code, g, ref("c-g"), "", "far-away"); !IsRefused(err, events.CodeWrongRegion) {
		t.Fatalf("knock from another region: %v", err)
	}
	m, _ := f.s.Meeting(f.cx, code)
	if m.Node != "" {
		t.Fatalf("a refused join placed the meeting on %q", m.Node)
	}
	if l, _ := f.s.Lookup(f.cx, code, "", ""); l.Region != "local" {
		t.Fatalf("lookup says region %q", l.Region)
	}
	f.mustJoin(code, host, events.RoleHost, "c-host") // from its own region
}
