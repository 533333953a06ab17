package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

// Heartbeat records n in the registry for ttl. A serving node is (re)entered
// in its region's placement index with its load score; a draining node is
// taken out of it so that it gets no new rooms while its entry still says it
// is alive.
func (s *Store) Heartbeat(ctx context.Context, n events.NodeInfo, ttl time.Duration) error {
	if n.ID == "" || n.Region == "" {
		return errors.New("state: heartbeat needs a node id and a region")
	}
	if n.UpdatedAt == 0 {
		n.UpdatedAt = time.Now().UnixMilli()
	}
	if n.State == "" {
		n.State = events.NodeServing
	}
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	// Two keys in two slots: a pipeline, not a transaction. The entry is
	// written first, so an index member never points at nothing for long.
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, nodeKey(n.ID), data, ttl)
		p.SAdd(ctx, knownKey(n.Region), string(n.ID))
		if n.State == events.NodeServing {
			p.ZAdd(ctx, nodesKey(n.Region), redis.Z{Score: n.Load.Score(), Member: string(n.ID)})
		} else {
			p.ZRem(ctx, nodesKey(n.Region), string(n.ID))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: heartbeat %s: %w", n.ID, err)
	}
	return nil
}

// RemoveNode deletes a node's registry entry and index membership (a node
// that stops cleanly). Its rooms are then re-placed by their next join or by
// the sweeper.
func (s *Store) RemoveNode(ctx context.Context, id events.NodeID) error {
	n, err := s.Node(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, nodeKey(id))
		if n != nil {
			p.ZRem(ctx, nodesKey(n.Region), string(id))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: remove node %s: %w", id, err)
	}
	return nil
}

// Node returns the node's registry entry, or nil when it has none (never
// registered, or its heartbeat expired).
func (s *Store) Node(ctx context.Context, id events.NodeID) (*events.NodeInfo, error) {
	data, err := s.rdb.Get(ctx, nodeKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: node %s: %w", id, err)
	}
	var n events.NodeInfo
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("state: node %s: %w", id, err)
	}
	return &n, nil
}

// nodeAlive reports whether id has a live entry; a draining node still is
// alive (it keeps its rooms until they migrate) but takes no new ones.
func (s *Store) nodeAlive(ctx context.Context, id events.NodeID) (bool, error) {
	if id == "" {
		return false, nil
	}
	n, err := s.Node(ctx, id)
	return n != nil, err
}

// pickNode returns the least-loaded live serving node of region, or "" when
// there is none. Index members whose entry expired are pruned on the way.
func (s *Store) pickNode(ctx context.Context, region string) (events.NodeID, error) {
	ids, err := s.rdb.ZRange(ctx, nodesKey(region), 0, 15).Result()
	if err != nil {
		return "", fmt.Errorf("state: nodes of %s: %w", region, err)
	}
	for _, id := range ids {
		n, err := s.Node(ctx, events.NodeID(id))
		if err != nil {
			return "", err
		}
		if n == nil {
			s.rdb.ZRem(ctx, nodesKey(region), id)
			continue
		}
		if n.State != events.NodeServing {
			continue
		}
		return n.ID, nil
	}
	return "", nil
}

// chargeNode raises a node's score by one participant until its next
// heartbeat reports the real load, so that a burst of new rooms between two
// heartbeats spreads over the nodes instead of piling on one.
func (s *Store) chargeNode(ctx context.Context, region string, id events.NodeID) {
	// XX: never re-add a node that was pruned or left meanwhile.
	s.rdb.ZAddArgsIncr(ctx, nodesKey(region), redis.ZAddArgs{XX: true, Members: []redis.Z{{Score: 1, Member: string(id)}}})
}
