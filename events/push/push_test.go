package push

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
