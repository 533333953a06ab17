package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/veet-dev/veet/sfu/forward"
)

// The parent drives its node child over the child's stdin and stdout, one
// line each way: "metrics" (answered with a nodeMetrics line), "profile
// PATH" and "stop-profile" (CPU profile of the measured window only).

// nodeMetrics is a snapshot of the node process.
type nodeMetrics struct {
	CPU          time.Duration // user+system since start (getrusage)
	GCCycles     uint64
	AllocBytes   uint64
	AllocObjects uint64
	// Pauses is the stop-the-world pause histogram (GC): counts per bucket
	// and the bucket boundaries in seconds.
	Pauses  []uint64
	Buckets []float64
	// Delay is the fan-out delay histogram (forward.Delays): counts, and
	// upper bounds in ns.
	Delay       []uint64
	DelayBounds []int64
	// Stale is how many packets the node dropped for waiting too long
	// (forward.Stale).
	Stale uint64
}

var metricNames = []string{
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/allocs:bytes",
	"/gc/heap/allocs:objects",
	"/sched/pauses/total/gc:seconds",
}

func readNodeMetrics() nodeMetrics {
	s := make([]metrics.Sample, len(metricNames))
	for i, n := range metricNames {
		s[i].Name = n
	}
	metrics.Read(s)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	m := nodeMetrics{
		CPU:          time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		GCCycles:     s[0].Value.Uint64(),
		AllocBytes:   s[1].Value.Uint64(),
		AllocObjects: s[2].Value.Uint64(),
	}
	m.Stale = forward.Stale()
	d := forward.Delays()
	m.Delay = d.Counts
	for _, b := range d.Bounds {
		m.DelayBounds = append(m.DelayBounds, int64(b))
	}
	if h := s[3].Value.Float64Histogram(); h != nil {
		m.Pauses = h.Counts
		// JSON has no infinities; the outer bounds are ±Inf.
		for _, b := range h.Buckets {
			m.Buckets = append(m.Buckets, max(-math.MaxFloat64, min(b, math.MaxFloat64)))
		}
	}
	return m
}

// serveControl answers the parent until stdin closes.
func serveControl(in io.Reader, out io.Writer) {
	var mu sync.Mutex
	var prof *os.File
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		mu.Lock()
		switch cmd {
		case "metrics":
			if err := enc.Encode(readNodeMetrics()); err != nil {
				fmt.Fprintln(os.Stderr, "node: metrics:", err)
				fmt.Fprintln(out, "{}")
			}
		case "profile":
			if f, err := os.Create(arg); err == nil {
				if pprof.StartCPUProfile(f) == nil {
					prof = f
				} else {
					f.Close()
				}
			}
			fmt.Fprintln(out, "{}")
		case "allocs":
			// Allocation sites since the start, for `go tool pprof -sample_index=alloc_space`.
			if f, err := os.Create(arg); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			fmt.Fprintln(out, "{}")
		case "stop-profile":
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
				prof = nil
			}
			fmt.Fprintln(out, "{}")
		}
		mu.Unlock()
	}
}

// nodeControl is the parent's end.
type nodeControl struct {
	w  io.Writer
	r  *bufio.Reader
	mu sync.Mutex
}

func (c *nodeControl) ask(cmd string, v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintln(c.w, cmd); err != nil {
		return err
	}
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(line, v)
}

func (c *nodeControl) metrics() (nodeMetrics, error) {
	var m nodeMetrics
	err := c.ask("metrics", &m)
	return m, err
}

// window is what the node did between two snapshots.
type window struct {
	cpu           time.Duration
	gcs           uint64
	allocBytes    uint64
	allocObjects  uint64
	pauseP99      float64 // seconds: upper bound of the bucket holding the 99th percentile
	pauseMax      float64 // upper bound of the highest non-empty bucket
	pausesCounted uint64
	// delayP50 and delayP99 bound the fan-out delay of the copies sent.
	delayP50, delayP99 time.Duration
	stale              uint64 // publishers' packets the node dropped as stale
}

func diff(a, b nodeMetrics) window {
	w := window{cpu: b.CPU - a.CPU, gcs: b.GCCycles - a.GCCycles, allocBytes: b.AllocBytes - a.AllocBytes,
		allocObjects: b.AllocObjects - a.AllocObjects, stale: b.Stale - a.Stale}
	w.delayP50, w.delayP99 = histPct(a.Delay, b.Delay, b.DelayBounds, 0.5), histPct(a.Delay, b.Delay, b.DelayBounds, 0.99)
	if len(a.Pauses) != len(b.Pauses) || len(b.Buckets) != len(b.Pauses)+1 {
		return w
	}
	counts := make([]uint64, len(b.Pauses))
	var total uint64
	for i := range counts {
		counts[i] = b.Pauses[i] - a.Pauses[i]
		total += counts[i]
	}
	w.pausesCounted = total
	if total == 0 {
		return w
	}
	var seen uint64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		seen += c
		if w.pauseP99 == 0 && float64(seen) >= 0.99*float64(total) {
			w.pauseP99 = b.Buckets[i+1]
		}
		w.pauseMax = b.Buckets[i+1]
	}
	return w
}

// histPct is the upper bound of the bucket holding quantile q of what was
// counted between snapshots a and b.
func histPct(a, b []uint64, bounds []int64, q float64) time.Duration {
	if len(a) != len(b) || len(bounds) != len(b) {
		return 0
	}
	var total uint64
	for i := range b {
		total += b[i] - a[i]
	}
	var seen uint64
	for i := range b {
		seen += b[i] - a[i]
		if total > 0 && float64(seen) >= q*float64(total) {
			return time.Duration(bounds[i])
		}
	}
	return 0
}
