package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

// fakeAgent is the ECS agent's task-protection endpoint: it records every
// request and answers as the agent does, or with a failure when refusing.
type fakeAgent struct {
	mu      sync.Mutex
	puts    []string // request bodies, compacted
	refuse  bool
	enabled bool
}

func (a *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.URL.Path != "/api/abc/task-protection/v1/state" || r.Method != http.MethodPut || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	a.puts = append(a.puts, string(body))
	var req struct{ ProtectionEnabled bool }
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	arn := "arn:aws:ecs:eu-west-1:123456789012:task/veet/abc"
	if a.refuse {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"requestID":"r-1","error":{"Arn":%q,"Code":"AccessDeniedException","Message":"not authorized to perform: ecs:UpdateTaskProtection"}}`, arn)
		return
	}
	a.enabled = req.ProtectionEnabled
	exp := "null"
	if req.ProtectionEnabled {
		exp = `"2030-01-01T00:00:00Z"`
	}
	fmt.Fprintf(w, `{"protection":{"ExpirationDate":%s,"ProtectionEnabled":%v,"TaskArn":%q}}`, exp, req.ProtectionEnabled, arn)
}

func (a *fakeAgent) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.puts...)
}

func startAgent(t *testing.T) (*fakeAgent, string) {
	a := &fakeAgent{}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv.URL + "/api/abc"
}

func nodeWith(rooms int, state events.NodeState) events.NodeInfo {
	return events.NodeInfo{ID: "n1", State: state, Load: events.NodeLoad{Rooms: rooms}}
}

const (
	protectOn  = `{"ExpiresInMinutes":60,"ProtectionEnabled":true}`
	protectOff = `{"ProtectionEnabled":false}`
)

// Protected from its first room until it is empty; draining releases it;
// nothing is asked while nothing changes.
func TestScaleInProtectionFollowsRooms(t *testing.T) {
	agent, uri := startAgent(t)
	p := newProtector(uri, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, now := context.Background(), time.Now()
	step := func(info events.NodeInfo) { now = now.Add(10 * time.Second); p.update(ctx, info, now) }

	step(nodeWith(0, events.NodeServing))
	step(nodeWith(1, events.NodeServing))
	step(nodeWith(4, events.NodeServing))
	step(nodeWith(0, events.NodeServing))
	step(nodeWith(0, events.NodeServing))
	step(nodeWith(2, events.NodeServing))
	step(nodeWith(2, events.NodeDraining))
	step(nodeWith(1, events.NodeDraining))
	want := []string{protectOn, protectOff, protectOn, protectOff}
	if got := agent.calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("agent got %q\nwant %q", got, want)
	}
}

// A protection is not renewed while the node stays busy: after the hold it
// lapses (ECS clears it), and the node is protected again only once it has
// emptied, so a node that never empties cannot block a deployment forever.
func TestScaleInProtectionHoldIsBounded(t *testing.T) {
	agent, uri := startAgent(t)
	p := newProtector(uri, 30*time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, start := context.Background(), time.Now()
	busy := nodeWith(3, events.NodeServing)

	p.update(ctx, busy, start)
	p.update(ctx, busy, start.Add(29*time.Minute))
	p.update(ctx, busy, start.Add(31*time.Minute)) // lapsed while busy
	p.update(ctx, busy, start.Add(90*time.Minute))
	p.update(ctx, nodeWith(0, events.NodeServing), start.Add(91*time.Minute))
	p.update(ctx, busy, start.Add(92*time.Minute))
	want := []string{`{"ExpiresInMinutes":30,"ProtectionEnabled":true}`, `{"ExpiresInMinutes":30,"ProtectionEnabled":true}`}
	if got := agent.calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("agent got %q\nwant %q", got, want)
	}
}

// A refused change is tried again at the next check, and counts only once
// it was applied.
func TestScaleInProtectionRetriesARefusal(t *testing.T) {
	agent, uri := startAgent(t)
	p := newProtector(uri, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, now := context.Background(), time.Now()
	agent.mu.Lock()
	agent.refuse = true
	agent.mu.Unlock()
	p.update(ctx, nodeWith(1, events.NodeServing), now)
	if p.on || agent.enabled {
		t.Fatal("a refused protection counted as on")
	}
	agent.mu.Lock()
	agent.refuse = false
	agent.mu.Unlock()
	p.update(ctx, nodeWith(1, events.NodeServing), now.Add(10*time.Second))
	if !p.on || !agent.enabled || len(agent.calls()) != 2 {
		t.Fatalf("after the refusal: on=%v agent=%v calls=%q", p.on, agent.enabled, agent.calls())
	}
}

type fixedNode struct {
	mu   sync.Mutex
	info events.NodeInfo
}

func (n *fixedNode) Info() events.NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.info
}

// The loop checks the node on its own; when the task is told to stop
// (SIGTERM ends the context) a held protection is released at once.
func TestScaleInProtectionReleasedOnStop(t *testing.T) {
	agent, uri := startAgent(t)
	p := newProtector(uri, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	node := &fixedNode{info: nodeWith(2, events.NodeServing)}
	ctx, sigterm := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.protect(ctx, node, 10*time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(agent.calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	sigterm()
	<-done
	if got := agent.calls(); !reflect.DeepEqual(got, []string{protectOn, protectOff}) || agent.enabled {
		t.Fatalf("agent got %q (enabled %v), want on then off", got, agent.enabled)
	}
}
