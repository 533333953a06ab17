package sfu_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/sfu"
)

// onLayer waits until in's newest frames come from layer (0 q, 1 h, 2 f).
func onLayer(t *testing.T, what string, in *simpeer.In, layer int) {
	t.Helper()
	onLayerWithin(t, what, in, layer, 10*time.Second)
}

func onLayerWithin(t *testing.T, what string, in *simpeer.In, layer int, d time.Duration) {
	t.Helper()
	eventuallyWithin(t, what, d, func() error {
		before := in.LayerFrames[layer].Load()
		time.Sleep(200 * time.Millisecond)
		if got := in.LayerFrames[layer].Load() - before; got < 3 || in.Layer.Load() != int32(layer) {
			return fmt.Errorf("on layer %d (%d frames of layer %d in 200 ms)", in.Layer.Load(), got, layer)
		}
		return nil
	})
}

func sizes(t *testing.T, c *simpeer.Client, z ...events.VideoSize) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.VideoSizes(ctx, z...); err != nil {
		t.Fatal(err)
	}
}

// noJumps checks that in's stream never skipped a sequence number nor went
// back in time: what a decoder sees across layer switches and pauses.
func noJumps(t *testing.T, in *simpeer.In) {
	t.Helper()
	if j, b := in.SeqJumps.Load(), in.TSBack.Load(); j != 0 || b != 0 {
		t.Fatalf("the subscriber saw %d sequence gaps and %d timestamps going back", j, b)
	}
}

func TestRedisSimulcastLayerFollowsTheTileSize(t *testing.T) {
	h := start(t)
	pub, sub := h.client(), h.client()
	pub.Simulcast = simpeer.DefaultSimulcast()
	h.joinAndPublish(pub)
	h.joinAndPublish(sub) // without simulcast: it must keep working
	eventually(t, "forwarding", func() error { return receivesFrom(sub, pub) })
	eventually(t, "forwarding back", func() error { return receivesFrom(pub, sub) })
	in := sub.In(trackID(pub, events.SourceCamera))
	// No sizes yet: the best the link allows.
	onLayer(t, "size unknown: full layer", in, 2)
	mid := sub.Mid(trackID(pub, events.SourceCamera))
	if mid == "" {
		t.Fatal("no mid for the camera in the subscribe offer")
	}
	sizes(t, sub, events.VideoSize{Mid: mid, Width: 320, Height: 180})
	onLayer(t, "small tile: quarter layer", in, 0)
	sizes(t, sub, events.VideoSize{Mid: mid, Width: 640, Height: 360})
	onLayer(t, "half tile: half layer", in, 1)
	sizes(t, sub, events.VideoSize{Mid: mid, Width: 1280, Height: 720})
	onLayer(t, "spotlight: full layer", in, 2)
	noJumps(t, in)
	// Hidden: nothing comes; shown again: it resumes where it was.
	sizes(t, sub, events.VideoSize{Mid: mid, Width: 0, Height: 0})
	stops(t, "hidden video", in)
	sizes(t, sub) // absent from the list: hidden too
	if flowing(in) {
		t.Fatal("a video absent from the sizes flows")
	}
	sizes(t, sub, events.VideoSize{Mid: mid, Width: 320, Height: 180})
	onLayer(t, "shown again", in, 0)
	noJumps(t, in)
	// The audio never stopped.
	if !flowing(sub.In(trackID(pub, events.SourceMicrophone))) {
		t.Fatal("audio stopped")
	}
	if errs := sub.Errors(); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
}

