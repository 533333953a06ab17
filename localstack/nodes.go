package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/sfu"
)

// nodeSet is the stack's SFU nodes, each running until stop.
type nodeSet struct {
	nodes  []*sfu.Node
	cancel []context.CancelFunc // one per node, so a test can stop one
	done   []chan error
}

// startNodes starts n SFU nodes on loopback, each with its own ICE UDP and
// TCP ports, and waits until every one is in the registry (so the first
// join finds a node).
func startNodes(ctx context.Context, region string, n int, rdb redis.UniversalClient, p push.Pusher, drain time.Duration, log *slog.Logger) (*nodeSet, error) {
	ns := &nodeSet{}
	for i := range n {
		node, err := sfu.New(sfu.Config{
			NodeID:       events.NodeID(fmt.Sprintf("%s-%d", region, i+1)),
			Region:       region,
			Redis:        rdb,
			Push:         p,
			Log:          log,
			PublicIPs:    []string{"127.0.0.1"},
			DrainTimeout: drain,
		})
		if err != nil {
			_ = ns.stop()
			return nil, fmt.Errorf("localstack: sfu node %d: %w", i+1, err)
		}
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		ns.nodes = append(ns.nodes, node)
		ns.cancel = append(ns.cancel, cancel)
		ns.done = append(ns.done, done)
		go func() { done <- node.Run(runCtx) }()
	}
	st := state.New(rdb)
	for _, node := range ns.nodes {
		if err := waitRegistered(ctx, st, node.ID()); err != nil {
			_ = ns.stop()
			return nil, err
		}
	}
	return ns, nil
}

func waitRegistered(ctx context.Context, st *state.Store, id events.NodeID) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		info, err := st.Node(ctx, id)
		if err == nil && info != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localstack: sfu node %s did not register: %v", id, errors.Join(err, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Nodes are the stack's SFU nodes, of every region.
func (s *Stack) Nodes() []*sfu.Node {
	var out []*sfu.Node
	for _, r := range s.regions {
		if r.nodes != nil {
			out = append(out, r.nodes.nodes...)
		}
	}
	return out
}

// StopNode stops one SFU node the way SIGTERM stops a Fargate task: it
// drains (no new rooms; its rooms get up to the drain timeout), closes what
// is left and deregisters. It returns once the node's Run returned.
func (s *Stack) StopNode(id events.NodeID) error {
	for _, r := range s.regions {
		if r.nodes == nil {
			continue
		}
		for i, n := range r.nodes.nodes {
			if n.ID() == id {
				return r.nodes.stopOne(i)
			}
		}
	}
	return fmt.Errorf("localstack: no node %s", id)
}

// stop ends every node's Run (they drain and deregister, in parallel) and
// waits.
func (ns *nodeSet) stop() error {
	for _, cancel := range ns.cancel {
		cancel()
	}
	var errs []error
	for i := range ns.done {
		errs = append(errs, ns.stopOne(i))
	}
	return errors.Join(errs...)
}

// stopOne stops node i and waits for it; stopping a stopped node is a no-op.
func (ns *nodeSet) stopOne(i int) error {
	ns.cancel[i]()
	select {
	case err, ok := <-ns.done[i]:
		if !ok {
			return nil
		}
		close(ns.done[i])
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("sfu node %s: %w", ns.nodes[i].ID(), err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("sfu node %s did not stop", ns.nodes[i].ID())
	}
}
