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
	cancel context.CancelFunc
	done   []chan error
}

// startNodes starts n SFU nodes on loopback, each with its own ICE UDP and
// TCP ports, and waits until every one is in the registry (so the first
// join finds a node).
func startNodes(ctx context.Context, n int, rdb redis.UniversalClient, p push.Pusher, drain time.Duration, log *slog.Logger) (*nodeSet, error) {
	runCtx, cancel := context.WithCancel(context.Background())
	ns := &nodeSet{cancel: cancel}
	for i := range n {
		node, err := sfu.New(sfu.Config{
			NodeID:       events.NodeID(fmt.Sprintf("local-%d", i+1)),
			Region:       Region,
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
		done := make(chan error, 1)
		ns.nodes = append(ns.nodes, node)
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

// Nodes are the stack's SFU nodes.
func (s *Stack) Nodes() []*sfu.Node {
	if s.nodes == nil {
		return nil
	}
	return s.nodes.nodes
}

// stop ends every node's Run (they drain and deregister) and waits.
func (ns *nodeSet) stop() error {
	ns.cancel()
	var errs []error
	for i, done := range ns.done {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("sfu node %s: %w", ns.nodes[i].ID(), err))
			}
		case <-time.After(30 * time.Second):
			errs = append(errs, fmt.Errorf("sfu node %s did not stop", ns.nodes[i].ID()))
		}
	}
	return errors.Join(errs...)
}
