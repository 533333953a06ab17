package sfu_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/sfu"
)

// cluster is several nodes of one region on one real redis-server, with
// participants whose commands go where Redis places their room — the way
// the signaling plane routes them — and who follow media_reconnect the way
// the SPA does: a new media session, joined on the room's new node.
type cluster struct {
	t      *testing.T
	redis  *testenv.Redis
	rdb    *redis.Client
	store  *state.Store
	bus    *bus.Bus
	pusher *simpeer.Pusher
	nodes  map[events.NodeID]*clusterNode
	room   events.RoomCode
	host   events.ParticipantID
	seated int
	logs   *warnings
}

type clusterNode struct {
	*sfu.Node
	stop    context.CancelFunc
	stopped chan struct{}
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	r := testenv.StartRedis(t)
	c := &cluster{t: t, redis: r, rdb: r.Client(t), pusher: simpeer.NewPusher(), nodes: map[events.NodeID]*clusterNode{}, logs: &warnings{}}
	c.store = state.New(c.rdb)
	c.bus = bus.New(c.rdb, testLog())
	for i := range n {
		c.addNode(events.NodeID(fmt.Sprintf("n%d-%s", i+1, strings.ToLower(t.Name()))), 2*time.Second)
	}
	c.host = events.NewParticipantID()
	code, err := c.store.Create(context.Background(), "cluster", c.host, "test")
	if err != nil {
		t.Fatal(err)
	}
	c.room = code
	return c
}

// addNode starts a node that drains for up to drain when stopped.
func (c *cluster) addNode(id events.NodeID, drain time.Duration) *clusterNode {
	c.t.Helper()
	node, err := sfu.New(sfu.Config{
		NodeID: id, Region: "test", Redis: c.rdb, Push: c.pusher, PublicIPs: []string{"127.0.0.1"},
		Log: slog.New(logRecorder{testLog().Handler(), c.logs}), DrainTimeout: drain,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cn := &clusterNode{Node: node, stop: cancel, stopped: make(chan struct{})}
	go func() {
		_ = node.Run(ctx)
		close(cn.stopped)
	}()
	c.t.Cleanup(func() {
		cancel()
		<-cn.stopped
	})
	c.nodes[id] = cn
	eventually(c.t, "node registered", func() error {
		if n, err := c.store.Node(context.Background(), id); n == nil || err != nil {
			return fmt.Errorf("%s not in the registry (%v)", id, err)
		}
		return nil
	})
	return cn
}

// placement is where Redis has the room now.
func (c *cluster) placement() state.RoomPlacement {
	p, err := c.store.Placements(context.Background(), []events.RoomCode{c.room})
	if err != nil {
		c.t.Fatal(err)
	}
	return p[c.room]
}

// participant seats a new participant in Redis (as the join handler does)
// and returns its simulated client, joined on the room's node with media.
func (c *cluster) participant() *simpeer.Client {
	c.t.Helper()
	api, err := simpeer.NewAPI()
	if err != nil {
		c.t.Fatal(err)
	}
	var cl *simpeer.Client
	send := func(ctx context.Context, cmd events.Command) error {
		pl := c.placement()
		cmd.Epoch = pl.Epoch
		return c.bus.Send(ctx, pl.Node, cmd)
	}
	cl, err = simpeer.New(api, c.room, send)
	if err != nil {
		c.t.Fatal(err)
	}
	c.pusher.Attach(cl)
	c.t.Cleanup(cl.Close)
	if c.seated++; c.seated == 1 {
		cl.ID = c.host // the first is the meeting's host
	}
	ctx := context.Background()
	res, err := c.store.Join(ctx, state.JoinInput{Code: c.room, Conn: cl.Conn, Region: "test",
		Participant: events.Participant{ID: cl.ID, Name: "P", Role: events.RoleParticipant, MicOn: true, CamOn: true, JoinedAt: time.Now().UnixMilli()}})
	if err != nil {
		c.t.Fatal(err)
	}
	cl.SetEpoch(res.Epoch)
	joinAndPublish(c.t, cl)
	return cl
}

// follow does what the SPA does on a media_reconnect: a new session, joined
// where the room is now.
func (c *cluster) follow(cl *simpeer.Client) {
	c.t.Helper()
	if err := cl.NewSession(); err != nil {
		c.t.Fatal(err)
	}
	cl.SetEpoch(c.placement().Epoch)
	joinAndPublish(c.t, cl)
}

func (c *cluster) everyoneReceives(cls ...*simpeer.Client) {
	c.t.Helper()
	for _, a := range cls {
		for _, b := range cls {
			if a != b {
				eventually(c.t, "media flows", func() error { return receivesFromNow(a, b) })
			}
		}
	}
}

// receivesFromNow is receivesFrom on the tracks of the current session,
// with packets arriving now.
func receivesFromNow(sub, pub *simpeer.Client) error {
	if err := receivesFrom(sub, pub); err != nil {
		return err
	}
	if g := sub.Gap(trackID(pub, events.SourceMicrophone)); g == nil || g.Since(time.Now()) > 300*time.Millisecond {
		return fmt.Errorf("%s hears nothing of %s now", sub.ID, pub.ID)
	}
	return nil
}

func TestRedisRejoinWithTheSameSessionKeepsMedia(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	offers := len(sub.Offers())
	in := sub.In(trackID(pub, events.SourceCamera))
	// A resent join, then one from a new socket: same session both times.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.Join(ctx); err != nil {
		t.Fatal(err)
	}
	h.pusher.Detach(sub)
	sub.Conn.ConnectionID += "-2"
	h.pusher.Attach(sub)
	if err := sub.Join(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if !flowing(in) {
			t.Fatal("media stopped after a rejoin with the same session")
		}
	}
	if sub.In(trackID(pub, events.SourceCamera)) != in {
		t.Fatal("the rejoin renegotiated the subscribe connection")
	}
	if len(sub.Offers()) != offers {
		t.Fatalf("%d new subscribe offers after a rejoin of the same session", len(sub.Offers())-offers)
	}
	// Events follow the new socket: a third participant shows up there.
	third := h.client()
	h.joinAndPublish(third)
	eventually(t, "the rejoined participant gets the newcomer", func() error { return receivesFrom(sub, third) })
}

func TestRedisNewSessionReplacesMediaAndOldOnesAreStale(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	old := sub.Session()
	if err := sub.NewSession(); err != nil {
		t.Fatal(err)
	}
	h.joinAndPublish(sub)
	eventually(t, "new session receives", func() error { return receivesFromNow(sub, pub) })
	eventually(t, "publisher receives the new session", func() error { return receivesFromNow(pub, sub) })
	// A command of the old session is refused, naming its request.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.Command(ctx, events.Command{Type: events.CmdSubscribeAnswer, RequestID: "old", Session: old, OfferID: "o1", SDP: "v=0\r\n"}); err != nil {
		t.Fatal(err)
	}
	// (The client drops that error itself: it names a session it left.)
	eventually(t, "stale answer dropped", func() error {
		if sub.Stale() == 0 {
			return fmt.Errorf("no stale event seen yet")
		}
		return nil
	})
}

