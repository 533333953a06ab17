package lambdas

import (
	"context"

	awsevents "github.com/aws/aws-lambda-go/events"
)

// Sweep moves the rooms of SFU nodes that stopped heartbeating onto live
// nodes of this region and tells each participant media_reconnect (their
// signaling stays up; they join again with a new media session). The live
// nodes do this themselves within seconds; this scheduled run (the "sweep"
// function; the local stack calls it on a ticker) is the backstop.
func (h *Handlers) Sweep(ctx context.Context) error {
	moved, err := h.d.State.Sweep(ctx, h.d.Region)
	if err != nil {
		h.log.Error("sweep failed", "region", h.d.Region, "err", err)
		return err
	}
	for _, m := range moved {
		h.log.Warn("room moved off a dead node", "room", m.Room, "from", m.From, "to", m.To, "epoch", m.Epoch, "participants", len(m.Conns))
		h.mediaMoved(ctx, m.Conns, m.Epoch, "media server moved")
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
