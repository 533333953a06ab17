package localstack_test

import (
	"slices"
	"testing"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// TestStackMeeting: a host and three admitted participants over real
// WebSockets; everyone sees everyone's joins and leaves, in order, and a
// dropped socket is removed from everyone's list.
func TestStackMeeting(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 2})
	meeting(t, s)
}

// TestStackMeetingEmbeddedRedis runs the same meeting on the embedded
// Redis (miniredis), the `make run` default, to prove it supports what
// internal/state and events/bus use (Lua, streams, consumer groups).
func TestStackMeetingEmbeddedRedis(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1, EmbeddedRedis: true})
	meeting(t, s)
}

func meeting(t *testing.T, s *localstack.Stack) {
	host, code := createMeeting(t, s, "host")
	if got := ids(host.joined.Room); !slices.Equal(got, []events.ParticipantID{host.id}) {
		t.Fatalf("host's snapshot lists %v", got)
	}
	people := []*person{host}
	for _, name := range []string{"ann", "bob", "cat"} {
		p := admitGuest(t, s, host, code, name)
		// The newcomer's snapshot has everyone already in, and itself.
		want := append(idsOf(people), p.id)
		if got := ids(p.joined.Room); !sameSet(got, want) {
			t.Errorf("%s's snapshot lists %v, want %v", name, got, want)
		}
		// Everyone already in hears of the newcomer.
		for _, q := range people {
			var pj events.ParticipantJoined
			e := q.WaitFor(t, "participant_joined")
			if err := e.Decode(&pj); err != nil || pj.Participant.ID != p.id || pj.Participant.Name != name {
				t.Errorf("%s: participant_joined %s, want %s", q.Name, e, p.id)
			}
		}
		people = append(people, p)
	}
	host, ann, bob, cat := people[0], people[1], people[2], people[3]

	// cat leaves; everyone else hears it with reason "left".
	expect(t, cat, cat.MustSend(t, "leave", nil), "left", nil)
	for _, q := range []*person{host, ann, bob} {
		waitLeft(t, q, cat.id, events.ReasonLeft)
	}
	// bob's network goes away: $disconnect removes him from everyone's list.
	bob.Drop()
	for _, q := range []*person{host, ann} {
		waitLeft(t, q, bob.id, events.ReasonDisconnected)
	}
	if got := ids(roomState(t, s, code, host)); !sameSet(got, []events.ParticipantID{host.id, ann.id}) {
		t.Errorf("room in Redis lists %v, want host and ann", got)
	}
	// A late snapshot (resync) agrees.
	var snap events.Snapshot
	expect(t, ann, ann.MustSend(t, "resync", nil), "snapshot", &snap)
	if got := ids(snap.Room); !sameSet(got, []events.ParticipantID{host.id, ann.id}) {
		t.Errorf("ann's resync lists %v", got)
	}
	for _, p := range []*person{host, ann, cat} {
		checkSeqs(t, p)
	}
	for _, p := range people {
		if e, ok := p.Next(func(e wsclient.Event) bool { return e.Type == "error" }, 0); ok {
			t.Errorf("%s got an error during a normal meeting: %s", p.Name, e)
		}
	}
}

func waitLeft(t *testing.T, q *person, who events.ParticipantID, reason events.LeaveReason) {
	t.Helper()
	var pl events.ParticipantLeft
	e := q.WaitFor(t, "participant_left")
	if err := e.Decode(&pl); err != nil || pl.ParticipantID != who || pl.Reason != reason {
		t.Errorf("%s: participant_left %s, want %s (%s)", q.Name, e, who, reason)
	}
}

func idsOf(ps []*person) []events.ParticipantID {
	var out []events.ParticipantID
	for _, p := range ps {
		out = append(out, p.id)
	}
	return out
}

func sameSet(a, b []events.ParticipantID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
