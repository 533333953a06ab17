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

// BenchmarkRedisHandlersJoinAndUpdate measures what a join and an update
// cost in Redis round trips, Redis commands (counting those inside scripts)
// and wall time on loopback, with an in-memory pusher: each iteration fills a
// fresh meeting with 50 participants, then each raises a hand (a change in
// the room's log and a wake-up for its node, which pushes everyone; the
// node's part is in the crowd benchmark). `make bench` prints it.
func BenchmarkRedisHandlersJoinAndUpdate(b *testing.B) {
	e := newEnv(b)
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
	var joins, updates struct {
		trips, cmds int64
		took        time.Duration
	}
	measure := func(into *struct {
		trips, cmds int64
		took        time.Duration
	}, run func()) {
		b.StartTimer()
		c0, t0, start := commands(), trips.Load(), time.Now()
		run()
		into.took += time.Since(start)
		into.cmds += commands() - c0 - 1 // minus one INFO
		into.trips += trips.Load() - t0 - 1
		b.StopTimer()
	}
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		code, _, _ := e.meeting(events.ConnectionID(fmt.Sprint("host-", i)))
		conns := make([]events.ConnectionID, n)
		toks := make([]string, n)
		for j := range conns {
			conns[j] = events.ConnectionID(fmt.Sprint("c-", i, "-", j))
			e.connect(conns[j], "")
			_, toks[j] = e.participantToken(code)
		}
		measure(&joins, func() {
			for j := range conns {
				e.send(conns[j], map[string]any{"action": "join", "id": "j", "code": code, "name": "P", "token": toks[j]})
			}
		})
		measure(&updates, func() {
			for j := range conns {
				e.send(conns[j], map[string]any{"action": "update", "id": "u", "handRaised": true})
			}
		})
	}
	per := float64(b.N * n)
	b.ReportMetric(float64(joins.trips)/per, "trips/join")
	b.ReportMetric(float64(joins.cmds)/per, "cmds/join")
	b.ReportMetric(float64(joins.took.Microseconds())/per, "µs/join")
	b.ReportMetric(float64(updates.trips)/per, "trips/update")
	b.ReportMetric(float64(updates.cmds)/per, "cmds/update")
	b.ReportMetric(float64(updates.took.Microseconds())/per, "µs/update")
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
