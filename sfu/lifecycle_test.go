package sfu_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/sfu"
	"github.com/veet-dev/veet/sfu/internal/simpeer"
)

func TestRedisDrainWaitsForRoomsThenDeregisters(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	pusher := simpeer.NewPusher()
	node, err := sfu.New(sfu.Config{NodeID: "drainer", Region: "test", Redis: rdb, Push: pusher,
		Log: testLog(), PublicIPs: []string{"127.0.0.1"}, DrainTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st := state.New(rdb)
	b := bus.New(rdb, testLog())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	api, err := simpeer.NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	c, err := simpeer.New(api, events.NewRoomCode(), func(ctx context.Context, cmd events.Command) error { return b.Send(ctx, node.ID(), cmd) })
	if err != nil {
		t.Fatal(err)
	}
	pusher.Attach(c)
	defer c.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := c.Join(cctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(cctx, videoBps, events.SourceMicrophone); err != nil {
		t.Fatal(err)
	}

	cancel() // SIGTERM
	eventually(t, "draining in the registry", func() error {
		n, err := st.Node(context.Background(), "drainer")
		if err != nil || n == nil || n.State != events.NodeDraining || n.Load.Participants != 1 {
			return fmt.Errorf("registry entry %+v (%v)", n, err)
		}
		return nil
	})
	select {
	case <-done:
		t.Fatal("node stopped with a room still open")
	case <-time.After(300 * time.Millisecond):
	}
	if err := c.Leave(cctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node did not stop after its last room emptied")
	}
	if n, err := st.Node(context.Background(), "drainer"); n != nil || err != nil {
		t.Fatalf("registry still has %+v (%v)", n, err)
	}
}

func TestRedisDrainTimeoutTellsParticipantsToReconnect(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	pusher := simpeer.NewPusher()
	node, err := sfu.New(sfu.Config{NodeID: "short-drain", Region: "test", Redis: rdb, Push: pusher,
		Log: testLog(), PublicIPs: []string{"127.0.0.1"}, DrainTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New(rdb, testLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	api, err := simpeer.NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	c, err := simpeer.New(api, events.NewRoomCode(), func(ctx context.Context, cmd events.Command) error { return b.Send(ctx, node.ID(), cmd) })
	if err != nil {
		t.Fatal(err)
	}
	pusher.Attach(c)
	defer c.Close()
	jctx, jcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer jcancel()
	if err := c.Join(jctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "joined", func() error {
		if c.Seen(events.TypeTracks) == 0 {
			return fmt.Errorf("no tracks event yet")
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node did not stop at its drain timeout")
	}
	if c.Seen(events.TypeMediaReconnect) != 1 {
		t.Fatalf("participant got %d media_reconnect events, want 1", c.Seen(events.TypeMediaReconnect))
	}
}

func TestRedisGoneConnectionIsCleanedUp(t *testing.T) {
	h := start(t)
	pub, sub := h.client(), h.client()
	h.joinAndPublish(pub)
	h.joinAndPublish(sub)
	eventually(t, "forwarding", func() error { return receivesFrom(sub, pub) })
	// sub's socket vanishes (410 on push); the next event to it (the
	// renegotiation for a new publisher) finds that out.
	h.pusher.Detach(sub)
	third := h.client()
	h.joinAndPublish(third)
	eventually(t, "gone participant removed", func() error {
		for _, x := range pub.Tracks() {
			if x.ParticipantID == sub.ID {
				return fmt.Errorf("%s's tracks are still listed", sub.ID)
			}
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

func TestRedisPublisherConnectionLossEndsItsTracks(t *testing.T) {
	h := start(t)
	pub, sub := h.client(), h.client()
	h.joinAndPublish(pub)
	h.joinAndPublish(sub)
	eventually(t, "forwarding", func() error { return receivesFrom(sub, pub) })
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
	later, err := simpeer.New(h.api, events.NewRoomCode(), h.send)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(later.Close)
	h.pusher.Attach(later)
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
	pub, sub := h.client(), h.client()
	h.joinAndPublish(pub)
	h.joinAndPublish(sub)
	eventually(t, "forwarding", func() error { return receivesFrom(sub, pub) })
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
