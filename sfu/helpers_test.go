package sfu_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/sfu"
)

const videoBps = 300_000

// harness is one node on a real redis-server, driven through its real
// command channel, with pushes captured by an in-memory Pusher.
type harness struct {
	t      *testing.T
	node   *sfu.Node
	store  *state.Store
	pusher *simpeer.Pusher
	send   simpeer.SendFunc
	api    *webrtc.API
	room   events.RoomCode
	logs   *warnings
	// sigterm ends Run's context; stopped is closed when Run returned runErr.
	sigterm func()
	stopped chan struct{}
	runErr  error
}

// logRecorder passes records on to h and keeps the warnings and errors,
// so a test can check that normal events log none.
type logRecorder struct {
	h    slog.Handler
	seen *warnings
}

type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (l logRecorder) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelWarn || l.h.Enabled(ctx, lv)
}

func (l logRecorder) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		l.seen.mu.Lock()
		l.seen.lines = append(l.seen.lines, r.Message)
		l.seen.mu.Unlock()
	}
	if !l.h.Enabled(ctx, r.Level) {
		return nil
	}
	return l.h.Handle(ctx, r)
}

func (l logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return logRecorder{l.h.WithAttrs(as), l.seen}
}

func (l logRecorder) WithGroup(name string) slog.Handler {
	return logRecorder{l.h.WithGroup(name), l.seen}
}

// warnings returns what the node logged at warning level or above so far.
func (h *harness) warnings() []string {
	h.logs.mu.Lock()
	defer h.logs.mu.Unlock()
	return slices.Clone(h.logs.lines)
}

func testLog() *slog.Logger {
	if os.Getenv("SFU_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func start(t *testing.T) *harness { return startDraining(t, 500*time.Millisecond) }

// startDraining starts a node that drains for up to drain when stopped;
// each of setup runs before the node starts.
func startDraining(t *testing.T, drain time.Duration, setup ...func(*sfu.Node)) *harness {
	t.Helper()
	return startNode(t, drain, nil, setup...)
}

// startNode is startDraining with the node's configuration changed by
// config first (when set).
func startNode(t *testing.T, drain time.Duration, config func(*sfu.Config), setup ...func(*sfu.Node)) *harness {
	t.Helper()
	rdb := testenv.StartRedis(t).Client(t)
	h := &harness{t: t, store: state.New(rdb), pusher: simpeer.NewPusher(), room: events.NewRoomCode(), logs: &warnings{},
		stopped: make(chan struct{})}
	cfg := sfu.Config{
		NodeID: events.NodeID("node-" + strings.ToLower(t.Name())), Region: "test", Redis: rdb, Push: h.pusher,
		Log: slog.New(logRecorder{testLog().Handler(), h.logs}), PublicIPs: []string{"127.0.0.1"}, DrainTimeout: drain,
	}
	if config != nil {
		config(&cfg)
	}
	node, err := sfu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.node = node
	b := bus.New(rdb, testLog())
	h.send = func(ctx context.Context, cmd events.Command) error { return b.Send(ctx, node.ID(), cmd) }
	if h.api, err = simpeer.NewAPI(); err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(node)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.sigterm = cancel
	go func() {
		h.runErr = node.Run(ctx)
		close(h.stopped)
	}()
	t.Cleanup(func() {
		cancel()
		h.waitStopped(10 * time.Second)
	})
	return h
}

// waitStopped waits up to d for Run to return, failing the test when it
// does not or returns an error.
func (h *harness) waitStopped(d time.Duration) {
	h.t.Helper()
	select {
	case <-h.stopped:
		if h.runErr != nil {
			h.t.Errorf("Run: %v", h.runErr)
		}
	case <-time.After(d):
		h.t.Fatalf("node did not stop within %s", d)
	}
}

// client is a participant of the harness's room.
func (h *harness) client() *simpeer.Client {
	h.t.Helper()
	return h.clientIn(h.room)
}

func (h *harness) clientIn(room events.RoomCode) *simpeer.Client {
	h.t.Helper()
	c, err := simpeer.New(h.api, room, h.send)
	if err != nil {
		h.t.Fatal(err)
	}
	h.pusher.Attach(c)
	h.t.Cleanup(c.Close)
	return c
}

// joinAndPublish joins c and publishes microphone and camera.
func (h *harness) joinAndPublish(c *simpeer.Client) {
	h.t.Helper()
	joinAndPublish(h.t, c)
}

// joinAndPublish joins c's current media session and publishes microphone
// and camera.
func joinAndPublish(t *testing.T, c *simpeer.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, videoBps, events.SourceMicrophone, events.SourceCamera); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// pair joins a publisher and a subscriber (both publish microphone and
// camera) and waits until the subscriber receives the publisher's media.
func (h *harness) pair() (pub, sub *simpeer.Client) {
	h.t.Helper()
	pub, sub = h.client(), h.client()
	h.joinAndPublish(pub)
	h.joinAndPublish(sub)
	eventually(h.t, "forwarding", func() error { return receivesFrom(sub, pub) })
	return pub, sub
}

// eventually polls cond until it holds or 10 s passed.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	eventuallyWithin(t, what, 10*time.Second, cond)
}

func eventuallyWithin(t *testing.T, what string, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func trackID(c *simpeer.Client, s events.Source) string { return string(c.ID) + "-" + string(s) }

// receivesFrom checks that sub gets both of pub's tracks, with RTP flowing
// and, for video, a keyframe.
func receivesFrom(sub, pub *simpeer.Client) error {
	for _, s := range []events.Source{events.SourceMicrophone, events.SourceCamera} {
		in := sub.In(trackID(pub, s))
		if in == nil {
			return fmt.Errorf("%s has no %s track of %s (has %d tracks, errors %v)", sub.ID, s, pub.ID, len(sub.Ins()), sub.Errors())
		}
		if in.StreamID != string(pub.ID) {
			return fmt.Errorf("stream id %q, want %q", in.StreamID, pub.ID)
		}
		if in.Unique.Load() < 10 {
			return fmt.Errorf("%s got %d packets of %s's %s", sub.ID, in.Unique.Load(), pub.ID, s)
		}
		if s == events.SourceCamera && in.Keyframes.Load() == 0 {
			return fmt.Errorf("%s got no keyframe of %s's camera", sub.ID, pub.ID)
		}
	}
	return nil
}

// stops waits until packets of in no longer arrive.
func stops(t *testing.T, what string, in *simpeer.In) {
	t.Helper()
	eventually(t, what+" stops", func() error {
		if flowing(in) {
			return fmt.Errorf("%s packets still arrive", what)
		}
		return nil
	})
}

// flowing reports whether packets of in arrive now.
func flowing(in *simpeer.In) bool {
	before := in.Packets.Load()
	time.Sleep(300 * time.Millisecond)
	return in.Packets.Load() > before
}
