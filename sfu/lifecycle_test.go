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
