package lambdas

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/token"
	"github.com/veet-dev/veet/lambdas/routes"
)

// TestRedisHandlersFloodIsShed: 1,000 updates at once from a host. The
// bucket's worth is handled, one refusal is answered, the rest go
// unanswered until the flood is shed: one "flooding" error naming the
// request, the socket closed, and nothing it sends after handled. Bob, who
// did not flood, gets every presence event in order.
func TestRedisHandlersFloodIsShed(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	bob := e.seat("c-bob", code, "Bob", false)
	e.push.take("c-host")
	e.push.take("c-bob")
	count := map[string]int{}
	var flooding map[string]any
	at := time.Now() // the whole flood arrives at one instant, however slowly it is handled
	for i := range 1000 {
		for _, ev := range e.sendAt("c-host", map[string]any{"action": "update", "id": fmt.Sprint("u", i), "handRaised": i%2 == 0}, at) {
			key, _ := ev["type"].(string)
			if key == "error" {
				key = ev["code"].(string)
			}
			count[key]++
			if key == "flooding" {
				flooding = ev
			}
			if key == "rate_limited" && ev["retryAfterMs"].(float64) <= 0 {
				t.Fatalf("rate_limited without retryAfterMs: %v", ev)
			}
		}
	}
	// create, join and one update per token: the bucket holds 40. The host
	// sees its own updates too.
	acked := count["ack"]
	if acked < state.RateBurst-3 || acked > state.RateBurst || count["rate_limited"] != 1 || count["flooding"] != 1 ||
		count["participant_updated"] != acked || len(count) != 4 {
		t.Fatalf("answers %v", count)
	}
	if flooding["id"] != fmt.Sprint("u", acked+state.ShedCount-1) || flooding["retryAfterMs"].(float64) <= 0 {
		t.Fatalf("flooding error %v (after %d acks)", flooding, acked)
	}
	if !e.push.deleted["c-host"] {
		t.Fatal("the flooding socket was not closed")
	}
	// Only the handled updates moved the room (join, bob's join, acks, the
	// flooder's leave, and bob made co-host since the host was the last).
	room, _ := e.st.Snapshot(context.Background(), code, bob, "c-bob")
	if room.Seq != uint64(2+acked+2) {
		t.Fatalf("seq %d after %d accepted updates, a leave and a handover", room.Seq, acked)
	}
	// Bob saw each of them, in order, and then the flooder leave: a socket
	// the server closed keeps no seat for reconnecting.
	evs := e.push.take("c-bob")
	if len(evs) != acked+2 {
		t.Fatalf("bob got %d events for %d updates, a leave and a handover", len(evs), acked)
	}
	for i, ev := range evs[:acked] {
		if ev["type"] != "participant_updated" || ev["seq"].(float64) != float64(3+i) {
			t.Fatalf("bob's event %d: %v", i, ev)
		}
	}
	if pl := evs[acked]; pl["type"] != "participant_left" || pl["reason"] != "disconnected" {
		t.Fatalf("leave event %v", pl)
	}
	if pu := evs[acked+1]; pu["type"] != "participant_updated" || pu["reason"] != "handover" {
		t.Fatalf("handover event %v", pu)
	}
	// The closed socket's $disconnect finds nothing left to free.
	e.invoke("$disconnect", "c-host", "", nil)
	if got := e.push.take("c-bob"); len(got) != 0 {
		t.Fatalf("bob got %v after the $disconnect", got)
	}
}

// TestRedisHandlersClosedConnectionIsDropped: messages that reach a handler
// after their socket was closed (API Gateway invokes in no order) change
// nothing, get no answer, and do not bring the connection back.
func TestRedisHandlersClosedConnectionIsDropped(t *testing.T) {
	e := newEnv(t)
	code, _, _ := e.meeting("c-host")
	bob := e.seat("c-bob", code, "Bob", true)
	e.one(e.send("c-host", map[string]any{"action": "remove", "id": "x", "participantId": bob}), "ack")
	e.push.take("c-bob")
	before, _ := e.st.Snapshot(context.Background(), code, e.hostOf(code), "c-host")
	if got := e.send("c-bob", map[string]any{"action": "update", "id": "late", "micOn": false}); len(got) != 0 {
		t.Fatalf("a removed socket's message was answered: %v", got)
	}
	e.invoke("$disconnect", "c-carol", "", nil) // never connected: harmless
	e.connect("c-carol", "")
	e.invoke("$disconnect", "c-carol", "", nil)
	if got := e.send("c-carol", map[string]any{"action": "ping", "id": "late"}); len(got) != 0 {
		t.Fatalf("a disconnected socket's ping was answered: %v", got)
	}
	for _, id := range []events.ConnectionID{"c-bob", "c-carol"} {
		if c, err := e.st.GetConn(context.Background(), id); c != nil || err != nil {
			t.Fatalf("%s came back: %+v %v", id, c, err)
		}
	}
	after, _ := e.st.Snapshot(context.Background(), code, e.hostOf(code), "c-host")
	if after.Seq != before.Seq {
		t.Fatalf("seq moved %d → %d", before.Seq, after.Seq)
	}
}

