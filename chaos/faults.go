package chaos

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

// Result is what one fault cost.
type Result struct {
	Fault string
	// MediaBack is the longest silence any participant had of any other's
	// audio or video, from the fault until everyone received everyone.
	MediaBack time.Duration
	// Lost is how many participants never got everyone's media back.
	Lost int
	// PresenceLost is participants missing from (or extra in) someone's
	// view against a fresh snapshot at the end; Gaps the resyncs it took.
	PresenceLost, Gaps int
	// Back is the fault's own figure: signaling working again after Redis
	// returns, the meeting controllable after Redis was emptied, everyone
	// back after the stack restarted, the drained node gone.
	Back time.Duration
	// Problems are what went wrong beyond the figures (a node that exited,
	// a room served twice, …); empty when the fault was survived.
	Problems []string
}

func (r *Result) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Fault is one way a meeting's servers fail.
type Fault struct {
	Name string
	// Back names Result.Back for the table ("" = not measured).
	Back string
	Run  func(c *Cluster, m *Meeting, r *Result)
}

// RedisDown is how long the Redis outage lasts (make chaos: 120 s).
var RedisDown = 10 * time.Second

// Faults are the rows of the table, in order.
var Faults = []Fault{
	{Name: "kill -9 the hosting node", Run: killNode},
	{Name: "SIGTERM (drain) the hosting node", Back: "drained node gone", Run: drainNode},
	{Name: "SIGSTOP the hosting node 10 s", Back: "media back after SIGCONT", Run: stopNode},
	{Name: "Redis refusing connections", Back: "signaling back", Run: redisDown},
	{Name: "Redis restarted empty", Back: "controllable again", Run: redisEmptied},
	{Name: "veet-local killed and restarted", Back: "everyone back", Run: restartStack},
}

// Run sets up a cluster of three nodes and a meeting of four, injects the
// fault and measures what it cost.
func Run(t testing.TB, f Fault) Result {
	t.Helper()
	start := time.Now()
	c := NewCluster(t, 3)
	m := c.Meeting(4)
	t.Logf("%s: cluster and meeting up in %s", f.Name, time.Since(start).Round(time.Millisecond))
	r := Result{Fault: f.Name}
	start = time.Now()
	f.Run(c, m, &r)
	t.Logf("%s: fault run in %s", f.Name, time.Since(start).Round(time.Millisecond))
	if len(r.Problems) == 0 || r.Lost == 0 {
		var err error
		r.PresenceLost, r.Gaps, err = m.PresenceLost()
		if err != nil {
			r.problem("presence check: %v", err)
		}
	}
	for id, n := range c.nodes {
		if n.exited() && !n.expectedExit {
			r.problem("node %s exited: %v", id, n.err)
		}
	}
	if len(r.Problems) > 0 {
		t.Logf("%s: problems %v\n%s", f.Name, r.Problems, c.Logs())
	}
	return r
}

func (r *Result) recovered(m *Meeting, limit time.Duration) {
	worst, lost := m.Recover(limit)
	r.MediaBack, r.Lost = worst, len(lost)
	if len(lost) > 0 {
		r.problem("no media back for %v after %s", lost, limit)
	}
}

func killNode(c *Cluster, m *Meeting, r *Result) {
	node := c.Node(c.Placement(m.Code).Node)
	node.expectedExit = true
	t0 := time.Now()
	m.Mark(t0)
	node.signal(syscall.SIGKILL)
	r.recovered(m, 30*time.Second)
}

func drainNode(c *Cluster, m *Meeting, r *Result) {
	node := c.Node(c.Placement(m.Code).Node)
	node.expectedExit = true
	t0 := time.Now()
	m.Mark(t0)
	node.signal(syscall.SIGTERM)
	if !node.wait(40 * time.Second) {
		r.problem("drained node still running after 40 s")
	}
	r.Back = time.Since(t0)
	// Observe a little after the move: a gap right after the hand-over
	// counts too.
	time.Sleep(time.Second)
	r.recovered(m, 30*time.Second)
}

