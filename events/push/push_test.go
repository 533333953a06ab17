package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/veet-dev/veet/events"
)

// fakeConnections is a minimal `@connections` endpoint: it records posts and
// answers 410 for the connection "gone".
type fakeConnections struct {
	mu      sync.Mutex
	posts   map[string][]string
	deleted []string
}

func (f *fakeConnections) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/stage/@connections/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !strings.Contains(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		http.Error(w, "unsigned", http.StatusForbidden)
		return
	}
	if id == "gone" {
		w.Header().Set("X-Amzn-ErrorType", "GoneException")
		w.WriteHeader(http.StatusGone)
		_, _ = io.WriteString(w, `{"message":"gone"}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		f.posts[id] = append(f.posts[id], string(body))
	case http.MethodDelete:
		f.deleted = append(f.deleted, id)
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"connectedAt":"2026-01-01T00:00:00Z"}`)
	}
}

func TestAPIGatewayPusher(t *testing.T) {
	f := &fakeConnections{posts: map[string][]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", "")}
	p := NewAPIGateway(cfg)
	ctx := context.Background()
	to := events.ConnRef{ConnectionID: "c1", Endpoint: srv.URL + "/stage"}

	if err := Send(ctx, p, to, events.Reply("r1", &events.Pong{ServerTime: 7})); err != nil {
		t.Fatal(err)
	}
	if got := f.posts["c1"]; len(got) != 1 || got[0] != `{"type":"pong","id":"r1","serverTime":7}` {
		t.Fatalf("posted %q", got)
	}
	gone := events.ConnRef{ConnectionID: "gone", Endpoint: to.Endpoint}
	if err := p.Post(ctx, gone, []byte("{}")); !errors.Is(err, ErrGone) {
		t.Fatalf("post to a gone connection: %v, want ErrGone", err)
	}
	if err := p.Delete(ctx, to); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, gone); err != nil {
		t.Fatalf("deleting a gone connection: %v", err)
	}
	if len(f.deleted) != 1 || f.deleted[0] != "c1" {
		t.Fatalf("deleted %v", f.deleted)
	}
	alive, err := p.(*APIGateway).Alive(ctx, to)
	if err != nil || !alive {
		t.Fatalf("Alive(c1) = %v, %v", alive, err)
	}
	if alive, err := p.(*APIGateway).Alive(ctx, gone); err != nil || alive {
		t.Fatalf("Alive(gone) = %v, %v", alive, err)
	}
	if err := p.Post(ctx, events.ConnRef{ConnectionID: "x"}, nil); err == nil {
		t.Fatal("post without endpoint succeeded")
	}
}

// A push to another region's API must be signed for that region, or API
// Gateway refuses it; other endpoints keep the configured region.
func TestAPIGatewaySignsForTheEndpointsRegion(t *testing.T) {
	p := NewAPIGateway(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", "")}).(*APIGateway)
	for endpoint, want := range map[string]string{
		"https://abc123.execute-api.eu-west-1.amazonaws.com/prod": "eu-west-1",
		"https://abc123.execute-api.ap-south-1.amazonaws.com/v1":  "ap-south-1",
		"https://ws.example.com":                                  "us-east-1",
		"http://127.0.0.1:8080":                                   "us-east-1",
	} {
		c, err := p.client(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Options().Region; got != want {
			t.Errorf("%s: signed for %q, want %q", endpoint, got, want)
		}
	}
}

// TestAPIGatewayRefusesOversizedPosts: a message API Gateway would refuse
// with 413 is not sent at all, and says why.
func TestAPIGatewayRefusesOversizedPosts(t *testing.T) {
	f := &fakeConnections{posts: map[string][]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := NewAPIGateway(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", "")})
	to := events.ConnRef{ConnectionID: "c1", Endpoint: srv.URL + "/stage"}
	if err := p.Post(context.Background(), to, make([]byte, events.MaxMessage+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized post: %v, want ErrTooLarge", err)
	}
	if err := p.Post(context.Background(), to, []byte(`"`+strings.Repeat("a", events.MaxMessage-2)+`"`)); err != nil {
		t.Fatalf("a post of exactly the limit: %v", err)
	}
	if len(f.posts["c1"]) != 1 {
		t.Fatalf("posted %d messages, want the one within the limit", len(f.posts["c1"]))
	}
}

// TestBroadcastReusesBoundedConnections: a broadcast to many sockets keeps
// at most MaxConns posts in flight and reuses its connections (it once
// opened one per post, and a large meeting ran out of file descriptors).
func TestBroadcastReusesBoundedConnections(t *testing.T) {
	f := &fakeConnections{posts: map[string][]string{}}
	srv := httptest.NewUnstartedServer(f)
	var mu sync.Mutex
	opened, active, peak := 0, 0, 0
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateNew:
			opened++
		case http.StateActive:
			active++
			peak = max(peak, active)
		case http.StateIdle, http.StateClosed:
			if active > 0 {
				active--
			}
		}
	}
	srv.Start()
	defer srv.Close()
	p := NewAPIGateway(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", "")})
	var to []events.ConnRef
	for i := range 2000 {
		to = append(to, events.ConnRef{ConnectionID: events.ConnectionID(fmt.Sprintf("c%d", i)), Endpoint: srv.URL + "/stage"})
	}
	to = append(to, events.ConnRef{ConnectionID: "gone", Endpoint: srv.URL + "/stage"})
	for range 2 {
		gone, failed, err := Broadcast(context.Background(), p, to, []byte(`{"type":"ack"}`), 5*time.Second)
		if len(gone) != 1 || gone[0].ConnectionID != "gone" || failed != 0 {
			t.Fatalf("gone %v, failed %d (%v)", gone, failed, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if opened > 2*MaxConns || peak > MaxConns {
		t.Fatalf("4,002 posts opened %d connections, %d at once; want at most %d, %d", opened, peak, 2*MaxConns, MaxConns)
	}
	if len(f.posts) != 2000 {
		t.Fatalf("%d sockets got the broadcast", len(f.posts))
	}
}

// TestBoundedWaitsItsTurn: no more than n calls run at once, and a caller
// whose context ends while waiting gives up.
func TestBoundedWaitsItsTurn(t *testing.T) {
	slow := &slowPusher{release: make(chan struct{})}
	b := NewBounded(slow, 3)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _ = b.Post(context.Background(), events.ConnRef{ConnectionID: "c"}, nil) })
	}
	time.Sleep(50 * time.Millisecond)
	if n := slow.running.Load(); n != 3 {
		t.Fatalf("%d posts running, want 3", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Post(ctx, events.ConnRef{ConnectionID: "c"}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting post: %v", err)
	}
	close(slow.release)
	wg.Wait()
	if slow.peak.Load() != 3 {
		t.Fatalf("peak %d", slow.peak.Load())
	}
}

type slowPusher struct {
	release       chan struct{}
	running, peak atomic.Int32
}

func (s *slowPusher) Post(context.Context, events.ConnRef, []byte) error {
	n := s.running.Add(1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	<-s.release
	s.running.Add(-1)
	return nil
}

func (s *slowPusher) Delete(context.Context, events.ConnRef) error { return nil }
