// Package sfu is veet's media node: it terminates every participant's two
// PeerConnections (publish: the client offers; subscribe: the node offers),
// forwards each published track to everyone else in the room, and takes its
// orders from its command channel (events/bus). Results and media events go
// straight to the participant's WebSocket through events/push.
//
// A node also keeps its region's meetings alive: it heartbeats, watches its
// peers' heartbeats and moves the rooms of a node that stopped (watch.go),
// checks that it still owns each room it serves and drops those that moved
// on (fencing), rebuilds a room Redis lost, and on SIGTERM moves its rooms
// to other nodes before it stops (drain.go).
package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
)

const (
	// DefaultHeartbeat and DefaultHeartbeatTTL: a node beats three times a
	// second and is taken for dead 1.2 s after its last beat, so its rooms
	// move within about 1.5 s of a crash. Four beats fit in a TTL: a node
	// must miss three in a row (a stall of a second) to be declared dead.
	DefaultHeartbeat    = 300 * time.Millisecond
	DefaultHeartbeatTTL = 1200 * time.Millisecond
	// offerRetry is how long a subscribe offer may go unanswered before it
	// is sent again.
	offerRetry = 5 * time.Second
)

// Config is a node's configuration.
type Config struct {
	NodeID events.NodeID
	Region string
	Redis  redis.UniversalClient
	Push   push.Pusher
	Log    *slog.Logger
	// PublicIPs are advertised as the host candidates (NAT 1:1); empty =
	// the interface addresses.
	PublicIPs []string
	// UDPPort and TCPPort are the ICE UDP mux and ICE-TCP ports; 0 = pick a
	// free port.
	UDPPort, TCPPort int
	DrainTimeout     time.Duration
	// ListenIP is where the ICE sockets listen; "" = every interface, or
	// 127.0.0.1 when every PublicIP is a loopback address (local runs and
	// tests then gather nothing else). Added after the first contract.
	ListenIP string
	// Heartbeat and HeartbeatTTL: how often the node writes its registry
	// entry and how long the entry lives; 0 = the defaults.
	Heartbeat, HeartbeatTTL time.Duration
	// LastN bounds how many videos one subscriber receives; 0 =
	// DefaultLastN.
	LastN int
}

// Node is one SFU node.
type Node struct {
	cfg   Config
	log   *slog.Logger
	media *media
	bus   *bus.Bus
	state *state.Store
	load  *loadMeter
	// offerRetry is the package's, shortened by tests.
	offerRetry time.Duration

	// cmdLagMs is the longest command lag (ms) since TakeCommandLag.
	cmdLagMs atomic.Int64

	mu       sync.Mutex
	rooms    map[events.RoomCode]*room
	draining bool
	// failing is the dead nodes whose rooms this node is moving now.
	failing map[events.NodeID]bool
	// healthySince is when the current unbroken run of heartbeats began,
	// zero while they fail; lastBeat is the last that went through.
	healthySince, lastBeat time.Time
	closed                 chan struct{} // closed when Run returned

	pushErrors atomic.Int32 // pushes failed in a row (not 410)
	// cutOff makes heartbeats fail as if Redis were out of the node's
	// reach (tests partition a node with it).
	cutOff atomic.Bool
}

// New opens the node's ICE ports; Run starts serving.
func New(cfg Config) (*Node, error) {
	if cfg.Redis == nil || cfg.Push == nil {
		return nil, errors.New("sfu: Redis and Push are required")
	}
	if cfg.NodeID == "" {
		h, _ := os.Hostname()
		cfg.NodeID = events.NodeID(h)
	}
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 100 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.HeartbeatTTL <= 0 {
		cfg.HeartbeatTTL = DefaultHeartbeatTTL
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.LastN <= 0 {
		cfg.LastN = DefaultLastN
	}
	m, err := newMedia(cfg)
	if err != nil {
		return nil, err
	}
	return &Node{
		cfg:        cfg,
		log:        cfg.Log.With("node", cfg.NodeID),
		media:      m,
		bus:        bus.New(cfg.Redis, cfg.Log),
		state:      state.New(cfg.Redis),
		load:       newLoadMeter(),
		offerRetry: offerRetry,
		rooms:      map[events.RoomCode]*room{},
		failing:    map[events.NodeID]bool{},
		closed:     make(chan struct{}),
	}, nil
}

// ID is the node's id.
func (n *Node) ID() events.NodeID { return n.cfg.NodeID }

// UDPAddr and TCPAddr are where the ICE sockets listen.
func (n *Node) UDPAddr() string { return n.media.udp.LocalAddr().String() }
func (n *Node) TCPAddr() string { return n.media.tcp.Addr().String() }

// Run registers the node, heartbeats, watches its peers and serves commands.
// Redis being unreachable, for however long, never stops it: media keeps
// flowing and the node catches up when Redis returns. When ctx ends it
// drains: it moves its rooms to other nodes and returns once they are gone
// (or the drain timeout passed), after closing what is left and
// deregistering.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.closed)
	defer n.media.close()
	for n.beat(ctx) != nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("sfu: never registered: %w", ctx.Err())
		case <-time.After(n.cfg.Heartbeat):
		}
	}
	n.log.Info("sfu node serving", "region", n.cfg.Region, "udp", n.UDPAddr(), "tcp", n.TCPAddr())
	// Rooms a previous life of this node served are nobody's now.
	go n.failover(context.WithoutCancel(ctx), n.cfg.NodeID)

	// Commands keep flowing while draining: leaves and answers for the rooms
	// still here matter until the end.
	cmdCtx, stopCmds := context.WithCancel(context.WithoutCancel(ctx))
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		n.bus.Consume(cmdCtx, n.cfg.NodeID, n.handle)
	}()

	tick := time.NewTicker(n.cfg.Heartbeat)
	defer tick.Stop()
	lastCheck := time.Now()
	wasHealthy := true
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			healthy := n.beat(ctx) == nil
			if healthy {
				n.watch(ctx)
			}
			// Ownership is checked every second, and at once when the node
			// comes back from a lapse (a stall, a partition, a Redis outage):
			// its rooms may have moved while it could not see.
			if healthy && (!wasHealthy || time.Since(lastCheck) >= time.Second) {
				n.checkOwnership(ctx)
				lastCheck = time.Now()
			}
			wasHealthy = healthy
		}
	}

	bg := context.WithoutCancel(ctx)
	n.drain(bg, tick.C)
	stopCmds()
	<-consumed
	// Deregister before telling anyone to reconnect: a client answers
	// media_reconnect by joining again, and that join moves the room to a
	// live node only once this one is gone from the registry.
	rctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if err := n.state.RemoveNode(rctx, n.cfg.NodeID); err != nil {
		n.log.Warn("deregister failed", "err", err)
	}
	n.closeAll(bg, &events.MediaReconnect{Reason: "node stopping"})
	n.log.Info("sfu node stopped")
	return nil
}

