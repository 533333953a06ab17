package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/veet-dev/veet/localstack/gateway"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// recorder is a fake set of Lambda functions that records every invocation.
type recorder struct {
	mu       sync.Mutex
	calls    []call
	notify   chan struct{}
	connect  func(awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error)
	onInvoke func(fn string, req awsevents.APIGatewayWebsocketProxyRequest) error
}

type call struct {
	fn  string
	req awsevents.APIGatewayWebsocketProxyRequest
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{})} }

func (r *recorder) functions(name string) gateway.Handler {
	return func(ctx context.Context, req awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
		r.mu.Lock()
		r.calls = append(r.calls, call{name, req})
		close(r.notify)
		r.notify = make(chan struct{})
		connect, onInvoke := r.connect, r.onInvoke
		r.mu.Unlock()
		if name == "connect" && connect != nil {
			return connect(req)
		}
		if onInvoke != nil {
			if err := onInvoke(name, req); err != nil {
				return awsevents.APIGatewayProxyResponse{}, err
			}
		}
		return awsevents.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
}

// waitCalls waits until match accepts the calls so far.
func (r *recorder) waitCalls(t *testing.T, what string, match func([]call) bool) []call {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		calls := append([]call(nil), r.calls...)
		notify := r.notify
		r.mu.Unlock()
		if match(calls) {
			return calls
		}
		select {
		case <-notify:
		case <-deadline:
			var got []string
			for _, c := range calls {
				got = append(got, c.fn+":"+c.req.RequestContext.RouteKey)
			}
			t.Fatalf("timed out waiting for %s; calls: %v", what, got)
		}
	}
}

// all returns the calls so far.
func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func byRoute(calls []call, route string) []call {
	var out []call
	for _, c := range calls {
		if c.req.RequestContext.RouteKey == route {
			out = append(out, c)
		}
	}
	return out
}

func hasRoute(route string, n int) func([]call) bool {
	return func(c []call) bool { return len(byRoute(c, route)) >= n }
}

func start(t *testing.T, rec *recorder, opt gateway.Options) (*gateway.Gateway, string) {
	t.Helper()
	opt.Functions = rec.functions
	g := gateway.New(opt)
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		_ = g.Close(5 * time.Second)
		srv.Close()
	})
	return g, srv.URL
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/ws" }

