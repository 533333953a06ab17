package lambdas

import (
	"context"

	awsevents "github.com/aws/aws-lambda-go/events"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

func TestRedisHandlersSweepMovesRoomsOffDeadNodes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	code, _, _ := e.meeting("c-host")
	e.seat("c-bob", code, "Bob", false)
	e.push.take("c-host")

	// A second node comes up, beating for a while; n1 dies (its heartbeat
	// entry expires).
	_ = e.st.Heartbeat(ctx, events.NodeInfo{ID: "n2", Region: "local", State: events.NodeServing,
		HealthySince: time.Now().Add(-time.Minute).UnixMilli()}, time.Minute)
	if err := e.h.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _ := e.st.Meeting(ctx, code); m.Node != "n1" {
		t.Fatal("sweep moved a room off a live node")
	}
	_ = e.st.Redis().Del(ctx, "node:{n1}")
	resp, err := e.h.Function("sweep")(ctx, awsevents.APIGatewayWebsocketProxyRequest{})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sweep: %v %v", resp, err)
	}
	m, _ := e.st.Meeting(ctx, code)
	if m.Node != "n2" {
		t.Fatalf("room on %q after sweep", m.Node)
	}
	// Everyone is told to follow the room, with its new epoch; nothing goes
	// to n2 until they join there with their new media sessions.
	if cmds := e.commands("n2"); len(cmds) != 0 {
		t.Fatalf("n2 got commands before anyone joined there: %+v", cmds)
	}
	_, epoch, err := e.st.Seat(ctx, code, e.hostOf(code), "c-host")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []events.ConnectionID{"c-host", "c-bob"} {
		if mr := e.one(e.push.take(c), "media_reconnect"); uint64(mr["epoch"].(float64)) != epoch {
			t.Fatalf("%s told %v, room epoch %d", c, mr, epoch)
		}
	}
	// A second sweep has nothing to do.
	_ = e.h.Sweep(ctx)
	for _, c := range []events.ConnectionID{"c-host", "c-bob"} {
		if got := e.push.take(c); len(got) != 0 {
			t.Fatalf("second sweep told %s %v", c, got)
		}
	}
}
