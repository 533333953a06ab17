package sfu

import (
	"encoding/json"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// loadMeter turns the counters that only grow (forwarded bytes, process CPU
// time) into rates over the time since the previous sample.
type loadMeter struct {
	mu       sync.Mutex
	at       time.Time
	bytesOut uint64
	cpu      time.Duration
	bps      int64
	cpuFrac  float64
}

func newLoadMeter() *loadMeter {
	return &loadMeter{at: time.Now(), cpu: ProcessCPU()}
}

// sample takes the forwarded byte total now and returns the forwarded
// bitrate and the CPU share (0..1 of all cores) since the last sample. Two
// samples closer than a second apart return the previous figures.
func (m *loadMeter) sample(bytesOut uint64) (int64, float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	dt := now.Sub(m.at)
	if dt < time.Second {
		return m.bps, m.cpuFrac
	}
	cpu := ProcessCPU()
	if bytesOut >= m.bytesOut {
		m.bps = int64(float64(bytesOut-m.bytesOut) * 8 / dt.Seconds())
	}
	// GOMAXPROCS follows the container's CPU quota (Go ≥ 1.25), NumCPU the host's.
	m.cpuFrac = float64(cpu-m.cpu) / float64(dt) / float64(runtime.GOMAXPROCS(0))
	m.at, m.bytesOut, m.cpu = now, bytesOut, cpu
	return m.bps, m.cpuFrac
}

// ProcessCPU is the CPU time (user+system) this process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Handler serves /healthz and /metrics (the node's registry entry as JSON).
// /healthz stays 200 while draining: a failing container health check would
// get the task killed before its rooms have left; placement learns about
// draining from the registry instead. It answers 503 while every push fails
// (the node cannot reach its clients: no credentials, no route): such a node
// should be replaced, not trusted with rooms.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		draining := n.draining
		n.mu.Unlock()
		if n.pushBroken() {
			http.Error(w, "pushes to clients keep failing", http.StatusServiceUnavailable)
			return
		}
		if draining {
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.Info())
	})
	return mux
}
