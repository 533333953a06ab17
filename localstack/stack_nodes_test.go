package localstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/localstack"
)

// TestStackNodeStopMovesRooms: when the SFU node hosting a meeting stops,
// the next sweep places the meeting on the other node and tells everyone in
// it to reconnect their media; signaling stays up and the meeting goes on.
func TestStackNodeStopMovesRooms(t *testing.T) {
	s, host, ann, code, node := meetingOnStoppedNode(t, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Sweep(ctx); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for _, p := range []*person{host, ann} {
		p.WaitFor(t, "media_reconnect")
	}
	moved, err := s.State().Meeting(ctx, code)
	if err != nil || moved.Node == "" || moved.Node == node {
		t.Fatalf("after the sweep the meeting is on %q (was %q): %v", moved.Node, node, err)
	}
	// Signaling never dropped: both still talk to the meeting.
	var snap events.Snapshot
	expect(t, ann, ann.MustSend(t, "resync", nil), "snapshot", &snap)
	if got := ids(snap.Room); !sameSet(got, []events.ParticipantID{host.id, ann.id}) {
		t.Errorf("room after the move lists %v", got)
	}
}

// TestStackDrainingNodeHandsRoomsOver: a node that stops with a meeting still
// on it (drain timeout) leaves the registry, then tells everyone
// media_reconnect; a client answers by joining again on its open socket (as
// the web client does), and that join moves the meeting to a live node at
// once — no sweep needed — with everyone still in it. (Locally the node
// leaves the registry within microseconds of its pushes, so this shows the
// hand-over, not the order the node keeps: deregister first, then tell.)
func TestStackDrainingNodeHandsRoomsOver(t *testing.T) {
	s, host, ann, code, node := meetingOnStoppedNode(t, 500*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, p := range []*person{host, ann} {
		p.WaitFor(t, "media_reconnect")
	}
	joinWithToken(t, ann, code)
	moved, err := s.State().Meeting(ctx, code)
	if err != nil || moved.Node == "" || moved.Node == node {
		t.Fatalf("after the rejoin the meeting is on %q (was %q): %v", moved.Node, node, err)
	}
	if got := ids(ann.joined.Room); !sameSet(got, []events.ParticipantID{host.id, ann.id}) {
		t.Errorf("the rejoin's snapshot lists %v", got)
	}
}

// meetingOnStoppedNode starts a two-node stack with a host and an admitted
// guest in a meeting, then stops the node the meeting is on (still holding
// them, so it drains until drain passes). It returns that node.
func meetingOnStoppedNode(t *testing.T, drain time.Duration) (*localstack.Stack, *person, *person, events.RoomCode, events.NodeID) {
	t.Helper()
	s := startStack(t, localstack.Options{Nodes: 2, DrainTimeout: drain, SweepEvery: -1})
	host, code := createMeeting(t, s, "host")
	ann := admitGuest(t, s, host, code, "ann")
	host.WaitFor(t, "participant_joined")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := s.State().Meeting(ctx, code)
	if err != nil || m.Node == "" {
		t.Fatalf("meeting %+v: %v", m, err)
	}
	if err := s.StopNode(m.Node); err != nil {
		t.Fatal(err)
	}
	return s, host, ann, code, m.Node
}
