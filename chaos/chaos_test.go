package chaos

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChaos is `make chaos`: every fault CHAOS_RUNS times (Redis down for
// CHAOS_REDIS_DOWN, 120 s by default), then the table of what they cost, for
// docs/benchmarks.md. Without CHAOS_RUNS it does nothing (TestFaults is the
// suite of `make test`).
func TestChaos(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("CHAOS_RUNS"))
	if runs <= 0 {
		t.Skip("set CHAOS_RUNS (make chaos)")
	}
	RedisDown = 120 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CHAOS_REDIS_DOWN")); err == nil {
		RedisDown = d
	}
	only := os.Getenv("CHAOS_FAULTS") // a comma-separated subset of names, optional
	results := map[string][]Result{}
	start := time.Now()
	for _, f := range Faults {
		if only != "" && !strings.Contains(only, f.Name) {
			continue
		}
		for i := range runs {
			t.Run(fmt.Sprintf("%s/%d", strings.ReplaceAll(f.Name, " ", "_"), i+1), func(t *testing.T) {
				r := Run(t, f)
				results[f.Name] = append(results[f.Name], r)
				t.Logf("media back %s, %s %s, lost %d, presence lost %d, problems %v",
					r.MediaBack.Round(time.Millisecond), f.Back, r.Back.Round(time.Millisecond), r.Lost, r.PresenceLost, r.Problems)
			})
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nmake chaos: %d run(s) of each fault, Redis down %s, %s, %d CPUs, load average %s, %s\n\n%s\n",
		runs, RedisDown, time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(),
		strings.Join(strings.Fields(string(load))[:3], " "), time.Since(start).Round(time.Second), Table(results))
}
