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
// subscribers, the first -full of them full pion peers and the rest thin
// ones (thin.go); it prints node CPU per forwarded packet copy, per Mbit and
// per subscriber-stream, packet loss, forwarding latency, GC pauses and
// join-to-first-packet. "simulcast" is the one-publisher fan-out with the
// camera in three layers (150 kbit/s, 500 kbit/s, 1.5 Mbit/s) and the
// subscribers showing it small, medium and large in turn (video_sizes): the
// table's last column counts the copies of each layer. "capacity" searches the largest one-publisher
// fan-out a node pinned to one core carries with under 0.5 % loss.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/internal/state"
)

type options struct {
	dur                     time.Duration
	videoBps, full          int
	capFrom, capStep, capTo int
	capFull                 int
	maxLoss                 float64
	maxP99                  time.Duration
	pin                     bool
	quiet                   float64
	retries                 int
}

func main() {
	nodeMode := flag.Bool("node", false, "run as the SFU node child (internal)")
	redisAddr := flag.String("redis", "", "redis address (node mode)")
	nodeID := flag.String("id", "bench-node", "node id")
	var o options
	flag.DurationVar(&o.dur, "duration", 10*time.Second, "measured time per scenario")
	flag.IntVar(&o.videoBps, "video-bps", 1_500_000, "camera bitrate per publisher")
	flag.IntVar(&o.full, "full", 50, "subscribers per scenario that are full pion peers (the rest are thin)")
	only := flag.String("scenarios", "fanout=20,fanout=50,fanout=200,mesh=5,simulcast=60,capacity",
		"scenarios: fanout=SUBSCRIBERS, mesh=PARTICIPANTS, simulcast=SUBSCRIBERS, capacity")
	flag.IntVar(&o.capFrom, "capacity-from", 300, "capacity search: first fan-out tried")
	flag.IntVar(&o.capStep, "capacity-step", 100, "capacity search: step")
	flag.IntVar(&o.capTo, "capacity-max", 1000, "capacity search: largest fan-out tried")
	flag.IntVar(&o.capFull, "capacity-full", 10, "capacity search: full pion subscribers (the rest are thin)")
	flag.Float64Var(&o.maxLoss, "capacity-loss", 0.5, "capacity search: loss (%) a fan-out may have")
	flag.DurationVar(&o.maxP99, "capacity-p99", 10*time.Millisecond, "capacity search: the forwarding p99 (publisher's write → arrival at a thin subscriber's socket) also reported against")
	flag.Float64Var(&o.quiet, "quiet", 0.15, "wait before each scenario until other processes use under this share of a core (0: do not wait)")
	flag.IntVar(&o.retries, "retries", 3, "replays of a scenario during which other processes took much CPU")
	flag.BoolVar(&o.pin, "pin", false, "run the scenarios with the node pinned to CPU 0 and the load generator to CPU 1")
	flag.Parse()

	if *nodeMode {
		if err := runNode(*redisAddr, *nodeID); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		return
	}
	var scs []scenario
	capacity := false
	for _, spec := range strings.Split(*only, ",") {
		kind, arg, _ := strings.Cut(strings.TrimSpace(spec), "=")
		n, _ := strconv.Atoi(arg)
		switch {
		case kind == "fanout" && n > 0:
			scs = append(scs, scenario{name: fmt.Sprintf("1 pub → %d subs", n), publishers: 1, subscribers: n, full: o.full, videoBps: o.videoBps})
		case kind == "mesh" && n > 1:
			scs = append(scs, scenario{name: fmt.Sprintf("%d ↔ %d all publish", n, n), publishers: n, full: -1, videoBps: o.videoBps})
		case kind == "simulcast" && n > 0:
			scs = append(scs, scenario{name: fmt.Sprintf("1 simulcast pub → %d subs, mixed sizes", n), publishers: 1, subscribers: n, full: o.full,
				videoBps: 1_500_000, simulcast: true})
		case kind == "capacity":
			capacity = true
		default:
			fmt.Fprintf(os.Stderr, "loadgen: unknown scenario %q\n", spec)
			os.Exit(2)
		}
	}
	if err := bench(scs, capacity, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func bench(scs []scenario, capacity bool, o options) error {
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
	api, err := simpeer.NewAPI()
	if err != nil {
		return err
	}
	fmt.Printf("veet SFU bench — %s, %d cores (%s), %s, %s, node in a child process, %s per scenario\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpuModel(), runtime.Version(), kind, o.dur)
	if len(scs) > 0 {
		if o.pin {
			if err := pinSelf(); err != nil {
				return err
			}
			fmt.Printf("Node pinned to CPU 0 (GOMAXPROCS 1), load generator to CPU 1.\n\n")
		}
		env, stop, err := startNode(rdb, addr, "bench-node", o.pin, pusher, endpoint, api)
		if err != nil {
			return err
		}
		env.quiet, env.retries = o.quiet, o.retries
		var results []result
		for _, sc := range scs {
			r, err := env.run(sc, o.dur)
			if err != nil {
				stop()
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			results = append(results, r)
		}
		stop()
		printTable(os.Stdout, results)
	}
	if capacity {
		return searchCapacity(rdb, addr, pusher, endpoint, api, o)
	}
	return nil
}

// startNode starts a node child (pinned to CPU 0 if asked) and waits until
// it registered.
func startNode(rdb *redis.Client, addr, id string, pinned bool, pusher *simpeer.Pusher, endpoint string, api *webrtc.API) (*benchEnv, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	args := []string{"-node", "-redis", addr, "-id", id}
	var child *exec.Cmd
	if pinned {
		child = exec.Command("taskset", append([]string{"-c", "0", self}, args...)...)
	} else {
		child = exec.Command(self, args...)
	}
	child.Stderr = os.Stderr
	// LOADGEN_NODE_ENV adds to the node's environment (e.g. GOMAXPROCS=1).
	if extra := os.Getenv("LOADGEN_NODE_ENV"); extra != "" {
		child.Env = append(os.Environ(), strings.Fields(extra)...)
	}
	stdin, err := child.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := child.Start(); err != nil {
		return nil, nil, err
	}
	childDone := make(chan error, 1)
	go func() { childDone <- child.Wait() }()
	stop := func() {
		_ = stdin.Close()
		_ = child.Process.Signal(syscall.SIGTERM)
		select {
		case <-childDone:
		case <-time.After(10 * time.Second):
			_ = child.Process.Kill()
			<-childDone
		}
	}
	st := state.New(rdb)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, _ := st.Node(context.Background(), events.NodeID(id)); n != nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("node did not register")
		}
	}
	b := bus.New(rdb, nil)
	env := &benchEnv{
		send:     func(ctx context.Context, cmd events.Command) error { return b.Send(ctx, events.NodeID(id), cmd) },
		pusher:   pusher,
		endpoint: endpoint,
		api:      api,
		node:     &nodeControl{w: stdin, r: bufio.NewReader(stdout)},
		profile:  os.Getenv("LOADGEN_NODE_CPUPROFILE"),
	}
	return env, stop, nil
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
