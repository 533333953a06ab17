package state

import (
	"context"
	"fmt"
	"time"
)

// SweepGrace is how long a live node must have been heartbeating without a
// break before the scheduled sweep takes the registry's word that the nodes
// missing from it are dead. The sweep runs once a minute, long after the
// nodes' own watchers (seconds) should have acted: it is the backstop for a
// region whose every watcher is gone or cut off.
const SweepGrace = 10 * time.Second

// Sweep re-places the rooms of every node of region whose heartbeat expired
// (or that left with RemoveNode while hosting rooms) onto the least-loaded
// live nodes, as the nodes' watchers do. It does nothing unless some live
// node has been beating for SweepGrace: right after a Redis outage every
// entry has expired, and the nodes are merely reconnecting.
func (s *Store) Sweep(ctx context.Context, region string) ([]Moved, error) {
	alive, missing, err := s.Registry(ctx, region)
	if err != nil {
		return nil, fmt.Errorf("state: sweep %s: %w", region, err)
	}
	judged := false
	for _, n := range alive {
		judged = judged || Judge(n, time.Now(), SweepGrace)
	}
	if !judged {
		return nil, nil
	}
	var out []Moved
	for _, id := range missing {
		moved, err := s.Failover(ctx, region, id)
		out = append(out, moved...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
