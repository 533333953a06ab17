package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/sfu"
)

var update = flag.Bool("update", false, "rewrite testdata/emf.golden.json")

// checkEMF enforces CloudWatch's embedded metric format on one line: every
// metric and dimension a directive names is a member of the root, metrics
// as numbers and dimensions as strings; otherwise CloudWatch drops the
// metric silently.
func checkEMF(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil || bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not one JSON line: %q (%v)", line, err)
	}
	meta, _ := doc["_aws"].(map[string]any)
	if ts, ok := meta["Timestamp"].(float64); !ok || ts < 1e12 {
		t.Fatalf("_aws.Timestamp %v, want Unix ms", meta["Timestamp"])
	}
	directives, _ := meta["CloudWatchMetrics"].([]any)
	if len(directives) == 0 {
		t.Fatalf("no CloudWatchMetrics directive: %s", line)
	}
	for _, d := range directives {
		d := d.(map[string]any)
		if d["Namespace"] == "" {
			t.Errorf("directive without namespace")
		}
		for _, set := range d["Dimensions"].([]any) {
			for _, dim := range set.([]any) {
				if _, ok := doc[dim.(string)].(string); !ok {
					t.Errorf("dimension %v is not a string member: %v", dim, doc[dim.(string)])
				}
			}
		}
		for _, m := range d["Metrics"].([]any) {
			name := m.(map[string]any)["Name"].(string)
			if _, ok := doc[name].(float64); !ok {
				t.Errorf("metric %s is not a number member: %v", name, doc[name])
			}
		}
	}
	return doc
}

// The line's names, units and dimensions are a contract with the alarms,
// dashboard and scaling policies in cdk/infra, whose tests read the golden
// file.
func TestEMFLineGolden(t *testing.T) {
	info := events.NodeInfo{ID: "task-0a1b", Region: "eu-west-1", State: events.NodeServing, Load: events.NodeLoad{
		Rooms: 3, Participants: 17, Tracks: 30, BitrateBps: 41_000_000, CPU: 0.375, CommandLagMs: 12,
	}}
	line := emfLine(info, time.UnixMilli(1_790_000_000_000))
	doc := checkEMF(t, line)
	if doc["CPUUtilization"] != 37.5 || doc["Serving"] != 1.0 || doc["Participants"] != 17.0 || doc["Node"] != "task-0a1b" {
		t.Errorf("figures %s", line)
	}
	info.State = events.NodeDraining
	if d := checkEMF(t, emfLine(info, time.Now())); d["Serving"] != 0.0 {
		t.Errorf("a draining node counts as serving: %v", d["Serving"])
	}
	compareGolden(t, "testdata/emf.golden.json", line)
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, bytes.TrimSpace(got), "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if !bytes.Equal(want, pretty.Bytes()) {
		t.Errorf("EMF line changed; if on purpose, update cdk/infra and run go test -run Golden -update\ngot:\n%s\nwant:\n%s", pretty.Bytes(), want)
	}
}

// lines collects what the publisher writes, one line per Write.
type lines struct {
	mu  sync.Mutex
	got []map[string]any
	t   *testing.T
}

func (l *lines) Write(p []byte) (int, error) {
	doc := checkEMF(l.t, p)
	l.mu.Lock()
	l.got = append(l.got, doc)
	l.mu.Unlock()
	return len(p), nil
}

// waitFor returns the first line from index from on that satisfies ok.
func (l *lines) waitFor(t *testing.T, from int, what string, ok func(map[string]any) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for i := from; i < len(l.got); i++ {
			if ok(l.got[i]) {
				l.mu.Unlock()
				return i
			}
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no metrics line with %s", what)
	return 0
}

// A real node on a real redis-server: a command that waited 1.5 s on the
// node's channel shows as CommandLag in the next line, the line after
// starts over, and a node that drains stops counting as serving.
func TestRedisNodeMetricsLine(t *testing.T) {
	rdb := testenv.StartRedis(t).Client(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := sfu.New(sfu.Config{NodeID: "node-metrics", Region: "test", Redis: rdb, Push: simpeer.NewPusher(),
		Log: quiet, PublicIPs: []string{"127.0.0.1"}, DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, sigterm := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- node.Run(ctx) }()
	defer func() { sigterm(); <-stopped }()

	out := &lines{t: t}
	pctx, stopPublishing := context.WithCancel(context.Background())
	defer stopPublishing()
	go publishMetrics(pctx, node, out, 50*time.Millisecond, quiet)

	first := out.waitFor(t, 0, "a serving node", func(d map[string]any) bool { return d["Serving"] == 1.0 })
	if d := out.got[first]; d["Region"] != "test" || d["Node"] != "node-metrics" || d["Rooms"] != 0.0 {
		t.Errorf("idle node line %v", d)
	}
	leave := events.Command{Type: events.CmdLeave, Room: events.NewRoomCode(), Participant: events.NewParticipantID(),
		SentAt: time.Now().Add(-1500 * time.Millisecond).UnixMilli()}
	if err := bus.New(rdb, quiet).Send(ctx, node.ID(), leave); err != nil {
		t.Fatal(err)
	}
	lagged := out.waitFor(t, first, "the command's lag", func(d map[string]any) bool { return d["CommandLag"].(float64) >= 1500 })
	out.waitFor(t, lagged+1, "the lag starting over", func(d map[string]any) bool { return d["CommandLag"] == 0.0 })

	sigterm()
	out.waitFor(t, lagged, "a draining node", func(d map[string]any) bool {
		return d["Serving"] == 0.0 && strings.Contains(d["State"].(string), "draining")
	})
}
