package gateway_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/gorilla/websocket"

	"github.com/veet-dev/veet/localstack/gateway"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// TestGatewayRoutesLikeAPIGateway: issue 12's case-folded second key goes
// where API Gateway sends it (the exact "action"), a repeated key to the
// last one.
func TestGatewayRoutesLikeAPIGateway(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{})
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	bodies := map[string]string{
		`{"action":"ping","id":"d4","Action":"end"}`: "ping",
		`{"Action":"end","id":"d5"}`:                 "$default",
		`{"action":"ping","id":"d6","action":"end"}`: "end",
	}
	for b := range bodies {
		if err := c.SendRaw([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	calls := rec.waitCalls(t, "3 messages", func(c []call) bool { return len(c) >= 4 })
	for _, cl := range calls[1:4] {
		if want := bodies[cl.req.Body]; cl.req.RequestContext.RouteKey != want {
			t.Errorf("%s routed to %q, want %q", cl.req.Body, cl.req.RequestContext.RouteKey, want)
		}
	}
}

// TestGatewayDropsAClosedSocketsQueue: messages queued behind a slow handler
// are dropped once the socket closes, whether the server closed it
// (@connections DELETE, as a Lambda shedding a flood does) or the client
// did; the backlog returns to zero and $disconnect still comes.
func TestGatewayDropsAClosedSocketsQueue(t *testing.T) {
	for _, closer := range []string{"server", "client"} {
		t.Run(closer, func(t *testing.T) {
			rec := newRecorder()
			release := make(chan struct{})
			entered := make(chan string, 100)
			rec.onInvoke = func(fn string, req awsevents.APIGatewayWebsocketProxyRequest) error {
				if fn == "ping" {
					entered <- req.Body
					<-release
				}
				return nil
			}
			g, base := start(t, rec, gateway.Options{})
			c := wsclient.Dial(t, wsURL(base), wsclient.Options{})
			for range 20 {
				if err := c.SendRaw([]byte(`{"action":"ping","id":"p"}`)); err != nil {
					t.Fatal(err)
				}
			}
			<-entered
			deadline := time.Now().Add(5 * time.Second)
			for g.Backlog() < 20 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if n := g.Backlog(); n != 20 {
				t.Fatalf("backlog %d, want 20 (one in the handler, 19 queued)", n)
			}
			id := rec.all()[0].req.RequestContext.ConnectionID
			if closer == "server" {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodDelete, base+"/@connections/"+id, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != http.StatusNoContent {
					t.Fatalf("DELETE: %v %v", resp, err)
				}
				resp.Body.Close()
			} else {
				c.Close()
			}
			// Closing: unreachable through @connections at once; then the
			// handler in flight finishes, and $disconnect comes after it.
			for g.Connections() != 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			close(release)
			calls := rec.waitCalls(t, "$disconnect", hasRoute("$disconnect", 1))
			if n := len(byRoute(calls, "ping")); n != 1 {
				t.Errorf("%d pings handled after the close, want only the one in flight", n)
			}
			if n := g.Backlog(); n != 0 {
				t.Errorf("backlog %d after the close", n)
			}
			if closer == "server" {
				if code := c.WaitClosed(t); code != 1000 {
					t.Errorf("close code %d, want 1000 (what @connections DELETE gives)", code)
				}
			}
		})
	}
}

// TestGatewayReadsAtTheClientsPace: a handler that stalls does not stall the
// socket's reader. Messages keep their arrival time (requestTimeEpoch, as
// API Gateway stamps it) however late they are handled; past the queue's
// bound they are dropped and the client is told "Too Many Requests" once.
func TestGatewayReadsAtTheClientsPace(t *testing.T) {
	rec := newRecorder()
	release := make(chan struct{})
	var once sync.Once
	rec.onInvoke = func(fn string, req awsevents.APIGatewayWebsocketProxyRequest) error {
		if fn == "ping" {
			once.Do(func() { <-release })
		}
		return nil
	}
	g, base := start(t, rec, gateway.Options{MessageQueue: 16})
	var pongs atomic.Int32
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{OnPong: func(string) { pongs.Add(1) }})
	sent := time.Now()
	for range 100 {
		if err := c.SendRaw([]byte(`{"action":"ping","id":"p"}`)); err != nil {
			t.Fatal(err)
		}
	}
	// The reader answers a WebSocket ping while the handler is stuck.
	if err := c.Conn().WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	e := c.WaitFor(t, "error")
	if e.Code != "rate_limited" || e.Message != "Too Many Requests" {
		t.Fatalf("queue full: %s", e)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pongs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if pongs.Load() == 0 {
		t.Fatal("the reader stalled with the handler")
	}
	if b := g.Backlog(); b > 17 {
		t.Fatalf("backlog %d over the queue's 16 (+1 in the handler)", b)
	}
	time.Sleep(300 * time.Millisecond)
	close(release)
	calls := rec.waitCalls(t, "the queued pings", func(c []call) bool { return len(byRoute(c, "ping")) == 17 })
	for _, cl := range byRoute(calls, "ping") {
		if at := time.UnixMilli(cl.req.RequestContext.RequestTimeEpoch); at.Sub(sent) > 200*time.Millisecond {
			t.Fatalf("requestTimeEpoch %v after sending: the handling time, not the arrival", at.Sub(sent))
		}
	}
	if n := len(c.All()); n != 1 {
		t.Fatalf("%d answers to a full queue, want one a second", n)
	}
}
