package sfu_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/sfu"
)

func TestRedisDrainWaitsForRoomsThenDeregisters(t *testing.T) {
	h := startDraining(t, 20*time.Second)
	c := h.client()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := c.Join(cctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(cctx, videoBps, events.SourceMicrophone); err != nil {
		t.Fatal(err)
	}

	h.sigterm()
	eventually(t, "draining in the registry", func() error {
		n, err := h.store.Node(context.Background(), h.node.ID())
		if err != nil || n == nil || n.State != events.NodeDraining || n.Load.Participants != 1 {
			return fmt.Errorf("registry entry %+v (%v)", n, err)
		}
		return nil
	})
	select {
	case <-h.stopped:
		t.Fatal("node stopped with a room still open")
	case <-time.After(300 * time.Millisecond):
	}
	if err := c.Leave(cctx); err != nil {
		t.Fatal(err)
	}
	h.waitStopped(10 * time.Second) // after its last room emptied
	if n, err := h.store.Node(context.Background(), h.node.ID()); n != nil || err != nil {
		t.Fatalf("registry still has %+v (%v)", n, err)
	}
}

func TestRedisDrainTimeoutTellsParticipantsToReconnect(t *testing.T) {
	h := startDraining(t, 300*time.Millisecond)
	// Two rooms: they close side by side, each participant told once.
	cs := []*simpeer.Client{h.client(), h.clientIn(events.NewRoomCode())}
	jctx, jcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer jcancel()
	for _, c := range cs {
		if err := c.Join(jctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "joined", func() error {
			if c.Seen(events.TypeTracks) == 0 {
				return fmt.Errorf("no tracks event yet")
			}
			return nil
		})
	}
	h.sigterm()
	h.waitStopped(10 * time.Second) // at its drain timeout
	for _, c := range cs {
		if c.Seen(events.TypeMediaReconnect) != 1 {
			t.Fatalf("participant got %d media_reconnect events, want 1", c.Seen(events.TypeMediaReconnect))
		}
	}
}

func TestRedisGoneConnectionKeepsMediaUntilTheParticipantIsBack(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	// sub's socket vanishes (410 on push); the next event to it (the
	// renegotiation for a new publisher) finds that out. Its media stays:
	// the client will be back on a new socket (or its seat expires and the
	// signaling plane sends a leave).
	h.pusher.Detach(sub)
	third := h.client()
	h.joinAndPublish(third)
	eventually(t, "third receives sub", func() error { return receivesFrom(third, sub) })
	if in := pub.In(trackID(sub, events.SourceMicrophone)); in == nil || !flowing(in) {
		t.Fatal("a dropped socket stopped the participant's media")
	}
	// Back on a new socket, with the same session: it gets what it missed.
	sub.Conn.ConnectionID += "-new"
	h.pusher.Attach(sub)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.Join(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sub receives the newcomer", func() error { return receivesFrom(sub, third) })
}

func TestRedisResumingASessionTheNodeLacksIsTurnedDown(t *testing.T) {
	h := start(t)
	c := h.client()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Command(ctx, events.Command{Type: events.CmdJoin, Resume: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "told to start anew", func() error {
		if c.Seen(events.TypeMediaReconnect) == 0 {
			return fmt.Errorf("no media_reconnect")
		}
		return nil
	})
}

func TestRedisLostSubscribeOfferIsSentAgain(t *testing.T) {
	h := start(t)
	pub := h.client()
	h.joinAndPublish(pub)
	sub := h.client()
	h.pusher.LoseOffers(sub, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sub.Join(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tracks after a lost offer", func() error { return receivesFrom(sub, pub) })
}

// Every copy of an offer lost (or every answer): the node keeps sending it,
// less often, rather than leave the participant without tracks for good.
func TestRedisUnansweredOfferKeepsBeingSent(t *testing.T) {
	h := startDraining(t, 500*time.Millisecond, func(n *sfu.Node) { n.SetOfferRetry(200 * time.Millisecond) })
	pub := h.client()
	h.joinAndPublish(pub)
	sub := h.client()
	h.pusher.LoseOffers(sub, 4) // the offer, both early copies and the next
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sub.Join(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tracks after three lost offers", func() error { return receivesFrom(sub, pub) })
}

func TestRedisPublisherConnectionLossEndsItsTracks(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	pub.ClosePublishing()
	eventually(t, "tracks gone", func() error {
		for _, x := range sub.Tracks() {
			if x.ParticipantID == pub.ID {
				return fmt.Errorf("%s still listed", x.TrackID)
			}
		}
		offers := sub.Offers()
		if last := offers[len(offers)-1]; len(last.Tracks) != 0 {
			return fmt.Errorf("last offer still has %d tracks", len(last.Tracks))
		}
		return nil
	})
	// The participant is still in the room and can publish again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pub.Publish(ctx, videoBps, events.SourceMicrophone, events.SourceCamera); err != nil {
		t.Fatal(err)
	}
	eventually(t, "republished", func() error { return receivesFrom(sub, pub) })
}

// A leave is normal whatever the node still has: a participant who never
// published, a second leave, a leave after the meeting ended. None of them
// is refused or logged as a warning. A leave naming an earlier connection
// (the person rejoined from a new tab) leaves the new session alone.
func TestRedisLeavesAreQuietAndSpareARejoinedSession(t *testing.T) {
	h := start(t)
	pub, watcher := h.client(), h.client()
	h.joinAndPublish(pub)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := watcher.Join(ctx); err != nil { // receives, never publishes
		t.Fatal(err)
	}
	eventually(t, "watcher receives", func() error { return receivesFrom(watcher, pub) })

	// The watcher rejoins from a new tab; the leave of its old connection
	// arrives after the join of the new one.
	tab, err := simpeer.New(h.api, h.room, h.send)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	tab.ID = watcher.ID
	tab.Conn.ConnectionID = watcher.Conn.ConnectionID + "-new"
	h.pusher.Attach(tab)
	if err := tab.Join(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new tab receives", func() error { return receivesFrom(tab, pub) })
	if err := watcher.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	// A later command's effect shows the stale leave was handled, and the
	// new tab is still there to see it.
	if err := pub.Command(ctx, events.Command{Type: events.CmdSetMuted, Source: events.SourceCamera, Muted: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new tab sees the mute", func() error {
		for _, x := range tab.Tracks() {
			if x.TrackID == trackID(pub, events.SourceCamera) && x.Muted {
				return nil
			}
		}
		return fmt.Errorf("tracks: %+v", tab.Tracks())
	})
	if mic := tab.In(trackID(pub, events.SourceMicrophone)); !flowing(mic) {
		t.Fatal("the stale leave stopped the new tab's media")
	}

	// Leave twice, then the last one leaves (the room closes) and leaves
	// once more.
	for _, c := range []*simpeer.Client{tab, tab, pub, pub} {
		if err := c.Leave(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Commands are handled in order: once a later join (in another room)
	// is served, the leaves were.
	later := h.clientIn(events.NewRoomCode())
	if err := later.Join(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "later join served", func() error {
		if later.Seen(events.TypeTracks) == 0 {
			return fmt.Errorf("no tracks event yet")
		}
		return nil
	})
	if n := h.node.Info().Load.Rooms; n != 1 {
		t.Errorf("%d rooms after everyone left one of them, want 1", n)
	}
	if w := h.warnings(); len(w) != 0 {
		t.Errorf("normal leaves logged warnings: %q", w)
	}
	for _, c := range []*simpeer.Client{watcher, tab, pub} {
		if errs := c.Errors(); len(errs) != 0 {
			t.Errorf("%s got error events for leaving: %+v", c.ID, errs)
		}
	}
}

// A client that gets a subscribe offer twice (the node resends one that
// looks unanswered) answers both; the second answer changes nothing and is
// no error.
func TestRedisAnswerToAResentOfferIsHarmless(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	offers := sub.Offers()
	again, err := events.Marshal(&offers[len(offers)-1])
	if err != nil {
		t.Fatal(err)
	}
	sub.Deliver(again) // the simulated client answers it again
	// A later command's effect shows the second answer was handled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Command(ctx, events.Command{Type: events.CmdSetMuted, Source: events.SourceCamera, Muted: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mute seen", func() error {
		for _, x := range sub.Tracks() {
			if x.TrackID == trackID(pub, events.SourceCamera) && x.Muted {
				return nil
			}
		}
		return fmt.Errorf("tracks: %+v", sub.Tracks())
	})
	if errs := sub.Errors(); len(errs) != 0 {
		t.Errorf("second answer refused: %+v", errs)
	}
	if w := h.warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	if !flowing(sub.In(trackID(pub, events.SourceMicrophone))) {
		t.Error("microphone stopped after the second answer")
	}
}

// A participant whose endpoint stopped answering fills its push queue; the
// node then drops its events at once instead of holding up every command
// that tells the room something.
func TestRedisStuckEndpointDoesNotHoldUpCommands(t *testing.T) {
	h := start(t)
	pub, stuck := h.client(), h.client()
	h.joinAndPublish(pub)
	h.joinAndPublish(stuck)
	eventually(t, "forwarding", func() error { return receivesFrom(stuck, pub) })
	h.pusher.Stall(stuck)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Each toggle is one tracks event to everyone: more than the queue holds.
	for i := range 80 {
		if err := pub.Command(ctx, events.Command{Type: events.CmdSetMuted, Source: events.SourceCamera, Muted: i%2 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Command(ctx, events.Command{Type: events.CmdSetMuted, Source: events.SourceMicrophone, Muted: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every command handled", func() error {
		for _, x := range pub.Tracks() {
			if x.TrackID == trackID(pub, events.SourceMicrophone) && x.Muted {
				return nil
			}
		}
		return fmt.Errorf("tracks: %+v", pub.Tracks())
	})
}