func TestGatewayConnectMessageDisconnect(t *testing.T) {
	rec := newRecorder()
	g, base := start(t, rec, gateway.Options{})
	c := wsclient.Dial(t, wsURL(base)+"?token=abc&x=1&x=2", wsclient.Options{Header: http.Header{"User-Agent": {"veet-test"}}})

	conn := rec.waitCalls(t, "$connect", hasRoute("$connect", 1))[0]
	rc := conn.req.RequestContext
	if conn.fn != "connect" || rc.EventType != "CONNECT" || rc.Stage != "local" || rc.APIID == "" {
		t.Errorf("connect: fn %q eventType %q stage %q apiId %q", conn.fn, rc.EventType, rc.Stage, rc.APIID)
	}
	if len(rc.ConnectionID) != 16 || rc.RequestID == "" || rc.RequestID == rc.ConnectionID {
		t.Errorf("connection id %q request id %q", rc.ConnectionID, rc.RequestID)
	}
	if rc.DomainName != strings.TrimPrefix(base, "http://") || rc.Identity.SourceIP != "127.0.0.1" || rc.Identity.UserAgent != "veet-test" {
		t.Errorf("domain %q sourceIp %q userAgent %q", rc.DomainName, rc.Identity.SourceIP, rc.Identity.UserAgent)
	}
	if rc.ConnectedAt == 0 || rc.RequestTimeEpoch < rc.ConnectedAt {
		t.Errorf("connectedAt %d requestTimeEpoch %d", rc.ConnectedAt, rc.RequestTimeEpoch)
	}
	q := conn.req.QueryStringParameters
	if q["token"] != "abc" || q["x"] != "2" || len(conn.req.MultiValueQueryStringParameters["x"]) != 2 {
		t.Errorf("query %v / %v", q, conn.req.MultiValueQueryStringParameters)
	}
	if conn.req.Headers["User-Agent"] != "veet-test" {
		t.Errorf("headers %v", conn.req.Headers)
	}

	// Route selection on action; $default for the rest; in order.
	bodies := []string{
		`{"action":"join","id":"1"}`,
		`{"action":"no_such_action","id":"2"}`,
		`not json`,
		`{"action":"$connect"}`,
		`{"action":42}`,
		`{"action":"admit","id":"3"}`,
		`{"action":"ping","id":"4"}`,
	}
	for _, b := range bodies {
		if err := c.SendRaw([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	calls := rec.waitCalls(t, "7 messages", func(c []call) bool { return len(c) >= 8 })
	wantFn := []string{"join", "default", "default", "default", "default", "lobby", "ping"}
	wantRoute := []string{"join", "$default", "$default", "$default", "$default", "admit", "ping"}
	seen := map[string]bool{}
	for i, cl := range calls[1:8] {
		rc := cl.req.RequestContext
		if cl.fn != wantFn[i] || rc.RouteKey != wantRoute[i] || cl.req.Body != bodies[i] {
			t.Errorf("message %d: fn %q route %q body %q; want %q %q %q", i, cl.fn, rc.RouteKey, cl.req.Body, wantFn[i], wantRoute[i], bodies[i])
		}
		if rc.EventType != "MESSAGE" || rc.ConnectionID != conn.req.RequestContext.ConnectionID || rc.MessageID == nil {
			t.Errorf("message %d: eventType %q conn %q messageId %v", i, rc.EventType, rc.ConnectionID, rc.MessageID)
		}
		if seen[rc.RequestID] {
			t.Errorf("request id %q reused", rc.RequestID)
		}
		seen[rc.RequestID] = true
	}

	c.Close()
	calls = rec.waitCalls(t, "$disconnect", hasRoute("$disconnect", 1))
	d := byRoute(calls, "$disconnect")[0].req.RequestContext
	if d.EventType != "DISCONNECT" || d.DisconnectStatusCode != 1000 || d.ConnectionID != rc.ConnectionID {
		t.Errorf("disconnect: %q code %d conn %q", d.EventType, d.DisconnectStatusCode, d.ConnectionID)
	}
	// Close returns once every connection's $disconnect has: a second one
	// for this socket would be in by then.
	if err := g.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(byRoute(rec.all(), "$disconnect")); n != 1 {
		t.Errorf("%d $disconnect calls, want 1", n)
	}
}

func TestGatewayConnectRefused(t *testing.T) {
	rec := newRecorder()
	rec.connect = func(awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
		return awsevents.APIGatewayProxyResponse{StatusCode: 401, Body: "bad token"}, nil
	}
	g, base := start(t, rec, gateway.Options{})
	_, resp, err := wsclient.DialErr(wsURL(base), wsclient.Options{})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("dial: err %v resp %v; want a 401 refusal", err, resp)
	}
	if g.Connections() != 0 {
		t.Errorf("%d connections after a refusal", g.Connections())
	}
	time.Sleep(50 * time.Millisecond) // nothing to wait for: the refusal must not be followed by anything
	if d := byRoute(rec.all(), "$disconnect"); len(d) != 0 {
		t.Errorf("$disconnect after a refused $connect")
	}
}

func TestGatewayConnectSubprotocol(t *testing.T) {
	rec := newRecorder()
	rec.connect = func(req awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
		// Handlers read the header in its RFC spelling, as API Gateway passes it.
		offered := req.Headers["Sec-WebSocket-Protocol"]
		return awsevents.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"sec-websocket-protocol": offered}}, nil
	}
	_, base := start(t, rec, gateway.Options{})
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{Header: http.Header{"Sec-WebSocket-Protocol": {"veet.v1"}}})
	if p := c.Conn().Subprotocol(); p != "veet.v1" {
		t.Errorf("subprotocol %q", p)
	}
}

func TestGatewayHandlerErrorTellsClient(t *testing.T) {
	rec := newRecorder()
	rec.onInvoke = func(fn string, _ awsevents.APIGatewayWebsocketProxyRequest) error {
		if fn == "ping" {
			return errors.New("boom")
		}
		return nil
	}
	_, base := start(t, rec, gateway.Options{})
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	c.MustSend(t, "ping", nil)
	e := c.WaitFor(t, "error")
	if e.Code != "internal" || e.Message != "Internal server error" || e.RequestID == "" {
		t.Errorf("error event %s", e)
	}
}