// TestRedisHandlersLimitsPerSource: one address opens at most the connect
// burst of sockets and creates at most the create burst of meetings at once
// (issue 11: 1,148 meetings in 5 s from one address); another address, and
// loopback (the local stack), are not held by it.
func TestRedisHandlersLimitsPerSource(t *testing.T) {
	e := newEnv(t)
	conn := func(i int, ip string) events.ConnectionID {
		id := events.ConnectionID(fmt.Sprintf("c-%s-%d", ip, i))
		e.ip[id] = ip
		return id
	}
	for i := range state.ConnectLimit.Burst {
		if got := e.connect(conn(i, "203.0.113.7"), ""); got != 200 {
			t.Fatalf("connect %d: %d", i, got)
		}
	}
	resp := e.invoke("$connect", conn(-1, "203.0.113.7"), "", nil)
	if resp.StatusCode != 429 || resp.Headers["Retry-After"] == "" {
		t.Fatalf("connect past the burst: %+v", resp)
	}
	if got := e.connect(conn(0, "198.51.100.1"), ""); got != 200 {
		t.Fatalf("another address: %d", got)
	}
	if got := e.connect(conn(0, "127.0.0.1"), ""); got != 200 {
		t.Fatalf("loopback: %d", got)
	}

	created := 0
	for i := range state.CreateLimit.Burst + 5 {
		evs := e.send(conn(i, "203.0.113.7"), map[string]any{"action": "create", "id": fmt.Sprint("c", i)})
		switch ev := evs[0]; {
		case ev["type"] == "created":
			created++
		case ev["code"] == "rate_limited" && ev["id"] == fmt.Sprint("c", i) && ev["retryAfterMs"].(float64) > 5000:
		default:
			t.Fatalf("create %d: %v", i, ev)
		}
	}
	if created != state.CreateLimit.Burst {
		t.Fatalf("%d meetings created at once from one address", created)
	}
	if ev := e.one(e.send(conn(1, "198.51.100.1"), map[string]any{"action": "create", "id": "o"}), "created"); ev["code"] == "" {
		t.Fatal(ev)
	}
}

// TestRedisHandlersSocketTokenRefusedNotKnocked: a join without a token uses
// the socket's ($connect's); when that is for another meeting, or expired
// since, the join is unauthorized — it does not silently knock.
func TestRedisHandlersSocketTokenRefusedNotKnocked(t *testing.T) {
	e := newEnv(t)
	codeA, _, _ := e.meeting("c-host-a")
	codeB, _, _ := e.meeting("c-host-b")
	e.push.take("c-host-b")
	_, tokA := e.participantToken(codeA)
	if got := e.connect("c-x", tokA); got != 200 {
		t.Fatalf("connect: %d", got)
	}
	evs := e.send("c-x", map[string]any{"action": "join", "id": "j1", "code": codeB, "name": "X"})
	if e.errorCode(evs) != "unauthorized" || evs[0]["id"] != "j1" {
		t.Fatalf("join B with A's socket token: %v", evs)
	}
	if got := e.push.take("c-host-b"); len(got) != 0 {
		t.Fatalf("B's host heard of it: %v", got)
	}

	pid := events.NewParticipantID()
	short, err := e.tok.Sign(token.Claims{Room: codeA, Participant: pid, Role: events.RoleParticipant}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.connect("c-y", short); got != 200 {
		t.Fatalf("connect: %d", got)
	}
	time.Sleep(1100 * time.Millisecond)
	evs = e.send("c-y", map[string]any{"action": "join", "id": "j2", "code": codeA, "name": "Y"})
	if e.errorCode(evs) != "unauthorized" || evs[0]["id"] != "j2" {
		t.Fatalf("join with an expired socket token: %v", evs)
	}
	// A token in the message still wins over the socket's.
	_, tokB := e.participantToken(codeB)
	e.one(e.send("c-x", map[string]any{"action": "join", "id": "j3", "code": codeB, "name": "X", "token": tokB}), "joined")
}

// TestRedisHandlersLimitClocksArrival: the bucket runs on API Gateway's
// requestTimeEpoch, not on when a handler got to the message. Messages that
// arrived 1 ms apart are limited as a 1,000/s flood even when the handlers
// reach them at 50/s (with the handler's clock the first refusal would come
// only after 67 of them).
func TestRedisHandlersLimitClocksArrival(t *testing.T) {
	e := newEnv(t)
	e.connect("c1", "")
	base := time.Now()
	firstRefusal := -1
	for i := range 60 {
		for _, ev := range e.sendAt("c1", map[string]any{"action": "ping", "id": fmt.Sprint("p", i)}, base.Add(time.Duration(i)*time.Millisecond)) {
			if ev["code"] == "rate_limited" && firstRefusal < 0 {
				firstRefusal = i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if firstRefusal < state.RateBurst || firstRefusal > state.RateBurst+2 {
		t.Fatalf("first refusal at message %d, want the one after the burst of %d", firstRefusal, state.RateBurst)
	}
}

// sendAt is send with API Gateway's requestTimeEpoch set to at.
func (e *env) sendAt(conn events.ConnectionID, msg map[string]any, at time.Time) []map[string]any {
	e.t.Helper()
	body, _ := json.Marshal(msg)
	action, _ := msg["action"].(string)
	req := awsevents.APIGatewayWebsocketProxyRequest{
		Body: string(body),
		RequestContext: awsevents.APIGatewayWebsocketProxyRequestContext{
			RouteKey: action, ConnectionID: string(conn), RequestID: fmt.Sprintf("gw-%d", e.reqID.Add(1)),
			DomainName: "example.execute-api", Stage: "prod", EventType: "MESSAGE", RequestTimeEpoch: at.UnixMilli(),
		},
	}
	if _, err := e.h.Function(routes.FunctionFor(action))(context.Background(), req); err != nil {
		e.t.Fatalf("%s: %v", action, err)
	}
	return e.push.take(conn)
}