func TestRedisStaleEpochIsRefusedAndANewerJoinReplacesTheRoom(t *testing.T) {
	h := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	send := func(c *simpeer.Client, epoch uint64, cmd events.Command) {
		cmd.Epoch = epoch
		if err := c.Command(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	a := h.client()
	send(a, 100, events.Command{Type: events.CmdJoin})
	if _, err := a.Publish(ctx, videoBps, events.SourceMicrophone); err != nil {
		t.Fatal(err)
	}
	// A command of an older placement is refused.
	send(a, 99, events.Command{Type: events.CmdSetMuted, RequestID: "stale", Source: events.SourceMicrophone, Muted: true})
	eventually(t, "stale command refused", func() error {
		for _, e := range a.Errors() {
			if e.ID == "stale" && e.Code == events.CodeUnavailable {
				return nil
			}
		}
		return fmt.Errorf("errors %+v", a.Errors())
	})
	// The room placed here again: a join of a newer epoch ends a's old
	// session (its publish connection closes) and starts afresh.
	b := h.client()
	b.SetEpoch(200)
	send(b, 200, events.Command{Type: events.CmdJoin})
	eventually(t, "old room replaced", func() error {
		if n := h.node.Info().Load.Participants; n != 1 {
			return fmt.Errorf("%d participants on the node", n)
		}
		return nil
	})
}

func TestRedisAnswerToAnotherOfferIsIgnored(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.Command(ctx, events.Command{Type: events.CmdSubscribeAnswer, RequestID: "wrong", OfferID: "o999",
		SDP: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}); err != nil {
		t.Fatal(err)
	}
	for _, in := range sub.Ins() {
		if !flowing(in) {
			t.Fatalf("track %s stopped after an answer to another offer", in.ID)
		}
	}
	for _, e := range sub.Errors() {
		if e.ID == "wrong" {
			t.Fatalf("an answer to another offer was refused loudly: %+v", e)
		}
	}
	_ = pub
}

func TestRedisNodeThatStopsBeatingLosesItsRoomsToALiveOne(t *testing.T) {
	c := newCluster(t, 1)
	a1, a2 := c.participant(), c.participant()
	c.everyoneReceives(a1, a2)
	first := c.placement()
	c.addNode(events.NodeID("b-"+strings.ToLower(t.Name())), 2*time.Second)
	// The room's node is cut off from Redis (a stall, a partition): the
	// other node notices within about two seconds and moves the room.
	c.nodes[first.Node].CutOff(true)
	eventually(t, "room moved", func() error {
		if p := c.placement(); p.Node == first.Node || p.Epoch <= first.Epoch {
			return fmt.Errorf("room still on %s at %d", p.Node, p.Epoch)
		}
		return nil
	})
	for _, cl := range []*simpeer.Client{a1, a2} {
		eventually(t, "told to reconnect", func() error {
			if cl.Seen(events.TypeMediaReconnect) == 0 {
				return fmt.Errorf("%s got no media_reconnect", cl.ID)
			}
			return nil
		})
	}
	for _, cl := range []*simpeer.Client{a1, a2} {
		c.follow(cl)
	}
	c.everyoneReceives(a1, a2)
	// The cut-off node comes back, finds the room moved on and drops it:
	// one node serves the room.
	c.nodes[first.Node].CutOff(false)
	eventually(t, "old node dropped the room", func() error {
		if n := c.nodes[first.Node].Info().Load.Rooms; n != 0 {
			return fmt.Errorf("old node still serves %d rooms", n)
		}
		return nil
	})
	c.everyoneReceives(a1, a2)
}

func TestRedisDrainMovesRoomsAndStopsWhenTheyLeft(t *testing.T) {
	c := newCluster(t, 0)
	old := c.addNode(events.NodeID("a-"+strings.ToLower(t.Name())), 30*time.Second)
	a1, a2 := c.participant(), c.participant()
	c.everyoneReceives(a1, a2)
	first := c.placement()
	c.addNode(events.NodeID("b-"+strings.ToLower(t.Name())), 2*time.Second)
	start := time.Now()
	old.stop() // SIGTERM
	eventually(t, "room migrated", func() error {
		if p := c.placement(); p.Node == first.Node {
			return fmt.Errorf("room still on %s", p.Node)
		}
		return nil
	})
	for _, cl := range []*simpeer.Client{a1, a2} {
		eventually(t, "told to migrate", func() error {
			if cl.Seen(events.TypeMediaReconnect) == 0 {
				return fmt.Errorf("%s got no media_reconnect", cl.ID)
			}
			return nil
		})
		c.follow(cl) // closes the old session's connections
	}
	c.everyoneReceives(a1, a2)
	// Well before its 30 s drain timeout: as soon as its room is gone.
	select {
	case <-old.stopped:
	case <-time.After(20 * time.Second):
		t.Fatalf("drained node did not stop once its room left (%s)", time.Since(start))
	}
}

func TestRedisRoomLostFromRedisIsRebuiltByItsNode(t *testing.T) {
	c := newCluster(t, 1)
	a1, a2 := c.participant(), c.participant()
	c.everyoneReceives(a1, a2)
	before := c.placement()
	// The node learned the room's settings from the join commands; a ban
	// and a co-host come with room_meta.
	banned, cohost := events.NewParticipantID(), a2.ID
	ctx := context.Background()
	if err := c.bus.Send(ctx, before.Node, events.Command{Type: events.CmdRoomMeta, Room: c.room, Epoch: before.Epoch,
		Meta: &events.RoomMeta{Title: "cluster", Host: c.host, Locked: true, Cohosts: []events.ParticipantID{cohost},
			Banned: []events.ParticipantID{banned}, Seq: 100}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := c.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "room rebuilt", func() error {
		if p := c.placement(); !p.Exists || p.Node != before.Node || p.Epoch != before.Epoch {
			return fmt.Errorf("placement %+v, want %+v", p, before)
		}
		return nil
	})
	m, err := c.store.Meeting(ctx, c.room)
	if err != nil || m.Host != c.host || !m.Locked || m.Title != "cluster" {
		t.Fatalf("rebuilt meeting %+v (%v)", m, err)
	}
	if ok, _ := c.rdb.SIsMember(ctx, "room:{"+string(c.room)+"}:banned", string(banned)).Result(); !ok {
		t.Fatal("the ban did not outlive Redis")
	}
	if role, _ := c.rdb.HGet(ctx, "room:{"+string(c.room)+"}", "role:"+string(cohost)).Result(); role != "cohost" {
		t.Fatalf("co-host role after the rebuild: %q", role)
	}
	for _, cl := range []*simpeer.Client{a1, a2} {
		eventually(t, "asked to rejoin", func() error {
			if cl.Seen(events.TypeRejoin) == 0 {
				return fmt.Errorf("%s got no rejoin", cl.ID)
			}
			return nil
		})
	}
	c.everyoneReceives(a1, a2) // media never stopped
}

func TestRedisOutageStopsNoNodeAndMediaFlowsOn(t *testing.T) {
	c := newCluster(t, 2)
	a1, a2 := c.participant(), c.participant()
	c.everyoneReceives(a1, a2)
	before := c.placement()
	c.redis.Pause()
	time.Sleep(8 * time.Second)
	// Media never waits for Redis.
	c.everyoneReceives(a1, a2)
	c.redis.Resume()
	for id, n := range c.nodes {
		select {
		case <-n.stopped:
			t.Fatalf("node %s stopped during a Redis outage", id)
		default:
		}
	}
	// Nobody moved the room for the outage: every node was merely cut off.
	time.Sleep(3 * time.Second)
	if p := c.placement(); p.Node != before.Node || p.Epoch != before.Epoch {
		t.Fatalf("room moved after an outage: %+v, was %+v", p, before)
	}
	// Commands flow again: a newcomer joins and is seen.
	a3 := c.participant()
	c.everyoneReceives(a1, a2, a3)
}
