// Package state is veet's shared state in Redis: meetings, their participants
// and lobby, connections, per-connection rate limits and the SFU node
// registry. Every transition that reads and then writes is one Lua script over
// the keys of one room (see keys.go), so concurrent Lambdas never see or make
// half a change.
package state

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

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

// Unavailable reports whether err means Redis could not be reached (refused,
// timed out, the connection dropped, still loading its data) rather than an
// answer: the caller should say "unavailable, retry", not "internal".
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "LOADING")
}
