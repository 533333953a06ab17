package crowd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/peer"
)

// Scenario is one meeting: People join one every JoinEvery (the host
// first), then for Churn an action every ChurnEvery: a hand raised or
// lowered, a microphone turned on, a participant leaving and joining
// again, a host muting someone; it ends with a mute_all.
type Scenario struct {
	Name       string
	People     int
	JoinEvery  time.Duration
	Churn      time.Duration
	ChurnEvery time.Duration
}

// member is one participant's socket, for as long as it is in the meeting.
type member struct {
	p       *peer.Peer
	tok     string
	joinSeq uint64 // the seq of the room its joined showed

	mu         sync.Mutex
	id         events.ParticipantID
	seen       map[uint64]int // presence changes received, by seq
	updateSent time.Time      // an update of its own not seen back yet
	micOn      bool
	hand       bool
	gone       bool
}

// tracker times every change from its first receipt to its last.
type tracker struct {
	mu          sync.Mutex
	first, last map[uint64]time.Time
	actionAt    map[uint64]time.Time // when the change was asked for
	msgs        atomic.Int64
	presence    atomic.Int64
	bytes       atomic.Int64
	largest     atomic.Int64
}

func (t *tracker) received(seq uint64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.first[seq]; !ok {
		t.first[seq] = at
	}
	if at.After(t.last[seq]) {
		t.last[seq] = at
	}
}

func (t *tracker) asked(seq uint64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.actionAt[seq]; !ok {
		t.actionAt[seq] = at
	}
}

// Result is what a run measured.
type Result struct {
	Scenario
	Load                string
	Joins               int
	JoinP50, JoinP99    time.Duration
	JoinFailed          int
	WaveSpread, Spread  [2]time.Duration // fan-out first → last client, p50/p99: wave, churn
	WaveReach, Reach    [2]time.Duration // asked → last client, p50/p99
	UpdateAck           [2]time.Duration // update round trip (ack), p50/p95
	Changes             int
	Lost, Dups, Resyncs int
	ViewsWrong          int
	Largest             int64
	Messages, Presence  int64
	PerClientMsgsPerSec float64
	CmdsPerJoin         float64
	WaveCPU, ChurnCPU   float64 // % of one core, veet-local + redis-server
	StackRSS, RedisRSS  float64 // MB, peak
	CommandLag          int64
	HeartbeatLapses     int
	Expired, Oversize   int
	Duration            time.Duration
}

