package lambdas

import (
	"context"
	"strconv"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/state"
)

// connect records the connection. A token in the query string (?token=…)
// must be valid — 401 refuses the socket — and is then used by a join that
// carries none; guests connect without one.
func (h *Handlers) connect(ctx context.Context, req *awsevents.APIGatewayWebsocketProxyRequest) awsevents.APIGatewayProxyResponse {
	rc := req.RequestContext
	// Sockets per address are bounded (state.ConnectLimit): each one gets
	// its own message budget, so an unbounded number would be an unbounded
	// budget. A refused handshake costs this call and nothing in Redis.
	allowed, retry, err := h.d.State.AllowSource(ctx, "connect", knockSource(rc.Identity.SourceIP), state.ConnectLimit)
	if err != nil {
		h.log.Error("connect: source limit", "conn", rc.ConnectionID, "err", err)
		return awsevents.APIGatewayProxyResponse{StatusCode: 500}
	}
	if !allowed {
		h.log.Debug("connect refused: too many from one address", "conn", rc.ConnectionID, "source", rc.Identity.SourceIP)
		return awsevents.APIGatewayProxyResponse{StatusCode: 429, Body: "too many connections from your address",
			Headers: map[string]string{"Retry-After": strconv.Itoa(int(retry.Seconds()) + 1)}}
	}
	tok := req.QueryStringParameters["token"]
	if tok != "" {
		if _, err := h.d.Tokens.Verify(tok); err != nil {
			h.log.Debug("connect refused", "conn", rc.ConnectionID, "err", err)
			return awsevents.APIGatewayProxyResponse{StatusCode: 401, Body: "unauthorized"}
		}
	}
	c := state.Conn{ID: events.ConnectionID(rc.ConnectionID), Endpoint: h.endpoint(req), Token: tok}
	if err := h.d.State.PutConn(ctx, c); err != nil {
		h.log.Error("connect: state", "conn", rc.ConnectionID, "err", err)
		return awsevents.APIGatewayProxyResponse{StatusCode: 500}
	}
	return ok
}

// disconnect frees the connection's seat or lobby place (best effort in API
// Gateway; 410s on push and TTLs catch what it misses).
func (h *Handlers) disconnect(ctx context.Context, req *awsevents.APIGatewayWebsocketProxyRequest) awsevents.APIGatewayProxyResponse {
	h.dropConn(ctx, events.ConnectionID(req.RequestContext.ConnectionID), events.ReasonDisconnected)
	return ok
}
