// Package gateway is a local stand-in for an API Gateway WebSocket API: one
// HTTP port that upgrades `GET /ws` to a WebSocket, invokes Lambda-style
// handlers in-process with the request API Gateway would send
// (aws-lambda-go events.APIGatewayWebsocketProxyRequest), and serves the
// `@connections` management API that the AWS SDK (apigatewaymanagementapi)
// calls to post to, read and close a connection.
//
// It is faithful where the handlers could tell: route selection on the JSON
// `action` field ($request.body.action) with $default for anything else,
// $connect before the handshake completes (a non-2xx answer refuses it),
// $disconnect exactly once per connection whatever closed it, the request
// context fields, API Gateway's frame (32 KB) and message (128 KB) limits,
// its 10-minute idle timeout and 2-hour connection limit, and 410 Gone for a
// connection that no longer exists.
//
// Route selection reads the body as API Gateway's `$request.body.action`
// does (route.go): the top-level key spelled exactly "action", the last one
// when it repeats, its value only when it is a JSON string. The handlers
// refuse a message with a repeated or case-folded key whatever route it
// took, so where API Gateway's undocumented choice might differ, the answer
// (bad_request) does not.
//
// Where it differs, on purpose:
//   - One connection's messages are handled one at a time, in the order they
//     arrived. API Gateway promises no order (it may invoke Lambdas for one
//     connection concurrently); in-order keeps the local stack and its tests
//     deterministic. Handlers must still not rely on it.
//   - A frame or message over the limit is dropped and the client gets an
//     error event ({"type":"error","code":"frame_too_large"|"message_too_large",…});
//     the connection stays open. Real API Gateway closes the connection with
//     1009 instead ("If a larger message (or larger frame size) is received,
//     the connection is closed with code 1009", API Gateway quotas page); set
//     Options.CloseOnOversize to get that behaviour.
//   - When a handler returns an error, the client gets API Gateway's
//     {"message":"Internal server error","connectionId":…,"requestId":…}
//     plus "type":"error" and "code":"internal", so a client that switches on
//     `type` sees it too.
//   - When a socket closes, whichever side closed it, the messages it sent
//     that no handler has begun are dropped (logged with their count). API
//     Gateway may still invoke them; the handlers drop those (the state marks
//     a closed connection), so neither stack does work for a closed socket.
//   - Requests to @connections are not authenticated (the SDK signs them; the
//     signature is not checked).
package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/veet-dev/veet/lambdas/routes"
)

// Handler is a Lambda function of the WebSocket API, invoked in-process.
type Handler func(context.Context, awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error)

// API Gateway's quotas (WebSocket APIs); none can be raised.
const (
	MaxFrame           = 32 * 1024
	MaxMessage         = 128 * 1024
	IdleTimeout        = 10 * time.Minute
	MaxDuration        = 2 * time.Hour
	IntegrationTimeout = 29 * time.Second
)

// Options configures a Gateway. Zero values take API Gateway's.
type Options struct {
	// Functions returns the handler of a function name, nil when there is
	// none (a route without an integration). Required.
	Functions func(name string) Handler
	// FunctionFor maps a route key to a function name; default
	// routes.FunctionFor, the deployed route table.
	FunctionFor func(routeKey string) string
	Stage       string // default "local"
	APIID       string // default "local"

	MaxFrame, MaxMessage int
	IdleTimeout          time.Duration
	MaxDuration          time.Duration
	IntegrationTimeout   time.Duration
	// MessageQueue and MessageQueueBytes bound the messages one connection
	// may have waiting for its handler. The socket is read as fast as the
	// client sends (a reader paced by its handler would make a flood look
	// like a client within its rate limit); a message that finds the queue
	// full is dropped and the client told "Too Many Requests", as API
	// Gateway answers a throttled message. Defaults 1024 and 1 MiB.
	MessageQueue      int
	MessageQueueBytes int
	// SendQueue bounds the messages posted to one connection and not yet
	// written to its socket (beyond what the kernel buffers). A client that
	// lets it fill is not reading: it is closed with 1008 and the post gets
	// 410. Default 256.
	SendQueue int
	// CloseOnOversize closes the connection with 1009 after an oversized
	// frame or message, as real API Gateway does.
	CloseOnOversize bool

	Log *slog.Logger
}

// Gateway serves WebSockets and @connections on one http.Handler.
type Gateway struct {
	opt Options
	log *slog.Logger

	mu     sync.Mutex
	conns  map[string]*conn
	closed bool
	wg     sync.WaitGroup // one per handshake begun before Close, until its $disconnect returned

	backlog atomic.Int64 // messages read and not yet handled or dropped, all connections
}

