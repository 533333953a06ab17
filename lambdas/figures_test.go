package lambdas

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

// TestRedisHandlersFigures logs what a join and an update cost in Redis
// commands and wall time on loopback. Figures, not assertions: performance is
// measured, never asserted by a timed test.
func TestRedisHandlersFigures(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	ctx := context.Background()
	commands := func() int64 {
		info := e.st.Redis().Info(ctx, "stats").Val()
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	var trips atomic.Int64
	e.st.Redis().AddHook(tripCounter{&trips})
	const n = 50
	conns := make([]events.ConnectionID, n)
	for i := range conns {
		conns[i] = events.ConnectionID(fmt.Sprint("c-", i))
		e.connect(conns[i], "")
	}
	before, t0 := commands(), trips.Load()
	start := time.Now()
	for i := range n {
		_, tok := e.participantToken(code)
		e.send(conns[i], map[string]any{"action": "join", "id": "j", "code": code, "name": "P", "token": tok})
	}
	joinTime := time.Since(start) / n
	joinCmds := float64(commands()-before-1) / n // minus one INFO
	joinTrips := float64(trips.Load()-t0-1) / n
	before, t0 = commands(), trips.Load()
	start = time.Now()
	for i := range n {
		e.send(conns[i], map[string]any{"action": "update", "id": "u", "handRaised": true})
	}
	updTime := time.Since(start) / n
	updCmds := float64(commands()-before-1) / n
	updTrips := float64(trips.Load()-t0-1) / n
	t.Logf("join: %.1f Redis round trips, %.1f Redis commands (counting those inside scripts), %v per join (room growing to %d, in-memory pusher)", joinTrips, joinCmds, joinTime, n+1)
	t.Logf("update: %.1f Redis round trips, %.1f Redis commands, %v per update (broadcast to %d)", updTrips, updCmds, updTime, n+1)
}

// tripCounter counts round trips to Redis (a pipeline is one).
type tripCounter struct{ n *atomic.Int64 }

func (c tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}