func TestRedisDynacastPausesLayersNobodyReceives(t *testing.T) {
	h := start(t)
	pub, sub := h.client(), h.client()
	pub.Simulcast = simpeer.DefaultSimulcast()
	h.joinAndPublish(pub)
	h.joinAndPublish(sub)
	eventually(t, "forwarding", func() error { return receivesFrom(sub, pub) })
	in := sub.In(trackID(pub, events.SourceCamera))
	var cam *simpeer.Out
	for _, o := range pub.Outs() {
		if o.Source == events.SourceCamera {
			cam = o
		}
	}
	active := func(want ...string) func() error {
		return func() error {
			all := pub.PublishLayers()
			if len(all) == 0 {
				return fmt.Errorf("no publish_layers yet")
			}
			last := all[len(all)-1]
			if len(last) != 1 || last[0].Mid != cam.Mid() || !slices.Equal(last[0].Active, want) {
				return fmt.Errorf("publish_layers %+v, want mid %s active %v", last, cam.Mid(), want)
			}
			return nil
		}
	}
	sizes(t, sub, events.VideoSize{Mid: sub.Mid(trackID(pub, events.SourceCamera)), Width: 320, Height: 180})
	onLayer(t, "small tile", in, 0)
	eventually(t, "the unused layers are paused", active("q"))
	// The publisher stopped sending them.
	ls := cam.Layers()
	if ls[1].Active() || ls[2].Active() || !ls[0].Active() {
		t.Fatal("publisher's encodings not switched")
	}
	sent := ls[2].Sent.Load()
	time.Sleep(300 * time.Millisecond)
	if ls[2].Sent.Load() != sent {
		t.Fatal("a paused layer is still sent")
	}
	// A big tile: the full layer comes back at once, and is received.
	sizes(t, sub, events.VideoSize{Mid: sub.Mid(trackID(pub, events.SourceCamera)), Width: 1280, Height: 720})
	eventually(t, "the full layer is resumed", func() error {
		if !ls[2].Active() {
			return fmt.Errorf("full layer still paused")
		}
		return nil
	})
	onLayer(t, "big tile", in, 2)
	// Nobody watches: every layer pauses.
	sizes(t, sub)
	eventually(t, "all layers paused", active())
	noJumps(t, in)
}

// Past the audio bound a subscriber hears only the recent speakers: the
// silent microphones are paused and one that starts to speak is heard
// within a round, its stream continuing without a gap.
func TestRedisAudioPastTheBoundIsTheRecentSpeakers(t *testing.T) {
	h := startNode(t, 500*time.Millisecond, func(c *sfu.Config) { c.AudioN = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var pubs []*simpeer.Client
	var mics []*simpeer.Out
	for range 4 {
		p := h.client()
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
		outs, err := p.Publish(ctx, 0, events.SourceMicrophone)
		if err != nil {
			t.Fatal(err)
		}
		pubs, mics = append(pubs, p), append(mics, outs[0])
	}
	sub := h.client()
	if err := sub.Join(ctx); err != nil {
		t.Fatal(err)
	}
	mic := func(i int) *simpeer.In { return sub.In(trackID(pubs[i], events.SourceMicrophone)) }
	eventually(t, "tracks", func() error {
		for i := range pubs {
			if mic(i) == nil {
				return fmt.Errorf("no microphone %d yet", i)
			}
		}
		return nil
	})
	mics[0].Level.Store(10) // speaks
	eventually(t, "the speaker is heard", func() error {
		if !flowing(mic(0)) {
			return fmt.Errorf("speaker not heard")
		}
		return nil
	})
	for i := 1; i < 4; i++ {
		stops(t, fmt.Sprintf("silent microphone %d past the bound", i), mic(i))
	}
	if !flowing(mic(0)) {
		t.Fatal("the speaker is not heard")
	}
	mics[1].Level.Store(10)
	eventually(t, "a new speaker is heard", func() error {
		if !flowing(mic(1)) {
			return fmt.Errorf("new speaker not heard")
		}
		return nil
	})
	noJumps(t, mic(1))
}

// Past last-N a subscriber receives the videos of the most recent
// speakers: with N = 1 the one who speaks is seen, the other paused, and
// the video follows the next speaker.
func TestRedisLastNFollowsTheSpeakers(t *testing.T) {
	h := startNode(t, 500*time.Millisecond, func(c *sfu.Config) { c.LastN = 1 })
	a, b, sub := h.client(), h.client(), h.client()
	h.joinAndPublish(a)
	h.joinAndPublish(b)
	h.joinAndPublish(sub)
	micOf := func(c *simpeer.Client) *simpeer.Out {
		for _, o := range c.Outs() {
			if o.Source == events.SourceMicrophone {
				return o
			}
		}
		return nil
	}
	cam := func(c *simpeer.Client) *simpeer.In { return sub.In(trackID(c, events.SourceCamera)) }
	for _, speaker := range []*simpeer.Client{b, a} {
		other := a
		if speaker == a {
			other = b
		}
		micOf(other).Level.Store(127)
		micOf(speaker).Level.Store(10)
		eventually(t, "the speaker is seen", func() error {
			if cam(speaker) == nil || !flowing(cam(speaker)) {
				return fmt.Errorf("speaker's video does not flow")
			}
			return nil
		})
		if in := cam(other); in != nil {
			stops(t, "the other video past last-N", in)
		}
		// Audio is not bounded by last-N.
		if !flowing(sub.In(trackID(other, events.SourceMicrophone))) {
			t.Fatal("the other's audio stopped")
		}
	}
	noJumps(t, cam(a))
}