// Run runs the scenario against st.
func Run(tb testing.TB, st *Stack, sc Scenario) Result {
	tb.Helper()
	start := time.Now()
	res := Result{Scenario: sc, Load: loadavg()}
	tr := &tracker{first: map[uint64]time.Time{}, last: map[uint64]time.Time{}, actionAt: map[uint64]time.Time{}}
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	code, hostTok, err := peer.Create(cctx, st.WSURL, sc.Name)
	cancel()
	if err != nil {
		tb.Fatalf("create: %v", err)
	}

	// RSS is sampled while it runs; its peak is what a deployment sizes for.
	stopSampling := make(chan struct{})
	var sampled sync.WaitGroup
	sampled.Go(func() {
		for t := time.NewTicker(500 * time.Millisecond); ; {
			u := st.Usage()
			res.StackRSS, res.RedisRSS = max(res.StackRSS, u.StackRSS), max(res.RedisRSS, u.RedisRSS)
			select {
			case <-stopSampling:
				t.Stop()
				return
			case <-t.C:
			}
		}
	})

	var mu sync.Mutex
	var present, all []*member
	var joinTimes []time.Duration
	join := func(tok string) (*member, error) {
		m := &member{tok: tok, seen: map[uint64]int{}}
		opt := peer.Options{URL: st.WSURL, Code: code, Name: fmt.Sprintf("person %d", len(all)), Token: tok,
			OnMessage: func(typ events.EventType, size int) {
				tr.msgs.Add(1)
				tr.bytes.Add(int64(size))
				if typ == events.TypePresence {
					tr.presence.Add(1)
				}
				for l := tr.largest.Load(); int64(size) > l && !tr.largest.CompareAndSwap(l, int64(size)); l = tr.largest.Load() {
				}
			},
			OnChange: func(typ events.EventType, seq uint64, about events.ParticipantID) {
				if seq == 0 {
					return
				}
				now := time.Now()
				tr.received(seq, now)
				m.mu.Lock()
				m.seen[seq]++
				if about == m.id && typ == events.TypeParticipantUpdated && !m.updateSent.IsZero() {
					tr.asked(seq, m.updateSent)
					m.updateSent = time.Time{}
				}
				m.mu.Unlock()
			}}
		t0 := time.Now()
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		p, err := peer.Join(jctx, opt)
		if err != nil {
			return nil, err
		}
		for !p.Presence().Started {
			if jctx.Err() != nil {
				p.Close()
				return nil, fmt.Errorf("the room never came whole")
			}
			time.Sleep(2 * time.Millisecond)
		}
		took := time.Since(t0)
		m.p, m.joinSeq = p, p.Presence().SnapshotSeq
		m.mu.Lock()
		m.id = p.ID()
		m.mu.Unlock()
		tr.asked(m.joinSeq, t0) // the join's own change is the room's seq it shows
		mu.Lock()
		present, all = append(present, m), append(all, m)
		joinTimes = append(joinTimes, took)
		mu.Unlock()
		return m, nil
	}
	host, err := join(hostTok)
	if err != nil {
		tb.Fatalf("host join: %v", err)
	}

	// The wave: one join every JoinEvery, each on its own.
	u0, waveStart := st.Usage(), time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int32
	tick := time.NewTicker(sc.JoinEvery)
	for range sc.People - 1 {
		<-tick.C
		wg.Go(func() {
			if _, err := join(st.Token(tb, code, events.RoleParticipant)); err != nil {
				failed.Add(1)
				tb.Logf("join: %v", err)
			}
		})
	}
	tick.Stop()
	wg.Wait()
	u1 := st.Usage()
	waveEnd := lastSeq(all)
	res.CmdsPerJoin = float64(u1.RedisCmds-u0.RedisCmds) / float64(max(1, sc.People-1))
	res.WaveCPU = 100 * (u1.CPU - u0.CPU).Seconds() / time.Since(waveStart).Seconds()

	// The churn: an action every ChurnEvery, each on its own.
	var acks []time.Duration
	pick := func(ok func(*member) bool) *member {
		mu.Lock()
		defer mu.Unlock()
		for range 20 {
			m := present[1+rand.IntN(len(present)-1)]
			m.mu.Lock()
			fine := !m.gone && ok(m)
			m.mu.Unlock()
			if fine {
				return m
			}
		}
		return nil
	}
	request := func(m *member, action string, fields map[string]any) (time.Duration, bool) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		t0 := time.Now()
		meta, _, err := m.p.Request(rctx, action, fields)
		return time.Since(t0), err == nil && meta.Type != events.TypeError
	}
	churnStart := time.Now()
	tick = time.NewTicker(sc.ChurnEvery)
	for time.Since(churnStart) < sc.Churn {
		<-tick.C
		switch r := rand.IntN(10); {
		case r < 5: // a hand up or down: always a change
			if m := pick(func(m *member) bool { return m.updateSent.IsZero() }); m != nil {
				wg.Go(func() {
					m.mu.Lock()
					m.updateSent, m.hand = time.Now(), !m.hand
					hand := m.hand
					m.mu.Unlock()
					d, ok := request(m, "update", map[string]any{"handRaised": hand})
					if ok {
						mu.Lock()
						acks = append(acks, d)
						mu.Unlock()
					}
				})
			}
		case r < 7: // a microphone on, for a host to mute
			if m := pick(func(m *member) bool { return !m.micOn }); m != nil {
				wg.Go(func() {
					if _, ok := request(m, "update", map[string]any{"micOn": true}); ok {
						m.mu.Lock()
						m.micOn = true
						m.mu.Unlock()
					}
				})
			}
		case r < 8: // a host mutes someone
			if m := pick(func(m *member) bool { return m.micOn }); m != nil {
				wg.Go(func() {
					request(host, "mute", map[string]any{"participantId": m.p.ID(), "source": "microphone"})
					m.mu.Lock()
					m.micOn = false
					m.mu.Unlock()
				})
			}
		default: // someone leaves and comes back on a new socket
			if m := pick(func(*member) bool { return true }); m != nil {
				m.mu.Lock()
				m.gone = true
				m.mu.Unlock()
				wg.Go(func() {
					request(m, "leave", nil)
					m.p.Close()
					mu.Lock()
					present = slices.DeleteFunc(present, func(x *member) bool { return x == m })
					mu.Unlock()
					if _, err := join(m.p.Token()); err != nil {
						failed.Add(1)
						tb.Logf("rejoin: %v", err)
					}
				})
			}
		}
	}
	tick.Stop()
	wg.Wait()
	request(host, "mute_all", nil)
	u2 := st.Usage()
	res.ChurnCPU = 100 * (u2.CPU - u1.CPU).Seconds() / time.Since(churnStart).Seconds()
	res.CommandLag = u2.CommandLag
	if u2.HealthySince != u0.HealthySince {
		res.HeartbeatLapses++
	}
	res.HeartbeatLapses += st.LogCount("heartbeat late") + st.LogCount("heartbeat failed")
	res.JoinFailed = int(failed.Load())

	// Everyone still in ends with the same room, having got every change
	// since their join exactly once.
	final, reference := referenceView(tb, host)
	deadline := time.Now().Add(15 * time.Second)
	for _, m := range present {
		for m.p.Presence().Seq < final && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		pr := m.p.Presence()
		if !slices.Equal(pr.Participants, reference) {
			res.ViewsWrong++
		}
		res.Resyncs += pr.Gaps
		m.mu.Lock()
		for seq := m.joinSeq + 1; seq <= final; seq++ {
			switch n := m.seen[seq]; {
			case n == 0 && pr.SnapshotSeq < seq:
				res.Lost++
			case n > 1:
				res.Dups += n - 1
			}
		}
		m.mu.Unlock()
	}
	close(stopSampling)
	sampled.Wait()

	res.Changes = int(final)
	res.Joins = len(joinTimes)
	res.WaveSpread, res.WaveReach = tr.times(1, waveEnd)
	res.Spread, res.Reach = tr.times(waveEnd+1, final)
	slices.Sort(joinTimes)
	res.JoinP50, res.JoinP99 = pct(joinTimes, 50), pct(joinTimes, 99)
	slices.Sort(acks)
	res.UpdateAck = [2]time.Duration{pct(acks, 50), pct(acks, 95)}
	res.Largest, res.Messages, res.Presence = tr.largest.Load(), tr.msgs.Load(), tr.presence.Load()
	res.Duration = time.Since(start)
	res.PerClientMsgsPerSec = float64(res.Presence) / float64(sc.People) / res.Duration.Seconds()
	res.Expired = st.LogCount("media request expired")
	res.Oversize = st.LogCount("over 128 KB") + st.LogCount("PayloadTooLarge")
	for _, m := range present {
		m.p.Close()
	}
	return res
}

