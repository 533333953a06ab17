// Package state is veet's shared state in Redis: meetings, their participants
// and lobby, connections, per-connection rate limits and the SFU node
// registry. Every transition that reads and then writes is one Lua script over
// the keys of one room (see keys.go), so concurrent Lambdas never see or make
// half a change.
package state

import (
	"github.com/redis/go-redis/v9"
)

// Store is the Redis state; it is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
}

// New returns a Store over rdb.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Redis returns the client, for packages that share it (the bus).
func (s *Store) Redis() redis.UniversalClient { return s.rdb }
