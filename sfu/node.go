// Package sfu is veet's media node: it terminates every participant's two
// PeerConnections (publish: the client offers; subscribe: the node offers),
// forwards each published track to everyone else in the room, and takes its
// orders from its command channel (events/bus). Results and media events go
// straight to the participant's WebSocket through events/push.
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
	heartbeatEvery = 2 * time.Second
	heartbeatTTL   = 6 * time.Second
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
	closed   chan struct{} // closed when Run returned
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
	if cfg.Log == nil {
		cfg.Log = slog.Default()
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
		closed:     make(chan struct{}),
	}, nil
}

// ID is the node's id.
func (n *Node) ID() events.NodeID { return n.cfg.NodeID }

// UDPAddr and TCPAddr are where the ICE sockets listen.
func (n *Node) UDPAddr() string { return n.media.udp.LocalAddr().String() }
func (n *Node) TCPAddr() string { return n.media.tcp.Addr().String() }

// Run registers the node, heartbeats and serves commands. When ctx ends it
// drains: it takes no new rooms and returns once its rooms are empty or the
// drain timeout passed, after closing what is left and deregistering.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.closed)
	defer n.media.close()
	if err := n.heartbeat(ctx); err != nil {
		return fmt.Errorf("sfu: register: %w", err)
	}
	n.log.Info("sfu node serving", "region", n.cfg.Region, "udp", n.UDPAddr(), "tcp", n.TCPAddr())

	// Commands keep flowing while draining: leaves and answers for the rooms
	// still here matter until the end.
	cmdCtx, stopCmds := context.WithCancel(context.WithoutCancel(ctx))
	consumed := make(chan error, 1)
	go func() { consumed <- n.bus.Consume(cmdCtx, n.cfg.NodeID, n.handle) }()

	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	var runErr error
serve:
	for {
		select {
		case <-ctx.Done():
			break serve
		case err := <-consumed:
			runErr = fmt.Errorf("sfu: command channel: %w", err)
			n.log.Error("command channel failed; stopping", "err", err)
			break serve
		case <-tick.C:
			n.beat(ctx)
		}
	}

	bg := context.WithoutCancel(ctx)
	if runErr == nil {
		n.drain(bg, tick.C)
	}
	stopCmds()
	if runErr == nil {
		<-consumed
	}
	// Deregister before telling anyone to reconnect: a client answers
	// media_reconnect by joining again, and that join moves the room to a
	// live node only once this one is gone from the registry.
	rctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if err := n.state.RemoveNode(rctx, n.cfg.NodeID); err != nil {
		n.log.Warn("deregister failed", "err", err)
	}
	n.closeAll(bg, "node stopping")
	n.log.Info("sfu node stopped")
	return runErr
}

// drain marks the node draining and waits for its rooms to empty.
func (n *Node) drain(ctx context.Context, tick <-chan time.Time) {
	n.mu.Lock()
	n.draining = true
	rooms := len(n.rooms)
	n.mu.Unlock()
	n.log.Info("sfu node draining", "rooms", rooms, "timeout", n.cfg.DrainTimeout.String())
	deadline := time.NewTimer(n.cfg.DrainTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	n.beat(ctx)
	for {
		select {
		case <-deadline.C:
			n.log.Warn("drain timeout; closing remaining rooms", "rooms", n.roomCount())
			return
		case <-tick:
			n.beat(ctx)
		case <-poll.C:
			if n.roomCount() == 0 {
				return
			}
		}
	}
}

func (n *Node) roomCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.rooms)
}

// beat heartbeats, logging a failure: a node that misses beats for
// heartbeatTTL looks dead and its rooms are moved elsewhere.
func (n *Node) beat(ctx context.Context) {
	if err := n.heartbeat(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("heartbeat failed", "err", err)
	}
}

// heartbeat writes the node's registry entry with its current load.
func (n *Node) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info := n.Info()
	return n.state.Heartbeat(ctx, info, heartbeatTTL)
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

// closeAll closes every room, telling whoever is still there to reconnect
// their media (their room is re-placed on another node). Rooms close side by
// side so a stopping node is done in about a second, however many it had.
func (n *Node) closeAll(ctx context.Context, reason string) {
	n.mu.Lock()
	rooms := n.rooms
	n.rooms = map[events.RoomCode]*room{}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rooms {
		wg.Go(func() { r.close(ctx, reason) })
	}
	wg.Wait()
}