var errCutOff = errors.New("sfu: cut off from Redis")

// beat heartbeats and keeps track of the node's health: an unbroken run of
// beats, each within a TTL of the last, is what lets the node judge others.
// A stall longer than the TTL (SIGSTOP, a long GC, a partition) breaks the
// run as a failed beat does: the node may have been declared dead meanwhile.
func (n *Node) beat(ctx context.Context) error {
	now := time.Now()
	n.mu.Lock()
	since := n.healthySince
	if since.IsZero() || now.Sub(n.lastBeat) > n.cfg.HeartbeatTTL {
		if !since.IsZero() {
			n.log.Warn("heartbeat late: the node stalled past its TTL and may have been taken for dead",
				"late", now.Sub(n.lastBeat).Round(time.Millisecond).String())
		}
		since = now
	}
	n.mu.Unlock()
	info := n.Info()
	info.HealthySince = since.UnixMilli()
	bctx, cancel := context.WithTimeout(ctx, n.cfg.HeartbeatTTL)
	err := errCutOff
	if !n.cutOff.Load() {
		err = n.state.Heartbeat(bctx, info, n.cfg.HeartbeatTTL)
	}
	cancel()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		if !n.healthySince.IsZero() && ctx.Err() == nil {
			n.log.Warn("heartbeat failed; media keeps flowing, commands wait for Redis", "err", err)
		}
		n.healthySince = time.Time{}
		return err
	}
	if n.healthySince.IsZero() && !n.lastBeat.IsZero() {
		n.log.Info("heartbeat back", "after", now.Sub(n.lastBeat).Round(time.Millisecond).String())
	}
	n.healthySince, n.lastBeat = since, now
	return nil
}

// judge reports whether the node may declare others dead now.
func (n *Node) judge(now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.healthySince.IsZero() && now.Sub(n.healthySince) > 2*n.cfg.HeartbeatTTL
}

// Info is the node's registry entry as of now.
func (n *Node) Info() events.NodeInfo {
	n.mu.Lock()
	st := events.NodeServing
	if n.draining {
		st = events.NodeDraining
	}
	rooms := make([]*room, 0, len(n.rooms))
	for _, r := range n.rooms {
		rooms = append(rooms, r)
	}
	n.mu.Unlock()
	var l events.NodeLoad
	var out uint64
	l.Rooms = len(rooms)
	for _, r := range rooms {
		p, t, b := r.counts()
		l.Participants += p
		l.Tracks += t
		out += b
	}
	l.BitrateBps, l.CPU = n.load.sample(out)
	l.CommandLagMs = n.cmdLagMs.Load()
	return events.NodeInfo{ID: n.cfg.NodeID, Region: n.cfg.Region, State: st, Load: l, UpdatedAt: time.Now().UnixMilli()}
}

// noteCommandLag keeps the longest time a command waited to be handled.
func (n *Node) noteCommandLag(d time.Duration) {
	for ms, cur := d.Milliseconds(), n.cmdLagMs.Load(); ms > cur && !n.cmdLagMs.CompareAndSwap(cur, ms); cur = n.cmdLagMs.Load() {
	}
}

// TakeCommandLag returns the longest command lag (ms) since its last call
// and starts over: the metrics publisher's sample.
func (n *Node) TakeCommandLag() int64 { return n.cmdLagMs.Swap(0) }

// pushWorked and pushFailed track whether the node can reach clients at all:
// a node whose every push fails (no credentials, no route to API Gateway)
// says so on /healthz instead of taking rooms it cannot serve.
func (n *Node) pushWorked() { n.pushErrors.Store(0) }
func (n *Node) pushFailed() { n.pushErrors.Add(1) }

// pushBroken reports whether the last pushes all failed.
func (n *Node) pushBroken() bool { return n.pushErrors.Load() >= 20 }

// closeAll closes every room, telling whoever is still there reconnect
// (their room is re-placed on another node). Rooms close side by side so a
// stopping node is done in about a second, however many it had.
func (n *Node) closeAll(ctx context.Context, reconnect *events.MediaReconnect) {
	n.mu.Lock()
	rooms := n.rooms
	n.rooms = map[events.RoomCode]*room{}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rooms {
		wg.Go(func() { r.close(ctx, reconnect) })
	}
	wg.Wait()
}

func (n *Node) roomList() []*room {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*room, 0, len(n.rooms))
	for _, r := range n.rooms {
		out = append(out, r)
	}
	return out
}

func (n *Node) roomCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.rooms)
}
