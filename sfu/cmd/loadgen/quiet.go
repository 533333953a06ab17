package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The machine is shared: other people's builds and browsers take CPU at
// any moment, and a loaded core changes what a node costs (caches, the
// scheduler, the load generator falling behind). Each scenario therefore
// waits for a quiet machine first, and its row says how much CPU others
// took during the measured window.

// machineBusy is the CPU time all processes used so far (from /proc/stat).
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	const hz = 100 // USER_HZ
	return time.Duration(busy) * time.Second / hz
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitQuiet waits (up to limit) until other processes use under maxShare
// of one core over two seconds, and says how long it waited.
func waitQuiet(node *nodeControl, maxShare float64, limit time.Duration) {
	start := time.Now()
	for {
		b0, s0 := machineBusy(), selfCPU()
		m0, _ := node.metrics()
		time.Sleep(2 * time.Second)
		b1, s1 := machineBusy(), selfCPU()
		m1, _ := node.metrics()
		others := (b1 - b0) - (s1 - s0) - (m1.CPU - m0.CPU)
		share := others.Seconds() / 2
		if share < maxShare {
			if w := time.Since(start); w > 3*time.Second {
				fmt.Fprintf(os.Stderr, "loadgen: waited %s for a quiet machine\n", w.Round(time.Second))
			}
			return
		}
		if time.Since(start) > limit {
			fmt.Fprintf(os.Stderr, "loadgen: the machine stayed busy (others at %.0f %% of a core); measuring anyway\n", 100*share)
			return
		}
		time.Sleep(3 * time.Second)
	}
}