func TestGatewayDroppedSocketDisconnectsOnce(t *testing.T) {
	rec := newRecorder()
	g, base := start(t, rec, gateway.Options{})
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	rec.waitCalls(t, "$connect", hasRoute("$connect", 1))
	c.Drop()
	calls := rec.waitCalls(t, "$disconnect", hasRoute("$disconnect", 1))
	d := byRoute(calls, "$disconnect")[0].req.RequestContext
	if d.DisconnectStatusCode != gateway.CloseAbnormal {
		t.Errorf("disconnect code %d, want 1006", d.DisconnectStatusCode)
	}
	if g.Connections() != 0 {
		t.Errorf("%d connections left", g.Connections())
	}
}

func TestGatewayIdleTimeoutAndMaxDuration(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{IdleTimeout: 300 * time.Millisecond, MaxDuration: 900 * time.Millisecond})
	idle := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	busy := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	opened := time.Now()
	// busy sends a message every 100 ms: never idle, still cut at MaxDuration.
	stop := make(chan struct{})
	go func() {
		for range 20 {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				_, _ = busy.Send("ping", nil)
			}
		}
	}()
	defer close(stop)
	if code := idle.WaitClosed(t); code != gateway.CloseGoingAway {
		t.Errorf("idle close code %d, want 1001", code)
	}
	if el := time.Since(opened); el > 800*time.Millisecond {
		t.Errorf("idle socket closed after %s", el)
	}
	if done, _, _ := busy.Closed(); done {
		t.Fatalf("busy socket closed with the idle one")
	}
	if code := busy.WaitClosed(t); code != gateway.CloseGoingAway {
		t.Errorf("busy close code %d, want 1001", code)
	}
	if el := time.Since(opened); el < 850*time.Millisecond {
		t.Errorf("busy socket closed after only %s", el)
	}
	calls := rec.waitCalls(t, "2 $disconnect", hasRoute("$disconnect", 2))
	for _, d := range byRoute(calls, "$disconnect") {
		if d.req.RequestContext.DisconnectStatusCode != 1001 || *d.req.RequestContext.DisconnectReason != "Going away" {
			t.Errorf("disconnect %d %q", d.req.RequestContext.DisconnectStatusCode, *d.req.RequestContext.DisconnectReason)
		}
	}
}

func TestGatewayCloseGoesAway(t *testing.T) {
	rec := newRecorder()
	g, base := start(t, rec, gateway.Options{})
	a := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	b := wsclient.Dial(t, wsURL(base), wsclient.Options{})
	rec.waitCalls(t, "2 $connect", hasRoute("$connect", 2))
	if err := g.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(byRoute(rec.all(), "$disconnect")); n != 2 {
		t.Errorf("%d $disconnect after Close, want 2", n)
	}
	for _, c := range []*wsclient.Client{a, b} {
		if code := c.WaitClosed(t); code != gateway.CloseGoingAway {
			t.Errorf("close code %d", code)
		}
	}
	if _, resp, err := wsclient.DialErr(wsURL(base), wsclient.Options{}); err == nil {
		t.Errorf("dial after Close succeeded (%v)", resp.Status)
	}
}

// Every goroutine of a connection (reader, handler worker, writer) ends
// with its socket, whichever side closed it and however.
func TestGatewayConnectionGoroutinesEndWithTheSocket(t *testing.T) {
	rec := newRecorder()
	g, base := start(t, rec, gateway.Options{})
	before := runtime.NumGoroutine()
	var cs []*wsclient.Client
	for range 12 {
		cs = append(cs, wsclient.Dial(t, wsURL(base), wsclient.Options{}))
	}
	rec.waitCalls(t, "12 $connect", hasRoute("$connect", 12))
	for i, c := range cs {
		c.MustSend(t, "ping", nil)
		switch i % 3 {
		case 0:
			c.Close()
		case 1:
			c.Drop()
		}
	}
	rec.waitCalls(t, "8 $disconnect", hasRoute("$disconnect", 8))
	if err := g.Close(5 * time.Second); err != nil { // the last 4: closed by the server
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before the connections:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