// New returns a Gateway; serve it with any http.Server.
func New(opt Options) *Gateway {
	if opt.Functions == nil {
		panic("gateway: Options.Functions is required")
	}
	if opt.FunctionFor == nil {
		opt.FunctionFor = routes.FunctionFor
	}
	if opt.Stage == "" {
		opt.Stage = "local"
	}
	if opt.APIID == "" {
		opt.APIID = "local"
	}
	if opt.MaxFrame <= 0 {
		opt.MaxFrame = MaxFrame
	}
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = MaxMessage
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = IdleTimeout
	}
	if opt.MaxDuration <= 0 {
		opt.MaxDuration = MaxDuration
	}
	if opt.IntegrationTimeout <= 0 {
		opt.IntegrationTimeout = IntegrationTimeout
	}
	if opt.MessageQueue <= 0 {
		opt.MessageQueue = 1024
	}
	if opt.MessageQueueBytes <= 0 {
		opt.MessageQueueBytes = 1 << 20
	}
	if opt.SendQueue <= 0 {
		opt.SendQueue = 256
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Gateway{opt: opt, log: opt.Log.With("component", "gateway"), conns: map[string]*conn{}}
}

// ServeHTTP serves `GET /ws` (the WebSocket API; its query string goes to
// $connect) and `/@connections/{id}` (also under `/{stage}/@connections/`,
// the path the real endpoint has).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if i := strings.Index(r.URL.Path, "/@connections/"); i >= 0 && (i == 0 || r.URL.Path[:i] == "/"+g.opt.Stage) {
		g.serveConnections(w, r, r.URL.Path[i+len("/@connections/"):])
		return
	}
	if r.URL.Path == "/ws" {
		g.serveWebSocket(w, r)
		return
	}
	http.NotFound(w, r)
}

// Backlog returns how many messages were read from sockets and are not yet
// handled (queued or in a handler); zero when the gateway is idle.
func (g *Gateway) Backlog() int64 { return g.backlog.Load() }

// Connections returns how many sockets are open.
func (g *Gateway) Connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// Close closes every connection with 1001 (going away), as API Gateway does
// when it drops a connection, and waits up to timeout for their $disconnect
// handlers. New handshakes are refused from now on.
func (g *Gateway) Close(timeout time.Duration) error {
	g.mu.Lock()
	g.closed = true
	all := make([]*conn, 0, len(g.conns))
	for _, c := range g.conns {
		all = append(all, c)
	}
	g.mu.Unlock()
	for _, c := range all {
		c.closeWith(CloseGoingAway, "Going away")
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("gateway: %d connections still closing after %s", g.Connections(), timeout)
	}
}

// begin counts a handshake for Close to wait on; false once Close began.
// Adding to wg under the lock that Close takes before it waits keeps Add
// from racing with Wait.
func (g *Gateway) begin() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *Gateway) lookup(id string) *conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns[id]
}

// register makes c reachable through @connections and closable by Close;
// false once Close began.
func (g *Gateway) register(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.conns[c.id] = c
	return true
}

func (g *Gateway) unregister(c *conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[c.id] == c {
		delete(g.conns, c.id)
	}
}

// invoke runs one function as Lambda would: its own deadline, and a panic is
// a function error rather than a crash of the whole stack.
func (g *Gateway) invoke(routeKey string, req awsevents.APIGatewayWebsocketProxyRequest) (resp awsevents.APIGatewayProxyResponse, found bool, err error) {
	name := g.opt.FunctionFor(routeKey)
	h := g.opt.Functions(name)
	if h == nil {
		return resp, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.opt.IntegrationTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("function %s panicked: %v", name, p)
		}
	}()
	start := time.Now()
	resp, err = h(ctx, req)
	if err != nil {
		g.log.Error("function failed", "function", name, "route", routeKey,
			"connection", req.RequestContext.ConnectionID, "requestId", req.RequestContext.RequestID,
			"ms", time.Since(start).Milliseconds(), "err", err)
	}
	return resp, true, err
}

// gatewayError is what API Gateway posts to a client when an integration
// fails, plus the protocol's type and code.
func gatewayError(connID, requestID, code, message string) []byte {
	b, _ := json.Marshal(struct {
		Type         string `json:"type"`
		Code         string `json:"code"`
		Message      string `json:"message"`
		ConnectionID string `json:"connectionId"`
		RequestID    string `json:"requestId"`
	}{"error", code, message, connID, requestID})
	return b
}
