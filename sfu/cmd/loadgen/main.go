// Command loadgen measures an SFU node under load (`make bench`).
//
// It starts a redis-server (or miniredis when none is installed), a stand-in
// for API Gateway's `@connections` endpoint, and one SFU node as a child
// process (itself, with -node), so the node's CPU is measured apart from the
// simulated participants. The participants are real pion peers in this
// process that drive the node the way the signaling plane does: commands on
// the node's Redis Streams channel (events/bus), events back through the
// node's real AWS SDK push client. No gateway or Lambda is involved.
//
// Each scenario is one room of P publishers (microphone: Opus-sized packets
// at 50/s; camera: VP8-shaped frames at 30 fps and -video-bps) and S pure
// subscribers; it prints node CPU per forwarded packet copy, per Mbit and per
// subscriber-stream, packet loss, forwarding latency and join-to-first-packet.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/internal/state"
)

func main() {
	nodeMode := flag.Bool("node", false, "run as the SFU node child (internal)")
	redisAddr := flag.String("redis", "", "redis address (node mode)")
	nodeID := flag.String("id", "bench-node", "node id")
	dur := flag.Duration("duration", 10*time.Second, "measured time per scenario")
	videoBps := flag.Int("video-bps", 1_500_000, "camera bitrate per publisher")
	fanoutSubs := flag.Int("fanout-subs", 50, "subscribers of the one-publisher scenario")
	mesh := flag.Int("mesh", 6, "participants of the all-publish scenario")
	only := flag.String("scenarios", "fanout,mesh", "which scenarios to run")
	flag.Parse()

	if *nodeMode {
		if err := runNode(*redisAddr, *nodeID); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		return
	}
	var scs []scenario
	for _, name := range strings.Split(*only, ",") {
		switch strings.TrimSpace(name) {
		case "fanout":
			scs = append(scs, scenario{name: fmt.Sprintf("1 pub → %d subs", *fanoutSubs), publishers: 1, subscribers: *fanoutSubs, videoBps: *videoBps})
		case "mesh":
			scs = append(scs, scenario{name: fmt.Sprintf("%d all publish", *mesh), publishers: *mesh, videoBps: *videoBps})
		}
	}
	if err := bench(scs, *dur, *nodeID); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func bench(scs []scenario, dur time.Duration, nodeID string) error {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	addr, kind, stopRedis, err := startRedis()
	if err != nil {
		return err
	}
	defer stopRedis()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()

	pusher := simpeer.NewPusher()
	endpoint, stopHTTP, err := connectionsServer(pusher)
	if err != nil {
		return err
	}
	defer stopHTTP()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, "-node", "-redis", addr, "-id", nodeID)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	childDone := make(chan error, 1)
	go func() { childDone <- child.Wait() }()
	defer func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		select {
		case <-childDone:
		case <-time.After(10 * time.Second):
			_ = child.Process.Kill()
			<-childDone
		}
	}()
	st := state.New(rdb)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, _ := st.Node(context.Background(), events.NodeID(nodeID)); n != nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node did not register")
		}
	}
	b := bus.New(rdb, nil)
	env := &benchEnv{
		send:     func(ctx context.Context, cmd events.Command) error { return b.Send(ctx, events.NodeID(nodeID), cmd) },
		pusher:   pusher,
		endpoint: endpoint,
		nodePID:  child.Process.Pid,
	}
	if env.api, err = simpeer.NewAPI(); err != nil {
		return err
	}

	fmt.Printf("veet SFU bench — %s, %d cores (%s), %s, %s, node in a child process, %s per scenario\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpuModel(), runtime.Version(), kind, dur)
	var results []result
	for _, sc := range scs {
		r, err := env.run(sc, dur)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		results = append(results, r)
	}
	printTable(os.Stdout, results)
	return nil
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