func stopNode(c *Cluster, m *Meeting, r *Result) {
	pl := c.Placement(m.Code)
	node := c.Node(pl.Node)
	t0 := time.Now()
	m.Mark(t0)
	node.signal(syscall.SIGSTOP)
	time.Sleep(10 * time.Second)
	// By now the other nodes moved the room and everyone followed.
	worst, lost := m.Recover(time.Second)
	r.MediaBack = worst
	if now := c.Placement(m.Code); now.Node == pl.Node {
		r.problem("room still placed on the stopped node")
	}
	t1 := time.Now()
	m.Mark(t1)
	node.signal(syscall.SIGCONT)
	time.Sleep(3 * time.Second)
	back, lost2 := m.Recover(20 * time.Second)
	r.Back = back
	r.Lost = len(union(lost, lost2))
	if len(lost2) > 0 {
		r.problem("no media back after SIGCONT for %v", lost2)
	}
	// One node serves the room: the one that woke dropped it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := node.Rooms()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.problem("the node that was stopped still serves %d rooms (%v)", n, err)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func redisDown(c *Cluster, m *Meeting, r *Result) {
	t0 := time.Now()
	m.Mark(t0)
	c.Proxy.Cut()
	time.Sleep(RedisDown)
	r.MediaBack = m.Worst(time.Now()) // media never waits for Redis
	if missing := m.notFlowing(time.Now()); len(missing) > 0 {
		r.problem("media stopped during the Redis outage: %v", missing)
	}
	c.Proxy.Restore(c.t)
	back, err := m.Until(20*time.Second, "update", map[string]any{"handRaised": true}, events.TypeAck)
	r.Back = back
	if err != nil {
		r.problem("signaling after Redis returned: %v", err)
	}
	_, lost := m.Recover(20 * time.Second)
	r.Lost = len(lost)
}

func redisEmptied(c *Cluster, m *Meeting, r *Result) {
	t0 := time.Now()
	m.Mark(t0)
	c.Redis.Stop()
	c.Redis.Start(c.t)
	// A host-only action that changes nothing when it works: unlocking an
	// unlocked meeting.
	back, err := m.Until(30*time.Second, "lock", map[string]any{"locked": false}, events.TypeAck)
	r.Back = back
	if err != nil {
		r.problem("host control after Redis lost its data: %v", err)
	}
	r.recovered(m, 20*time.Second)
	// Everyone is in the rebuilt meeting.
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		for _, p := range m.Peers {
			if len(p.Presence().Participants) != len(m.Peers) {
				ok = false
			}
		}
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func restartStack(c *Cluster, m *Meeting, r *Result) {
	t0 := time.Now()
	m.Mark(t0)
	before := make([]int, len(m.Peers))
	for i, p := range m.Peers {
		before[i] = p.Stats().Reconnects
	}
	c.RestartStack()
	// Everyone's socket dropped; each reconnects and rejoins with its token.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < len(m.Peers); {
		if m.Peers[i].Stats().Reconnects > before[i] {
			i++
			continue
		}
		if time.Now().After(deadline) {
			r.problem("%s never reconnected", m.Peers[i].ID())
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The host is host still: it may lock the meeting.
	_, err := m.Until(20*time.Second, "lock", map[string]any{"locked": false}, events.TypeAck)
	r.Back = time.Since(t0)
	if err != nil {
		r.problem("host after the restart: %v", err)
	}
	r.recovered(m, 20*time.Second)
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	for _, x := range append(a, b...) {
		seen[x] = true
	}
	out := make([]string, 0, len(seen))
	for x := range seen {
		out = append(out, x)
	}
	return out
}

// Table renders results as the markdown table docs/benchmarks.md keeps:
// median and worst of each figure over the runs of each fault.
func Table(results map[string][]Result) string {
	var b strings.Builder
	b.WriteString("| fault | runs | media back median / worst | own figure median / worst | participants lost | presence lost (resyncs) | problems |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, f := range Faults {
		rs := results[f.Name]
		if len(rs) == 0 {
			continue
		}
		var media, back []time.Duration
		lost, plost, gaps, probs := 0, 0, 0, 0
		for _, r := range rs {
			media = append(media, r.MediaBack)
			back = append(back, r.Back)
			lost += r.Lost
			plost += r.PresenceLost
			gaps += r.Gaps
			probs += len(r.Problems)
		}
		own := "—"
		if f.Back != "" {
			own = fmt.Sprintf("%s: %s / %s", f.Back, secs(median(back)), secs(worstOf(back)))
		}
		fmt.Fprintf(&b, "| %s | %d | %s / %s | %s | %d | %d (%d) | %d |\n", f.Name, len(rs),
			secs(median(media)), secs(worstOf(media)), own, lost, plost, gaps, probs)
	}
	return b.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func worstOf(ds []time.Duration) time.Duration {
	var w time.Duration
	for _, d := range ds {
		w = max(w, d)
	}
	return w
}
