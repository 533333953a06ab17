package lambdas

import (
	"context"

	awsevents "github.com/aws/aws-lambda-go/events"
)

// Sweep moves the rooms of SFU nodes that stopped heartbeating onto live
// nodes of this region: each participant is joined on the new node and told
// media_reconnect (their signaling stays up; they publish again). Run it on
// a schedule (the "sweep" function; the local stack calls it on a ticker).
func (h *Handlers) Sweep(ctx context.Context) error {
	moved, err := h.d.State.Sweep(ctx, h.d.Region)
	if err != nil {
		h.log.Error("sweep failed", "region", h.d.Region, "err", err)
		return err
	}
	for _, m := range moved {
		h.log.Warn("room moved off a dead node", "room", m.Room, "from", m.From, "to", m.To, "participants", len(m.Conns))
		h.moveMedia(ctx, m.Room, m.To, m.Participants, m.Conns)
	}
	return nil
}

// sweepHandler is the "sweep" function (a scheduled invocation, no route).
func (h *Handlers) sweepHandler(ctx context.Context, _ awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
	if err := h.Sweep(ctx); err != nil {
		return awsevents.APIGatewayProxyResponse{StatusCode: 500}, err
	}
	return ok, nil
}
