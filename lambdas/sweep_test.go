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

	// A second node comes up; n1 dies (its heartbeat entry expires).
	_ = e.st.Heartbeat(ctx, events.NodeInfo{ID: "n2", Region: "local", State: events.NodeServing}, time.Minute)
	if err := e.h.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if len(e.commands("n2")) != 0 {
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
	cmds := e.commands("n2")
	if len(cmds) != 2 || cmds[0].Type != events.CmdJoin || cmds[1].Type != events.CmdJoin {
		t.Fatalf("n2 commands %+v", cmds)
	}
	for _, c := range []events.ConnectionID{"c-host", "c-bob"} {
		e.one(e.push.take(c), "media_reconnect")
	}
	// A second sweep has nothing to do.
	_ = e.h.Sweep(ctx)
	if len(e.commands("n2")) != 2 {
		t.Fatal("second sweep re-sent joins")
	}
}