// referenceView is the room as the host's snapshot has it now.
func referenceView(tb testing.TB, host *member) (uint64, []events.ParticipantID) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	meta, _, err := host.p.Request(ctx, "resync", nil)
	if err != nil || meta.Type != events.TypeSnapshot {
		tb.Fatalf("host resync: %+v %v", meta, err)
	}
	// Its pages may still be on the way.
	for host.p.Presence().SnapshotSeq < meta.Seq && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	pr := host.p.Presence()
	return pr.Seq, pr.Participants
}

// times is the fan-out of the changes from seq lo to hi: first to last
// receipt, and from being asked for to the last receipt (p50, p99 each).
func (t *tracker) times(lo, hi uint64) (spread, reach [2]time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s, r []time.Duration
	for seq := lo; seq <= hi; seq++ {
		first, ok := t.first[seq]
		if !ok {
			continue
		}
		s = append(s, t.last[seq].Sub(first))
		if at, ok := t.actionAt[seq]; ok {
			r = append(r, t.last[seq].Sub(at))
		}
	}
	slices.Sort(s)
	slices.Sort(r)
	return [2]time.Duration{pct(s, 50), pct(s, 99)}, [2]time.Duration{pct(r, 50), pct(r, 99)}
}

func lastSeq(ms []*member) uint64 {
	var n uint64
	for _, m := range ms {
		n = max(n, m.p.Presence().Seq)
	}
	return n
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, len(ds)*p/100)]
}

