package lambdas

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/emf.golden.json")

// emfDoc parses one EMF line and checks what CloudWatch needs to extract
// its metrics: every named metric is a number member of the root and every
// dimension a string member.
func emfDoc(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil || !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one JSON line: %q (%v)", line, err)
	}
	meta, _ := doc["_aws"].(map[string]any)
	if ts, _ := meta["Timestamp"].(float64); ts < 1e12 {
		t.Fatalf("_aws.Timestamp %v, want Unix ms", meta["Timestamp"])
	}
	for _, d := range meta["CloudWatchMetrics"].([]any) {
		d := d.(map[string]any)
		if d["Namespace"] != signalingNamespace {
			t.Errorf("namespace %v", d["Namespace"])
		}
		for _, set := range d["Dimensions"].([]any) {
			for _, dim := range set.([]any) {
				if _, ok := doc[dim.(string)].(string); !ok {
					t.Errorf("dimension %v is not a string member", dim)
				}
			}
		}
		for _, m := range d["Metrics"].([]any) {
			if _, ok := doc[m.(map[string]any)["Name"].(string)].(float64); !ok {
				t.Errorf("metric %v is not a number member", m)
			}
		}
	}
	return doc
}

// The line's names and dimensions are a contract with cdk/infra's
// dashboard and alarms, whose tests read the golden file.
func TestEMFLineGolden(t *testing.T) {
	start := time.UnixMilli(1_790_000_000_000)
	inv := &invocation{start: start, action: events.ActionJoin, code: events.CodeNotFound, gwID: "gw-1"}
	line := inv.line(start.Add(12500 * time.Microsecond))
	doc := emfDoc(t, line)
	if doc["Latency"] != 12.5 || doc["Errors"] != 1.0 || doc["Code"] != "not_found" {
		t.Errorf("line %s", line)
	}
	ok := emfDoc(t, (&invocation{start: start, action: events.ActionPing}).line(start))
	if _, has := ok["Errors"]; has || len(ok["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)) != 1 {
		t.Errorf("an answered message counts an error: %v", ok)
	}

	var pretty bytes.Buffer
	if err := json.Indent(&pretty, bytes.TrimSpace(line), "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	const path = "testdata/emf.golden.json"
	if *updateGolden {
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

type lineSink struct {
	mu    sync.Mutex
	lines [][]byte
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, append([]byte(nil), p...))
	return len(p), nil
}

// Every client message handled ends in one line: answered ones by action,
// refused ones with their error code too, nonsense actions as "unknown".
func TestRedisHandlersMetrics(t *testing.T) {
	e := newEnv(t)
	sink := &lineSink{}
	metricsMu.Lock()
	saved := metricsOut
	metricsOut = sink
	metricsMu.Unlock()
	t.Cleanup(func() { metricsMu.Lock(); metricsOut = saved; metricsMu.Unlock() })

	e.meeting("c-1")                                                                            // create + join
	e.send("c-1", map[string]any{"action": "ping", "id": "p1"})                                 // answered
	e.invoke("$default", "c-1", `{"action":"dance-`+strings.Repeat("x", 40)+`","id":"1"}`, nil) // unknown action
	e.invoke("join", "c-1", `{"action":"join","id":"1","code":"zzz-zzzz-zzz","name":"a"}`, nil) // unknown room
	e.invoke("ping", "c-1", `{"action":`, nil)                                                  // malformed

	type seen struct{ action, code string }
	var got []seen
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, l := range sink.lines {
		doc := emfDoc(t, l)
		if doc["Requests"] != 1.0 || doc["Latency"].(float64) <= 0 || !strings.HasPrefix(doc["RequestId"].(string), "gw-") {
			t.Errorf("line %s", l)
		}
		code, _ := doc["Code"].(string)
		got = append(got, seen{doc["Action"].(string), code})
	}
	want := []seen{{"create", ""}, {"join", ""}, {"ping", ""}, {"unknown", "unknown_action"}, {"join", "not_found"}, {"unknown", "bad_request"}}
	if len(got) != len(want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %v, want %v", i, got[i], want[i])
		}
	}
}
