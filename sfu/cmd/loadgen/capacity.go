package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/pion/webrtc/v4"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/sfu/forward"
)

// searchCapacity runs one publisher to a growing number of subscribers on a
// node pinned to CPU 0 (the load generator moves to CPU 1), and reports
// the largest fan-out with loss under o.maxLoss. The search stops at the
// first fan-out over it.
func searchCapacity(rdb *redis.Client, addr string, pusher *simpeer.Pusher, endpoint string, api *webrtc.API, o options) error {
	if err := pinSelf(); err != nil {
		return err
	}
	env, stop, err := startNode(rdb, addr, "bench-node-pinned", true, pusher, endpoint, api)
	if err != nil {
		return err
	}
	env.quiet, env.retries = o.quiet, o.retries
	defer stop()
	var results []result
	best, bestQuick := 0, 0
	for n := o.capFrom; n <= o.capTo; n += o.capStep {
		sc := scenario{name: fmt.Sprintf("1 pub → %d subs, 1 core", n), publishers: 1, subscribers: n, full: o.capFull, videoBps: o.videoBps, pinned: true}
		r, err := env.run(sc, o.dur)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		results = append(results, r)
		if r.node.stale > 0 {
			// Sequence numbers close over what the node drops, so the
			// subscribers see no loss: the node's count says it.
			fmt.Printf("\n%s: the node fell behind: it dropped %d of the publishers' %d packets (%.1f %%) for waiting over %s (%.0f Mbit/s forwarded of ~%.0f); the search stops here.\n",
				sc.name, r.node.stale, r.published, 100*float64(r.node.stale)/float64(max(r.published, 1)), forward.StaleAfter,
				r.mbitPerSec(), float64(n)*float64(o.videoBps)/1e6)
			break
		}
		if r.starved(o.videoBps) {
			// The publisher or the subscribers in this process fell behind
			// (a busy machine): the row says nothing about the node.
			fmt.Printf("\n%s: the load generator fell behind (%.0f Mbit/s forwarded of ~%.0f; %s); the search stops here.\n",
				sc.name, r.mbitPerSec(), float64(n)*float64(o.videoBps)/1e6, r.behind())
			break
		}
		if r.lossPct() >= o.maxLoss || r.missing > 0 {
			break
		}
		best = n
		if pct(r.forwarding(), 0.99) <= o.maxP99 {
			bestQuick = n
		}
	}
	fmt.Printf("\nCapacity: node pinned to CPU 0, load generator to CPU 1; %d of each fan-out's subscribers are full pion peers, the rest thin.\n\n", o.capFull)
	printTable(os.Stdout, results)
	if best > 0 {
		fmt.Printf("\nLargest fan-out with loss under %.1f %%: %d subscribers; with forwarding (to socket) p99 also under %s: %d.\n",
			o.maxLoss, best, o.maxP99, bestQuick)
	} else {
		fmt.Printf("\nNo fan-out tried (from %d) stayed under %.1f %% loss.\n", o.capFrom, o.maxLoss)
	}
	return nil
}

// pinSelf moves every thread of this process to CPU 1 (threads started
// later inherit it); the node child is started under taskset -c 0.
func pinSelf() error {
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("pinning needs taskset (util-linux): %w", err)
	}
	if out, err := exec.Command("taskset", "-a", "-c", "-p", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		return fmt.Errorf("pin the load generator: %v: %s", err, out)
	}
	return nil
}