func loadavg() string {
	b, _ := readFile("/proc/loadavg")
	f := strings.Fields(b)
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Table renders results as the Markdown table docs/benchmarks.md keeps.
func Table(rs ...Result) string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }
	pair := func(d [2]time.Duration) string { return ms(d[0]) + " / " + ms(d[1]) }
	var b strings.Builder
	fmt.Fprintf(&b, "| figure |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %s |", r.Name)
	}
	b.WriteString("\n| --- |")
	for range rs {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	row := func(name string, f func(Result) string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, r := range rs {
			fmt.Fprintf(&b, " %s |", f(r))
		}
		b.WriteString("\n")
	}
	row("load average at the start", func(r Result) string { return r.Load })
	row("joins: wave + rejoins in the churn (failed)", func(r Result) string {
		return fmt.Sprintf("%d + %d (%d)", r.People, r.Joins-r.People, r.JoinFailed)
	})
	row("join p50 / p99 ms (the whole room in hand)", func(r Result) string { return ms(r.JoinP50) + " / " + ms(r.JoinP99) })
	row("wave: fan-out first → last client p50 / p99 ms", func(r Result) string { return pair(r.WaveSpread) })
	row("wave: join → last client p50 / p99 ms", func(r Result) string { return pair(r.WaveReach) })
	row("churn: fan-out first → last client p50 / p99 ms", func(r Result) string { return pair(r.Spread) })
	row("churn: update → last client p50 / p99 ms", func(r Result) string { return pair(r.Reach) })
	row("churn: update ack p50 / p95 ms", func(r Result) string { return pair(r.UpdateAck) })
	row("changes (seq at the end)", func(r Result) string { return fmt.Sprint(r.Changes) })
	row("lost / duplicated changes", func(r Result) string { return fmt.Sprintf("%d / %d", r.Lost, r.Dups) })
	row("gaps repaired by resync / views unlike the host's", func(r Result) string { return fmt.Sprintf("%d / %d", r.Resyncs, r.ViewsWrong) })
	row("largest message (bytes; limit 131,072)", func(r Result) string { return fmt.Sprint(r.Largest) })
	row("posts refused as oversized", func(r Result) string { return fmt.Sprint(r.Oversize) })
	row("messages to clients (presence batches)", func(r Result) string { return fmt.Sprintf("%d (%d)", r.Messages, r.Presence) })
	row("presence messages per client per second", func(r Result) string { return fmt.Sprintf("%.2f", r.PerClientMsgsPerSec) })
	row("Redis commands per join", func(r Result) string { return fmt.Sprintf("%.0f", r.CmdsPerJoin) })
	row("stack CPU, % of a core: wave / churn", func(r Result) string { return fmt.Sprintf("%.0f / %.0f", r.WaveCPU, r.ChurnCPU) })
	row("peak RSS MB: veet-local / redis-server", func(r Result) string { return fmt.Sprintf("%.0f / %.0f", r.StackRSS, r.RedisRSS) })
	row("node's longest command wait (ms) / commands expired", func(r Result) string { return fmt.Sprintf("%d / %d", r.CommandLag, r.Expired) })
	row("heartbeat lapses", func(r Result) string { return fmt.Sprint(r.HeartbeatLapses) })
	row("duration (s)", func(r Result) string { return fmt.Sprintf("%.0f", r.Duration.Seconds()) })
	return b.String()
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
