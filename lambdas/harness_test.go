package lambdas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/internal/token"
	"github.com/veet-dev/veet/lambdas/routes"
)

// recorder is an in-memory Pusher: it keeps every event posted to each
// connection, and answers 410 for connections marked gone.
type recorder struct {
	mu      sync.Mutex
	got     map[events.ConnectionID][]map[string]any
	deleted map[events.ConnectionID]bool
	gone    map[events.ConnectionID]bool
}

func newRecorder() *recorder {
	return &recorder{got: map[events.ConnectionID][]map[string]any{}, deleted: map[events.ConnectionID]bool{}, gone: map[events.ConnectionID]bool{}}
}

func (r *recorder) Post(_ context.Context, to events.ConnRef, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone[to.ConnectionID] || r.deleted[to.ConnectionID] {
		return push.ErrGone
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	r.got[to.ConnectionID] = append(r.got[to.ConnectionID], m)
	return nil
}

func (r *recorder) Delete(_ context.Context, to events.ConnRef) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted[to.ConnectionID] = true
	return nil
}

// take returns and forgets what conn received.
func (r *recorder) take(conn events.ConnectionID) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got[conn]
	delete(r.got, conn)
	return out
}

type env struct {
	t     testing.TB
	h     *Handlers
	push  *recorder
	st    *state.Store
	bus   *bus.Bus
	tok   *token.Signer
	reqID atomic.Int64
	// ip is each connection's source address (API Gateway's identity.sourceIp).
	ip map[events.ConnectionID]string
}

func newEnv(t testing.TB) *env {
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	signer, err := token.New([]byte("test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, push: newRecorder(), st: state.New(rdb), bus: bus.New(rdb, nil), tok: signer, ip: map[events.ConnectionID]string{}}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	if _, bench := t.(*testing.B); bench {
		log = slog.New(slog.DiscardHandler) // a benchmark's table, not its logs
	}
	e.h = New(Deps{State: e.st, Bus: e.bus, Push: e.push, Tokens: signer, Region: "local", CallbackURL: "http://gw",
		AwayGrace: 50 * time.Millisecond, Log: log})
	if err := e.st.Heartbeat(context.Background(), events.NodeInfo{ID: "n1", Region: "local", State: events.NodeServing}, time.Minute); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) invoke(routeKey string, conn events.ConnectionID, body string, query map[string]string) awsevents.APIGatewayProxyResponse {
	e.t.Helper()
	req := awsevents.APIGatewayWebsocketProxyRequest{
		Body:                  body,
		QueryStringParameters: query,
		RequestContext: awsevents.APIGatewayWebsocketProxyRequestContext{
			RouteKey: routeKey, ConnectionID: string(conn), RequestID: fmt.Sprintf("gw-%d", e.reqID.Add(1)),
			DomainName: "example.execute-api", Stage: "prod", EventType: "MESSAGE",
			Identity: awsevents.APIGatewayRequestIdentity{SourceIP: e.ip[conn]},
		},
	}
	resp, err := e.h.Function(routes.FunctionFor(routeKey))(context.Background(), req)
	if err != nil {
		e.t.Fatalf("%s: %v", routeKey, err)
	}
	return resp
}

func (e *env) connect(conn events.ConnectionID, tok string) int {
	var q map[string]string
	if tok != "" {
		q = map[string]string{"token": tok}
	}
	return e.invoke("$connect", conn, "", q).StatusCode
}

// send sends a client message (its action is the route key, as API Gateway
// selects it) and returns what the caller received.
func (e *env) send(conn events.ConnectionID, msg map[string]any) []map[string]any {
	e.t.Helper()
	body, _ := json.Marshal(msg)
	action, _ := msg["action"].(string)
	e.invoke(action, conn, string(body), nil)
	return e.push.take(conn)
}

// one returns the single event of type typ in evs, failing otherwise.
func (e *env) one(evs []map[string]any, typ string) map[string]any {
	e.t.Helper()
	var found map[string]any
	for _, ev := range evs {
		if ev["type"] == typ {
			if found != nil {
				e.t.Fatalf("two %s events in %v", typ, evs)
			}
			found = ev
		}
	}
	if found == nil {
		e.t.Fatalf("no %s event in %v", typ, evs)
	}
	return found
}

func (e *env) errorCode(evs []map[string]any) string {
	e.t.Helper()
	ev := e.one(evs, "error")
	if ev["requestId"] == "" || ev["message"] == "" {
		e.t.Fatalf("error without request id or message: %v", ev)
	}
	return ev["code"].(string)
}

// commands returns the commands queued for node so far, in order.
func (e *env) commands(node events.NodeID) []events.Command {
	e.t.Helper()
	msgs, err := e.st.Redis().XRange(context.Background(), bus.StreamKey(node), "-", "+").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []events.Command
	for _, m := range msgs {
		var c events.Command
		_ = json.Unmarshal([]byte(m.Values["c"].(string)), &c)
		out = append(out, c)
	}
	return out
}

// meeting creates a meeting from conn and joins it as host.
func (e *env) meeting(conn events.ConnectionID) (code events.RoomCode, host events.ParticipantID, hostToken string) {
	e.t.Helper()
	e.connect(conn, "")
	created := e.one(e.send(conn, map[string]any{"action": "create", "id": "c1", "title": "Standup"}), "created")
	code = events.RoomCode(created["code"].(string))
	hostToken = created["hostToken"].(string)
	joined := e.one(e.send(conn, map[string]any{"action": "join", "id": "j1", "code": code, "name": "Host", "token": hostToken, "micOn": true, "camOn": true}), "joined")
	host = events.ParticipantID(joined["you"].(map[string]any)["id"].(string))
	return code, host, hostToken
}

// participantToken signs a participant token for code.
func (e *env) participantToken(code events.RoomCode) (events.ParticipantID, string) {
	pid := events.NewParticipantID()
	tok, err := e.tok.Sign(token.Claims{Room: code, Participant: pid, Role: events.RoleParticipant}, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return pid, tok
}

// seat joins a participant named name into code on connection conn with
// mic and camera as given, fails unless joined, and returns its id. The
// events it caused are taken from conn; others keep theirs.
func (e *env) seat(conn events.ConnectionID, code events.RoomCode, name string, av bool) events.ParticipantID {
	e.t.Helper()
	pid, tok := e.participantToken(code)
	e.connect(conn, "")
	e.one(e.send(conn, map[string]any{"action": "join", "id": "j", "code": code, "name": name, "token": tok, "micOn": av, "camOn": av}), "joined")
	return pid
}

// breakBus makes every command send fail, as when the bus's Redis is out of
// reach, until the returned func puts the working handlers back.
func (e *env) breakBus() (restore func()) {
	broken := redis.NewClient(&redis.Options{MaxRetries: -1, DialerRetries: 1, Dialer: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("bus out of reach")
	}})
	e.t.Cleanup(func() { _ = broken.Close() })
	good := e.h
	e.h = New(Deps{State: e.st, Bus: bus.New(broken, nil), Push: e.push, Tokens: e.tok, Region: "local",
		CallbackURL: "http://gw", Log: good.log})
	return func() { e.h = good }
}
