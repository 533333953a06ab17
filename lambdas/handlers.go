// Package lambdas is the signaling plane: one handler per API Gateway
// WebSocket function (see lambdas/routes). Every handler reads and changes
// the room state in Redis (internal/state), sends commands to the room's SFU
// node (events/bus) and pushes replies, errors and broadcasts through
// `@connections` (events/push) — replies are pushed, not returned, so the
// same code works with and without API Gateway route responses.
package lambdas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/token"
	"github.com/veet-dev/veet/lambdas/routes"
)

// Handler is one Lambda function's entry point.
type Handler func(context.Context, awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error)

// Deps is what the handlers need; DepsFromEnv builds it for a deployed Lambda.
type Deps struct {
	State  *state.Store
	Bus    *bus.Bus
	Push   push.Pusher
	Tokens *token.Signer
	Region string
	// CallbackURL is the `@connections` endpoint; "" = https://{domainName}/{stage}
	// from the request.
	CallbackURL string
	// AwayGrace is how long a participant whose socket dropped keeps their
	// seat; 0 = state.AwayGrace.
	AwayGrace time.Duration
	// MaxParticipants and MaxLobby cap each meeting and its lobby; 0 =
	// state.DefaultMaxParticipants, state.DefaultMaxLobby.
	MaxParticipants, MaxLobby int
	Log                       *slog.Logger
}

// Handlers serves every function of the route table.
type Handlers struct {
	d Deps
	// push is d.Push with at most push.MaxConns posts in flight.
	push push.Pusher
	log  *slog.Logger
	// actions maps each client action to its handler.
	actions map[events.Action]action
}

// call is one client message being handled.
type call struct {
	req  *awsevents.APIGatewayWebsocketProxyRequest
	msg  events.ClientMessage
	conn *state.Conn
}

func (c *call) id() string                        { return c.msg.Head().ID }
func (c *call) gatewayID() string                 { return c.req.RequestContext.RequestID }
func (c *call) ref() events.ConnRef               { return c.conn.Ref() }
func (c *call) joined() bool                      { return c.conn.Room != "" && c.conn.Participant != "" }
func (c *call) connID() events.ConnectionID       { return c.conn.ID }
func (c *call) room() events.RoomCode             { return c.conn.Room }
func (c *call) participant() events.ParticipantID { return c.conn.Participant }

type action func(context.Context, *call) error

const (
	// MaxMessage is API Gateway's WebSocket message limit.
	MaxMessage = 128 * 1024
	// TokenTTL is how long a meeting token lets its holder (re)join.
	TokenTTL = 24 * time.Hour
	// pushTimeout bounds one post to a connection.
	pushTimeout = 5 * time.Second
	// reconnectAfterShed is the retryAfterMs a shed connection is given:
	// how long a client should wait before it connects again.
	reconnectAfterShed = 5 * time.Second
)

// New returns the handlers over d.
func New(d Deps) *Handlers {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := &Handlers{d: d, push: push.NewBounded(d.Push, 0), log: d.Log}
	h.actions = map[events.Action]action{
		events.ActionCreate:          h.create,
		events.ActionJoin:            h.join,
		events.ActionResync:          h.resync,
		events.ActionLeave:           h.leave,
		events.ActionPing:            h.ping,
		events.ActionUpdate:          h.update,
		events.ActionPublishOffer:    h.signal,
		events.ActionSubscribeAnswer: h.signal,
		events.ActionCandidate:       h.signal,
		events.ActionVideoSizes:      h.signal,
		events.ActionAdmit:           h.admit,
		events.ActionAdmitAll:        h.admit,
		events.ActionDeny:            h.deny,
		events.ActionMute:            h.mute,
		events.ActionMuteAll:         h.muteAll,
		events.ActionRemove:          h.remove,
		events.ActionLock:            h.lock,
		events.ActionEnd:             h.end,
		events.ActionSetRole:         h.setRole,
		events.ActionLookup:          h.lookup,
		events.ActionChat:            h.chat,
		events.ActionChatHistory:     h.chatHistory,
		events.ActionReact:           h.react,
		events.ActionSetChat:         h.setChat,
		events.ActionLowerHands:      h.lowerHands,
	}
	return h
}

// Function returns the handler of one function of routes.Functions; it
// dispatches on the request's route key. An unknown name gets a handler that
// answers 404, so a deployment mistake is loud.
func (h *Handlers) Function(name string) Handler {
	var keys []string
	for _, f := range routes.Functions {
		if f.Name == name {
			keys = f.RouteKeys
		}
	}
	if name == "sweep" {
		return h.sweepHandler
	}
	if keys == nil {
		return func(context.Context, awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
			return awsevents.APIGatewayProxyResponse{StatusCode: 404}, fmt.Errorf("lambdas: no function %q", name)
		}
	}
	return func(ctx context.Context, req awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
		switch rk := req.RequestContext.RouteKey; {
		case rk == "$connect" && slices.Contains(keys, rk):
			return h.connect(ctx, &req), nil
		case rk == "$disconnect" && slices.Contains(keys, rk):
			return h.disconnect(ctx, &req), nil
		case rk == "$connect" || rk == "$disconnect":
			return awsevents.APIGatewayProxyResponse{StatusCode: 404}, nil
		default:
			return h.message(ctx, &req, keys), nil
		}
	}
}

var ok = awsevents.APIGatewayProxyResponse{StatusCode: 200}

// message runs the middleware every client message goes through: rate
// limit and connection lookup, size, one strict decode (events.DecodeClient),
// route check; then the action. Any refusal is pushed to the caller as
// an error event naming the request, except where the rate limit says to
// drop: a flood costs no reply per message, and a closed connection none.
func (h *Handlers) message(ctx context.Context, req *awsevents.APIGatewayWebsocketProxyRequest, keys []string) awsevents.APIGatewayProxyResponse {
	rc := req.RequestContext
	connID := events.ConnectionID(rc.ConnectionID)
	ref := events.ConnRef{ConnectionID: connID, Endpoint: h.endpoint(req)}
	var head events.Request
	inv := h.measure("", rc.RequestID) // metrics.go; named once decoded
	defer func() { h.record(inv.named(h, head.Action)) }()
	refuse := func(e *events.Error, retry time.Duration) awsevents.APIGatewayProxyResponse {
		inv.code = e.Code
		ev := events.ErrorFor(head.ID, rc.RequestID, e)
		ev.RetryAfterMS = retry.Milliseconds()
		h.reply(ctx, ref, ev)
		return ok
	}
	// Every message counts against the limit, garbage too, at the time it
	// reached API Gateway; the connection's record comes in the same round
	// trip. A message dropped here is not even decoded: a flood costs one
	// script call per message.
	var arrived time.Time
	if rc.RequestTimeEpoch > 0 {
		arrived = time.UnixMilli(rc.RequestTimeEpoch)
	}
	in, err := h.d.State.Inbound(ctx, connID, arrived)
	if err != nil {
		h.log.Warn("rate limit and connection lookup failed", "conn", connID, "err", err)
		return refuse(clientError(err), 0)
	}
	if in.Verdict == state.Closed || in.Verdict == state.LimitedQuiet {
		return ok
	}
	var msg events.ClientMessage
	var perr *events.Error
	if len(req.Body) > MaxMessage {
		perr = events.Errorf(events.CodeMessageTooLarge, "messages are limited to %d bytes", MaxMessage)
	} else {
		msg, head, perr = events.DecodeClient([]byte(req.Body))
	}
	switch in.Verdict {
	case state.Limited:
		return refuse(events.Errorf(events.CodeRateLimited,
			"too many messages; slow down (for a second, refused messages get no answer)"), in.RetryAfter)
	case state.Shed:
		h.shed(ctx, ref, in.Conn, head.ID, rc.RequestID)
		return ok
	}
	if perr != nil {
		return refuse(perr, 0)
	}
	act := msg.Head().Action
	if !slices.Contains(keys, string(act)) {
		return refuse(events.Errorf(events.CodeUnknownAction, "no route for action %q", act), 0)
	}
	if rk := rc.RouteKey; rk != "$default" && rk != "" && rk != string(act) {
		// Route selection read another action than this decode did: never
		// with API Gateway's exact `$request.body.action`, so refuse rather
		// than guess which one the client meant.
		return refuse(events.Errorf(events.CodeBadRequest, "routed as %q but the action is %q", rk, act), 0)
	}
	conn := in.Conn
	if conn == nil {
		// $connect's record expired or was never written (a connection older
		// than the TTL): a connection API Gateway still routes is real.
		conn = &state.Conn{ID: connID, Endpoint: ref.Endpoint}
		if err := h.d.State.PutConn(ctx, *conn); err != nil {
			return refuse(clientError(err), 0)
		}
	}
	c := &call{req: req, msg: msg, conn: conn}
	if err := h.actions[act](ctx, c); err != nil {
		e := clientError(err)
		inv.code = e.Code
		ev := events.ErrorFor(c.id(), rc.RequestID, e)
		var r *state.Refused
		if errors.As(err, &r) {
			ev.RetryAfterMS, ev.Region = r.RetryAfterMS, r.Region
		}
		switch {
		case e.Code == events.CodeInternal:
			h.log.Error("action failed", "action", act, "conn", connID, "room", conn.Room, "request", rc.RequestID, "err", err)
		case state.Unavailable(err):
			h.log.Warn("action failed: Redis unreachable", "action", act, "conn", connID, "room", conn.Room, "err", err)
		default:
			h.log.Debug("action refused", "action", act, "conn", connID, "room", conn.Room, "code", e.Code, "msg", e.Message)
		}
		h.reply(ctx, ref, ev)
	}
	return ok
}

// shed closes a connection that kept flooding past its rate limit: it is
// told why (error "flooding"), then closed through `@connections` DELETE,
// which is all API Gateway offers (the client sees close code 1000). Its
// $disconnect frees its seat; what it sent meanwhile is dropped (the state
// marked it closed).
func (h *Handlers) shed(ctx context.Context, ref events.ConnRef, conn *state.Conn, id, gatewayID string) {
	h.log.Warn("closing a flooding connection", "conn", ref.ConnectionID,
		"after", state.ShedAfter, "orRefusals", state.ShedCount)
	// Closed by us, not by a network blip: the seat goes now (no grace for
	// reconnecting); a client that behaves rejoins after retryAfterMs.
	if conn != nil && conn.Room != "" {
		if err := h.vacate(ctx, conn, events.ReasonDisconnected, ""); err != nil {
			h.log.Warn("flooding connection: leave failed", "conn", ref.ConnectionID, "err", err)
		}
	}
	ev := events.ErrorFor(id, gatewayID, events.Errorf(events.CodeFlooding,
		"too many messages for too long; the connection is closed"))
	ev.RetryAfterMS = reconnectAfterShed.Milliseconds()
	_ = h.post(ctx, ref, ev)
	if err := h.push.Delete(ctx, ref); err != nil && !errors.Is(err, push.ErrGone) {
		h.log.Warn("close flooding connection", "conn", ref.ConnectionID, "err", err)
	}
}

// endpoint is where to push to the request's connection.
func (h *Handlers) endpoint(req *awsevents.APIGatewayWebsocketProxyRequest) string {
	if h.d.CallbackURL != "" {
		return h.d.CallbackURL
	}
	rc := req.RequestContext
	return "https://" + rc.DomainName + "/" + rc.Stage
}

// clientError is what the client is told of a failure: a refusal as it is,
// Redis out of reach as "unavailable" (retry; nothing changed), anything else
// as "internal" without detail.
func clientError(err error) *events.Error {
	if state.Unavailable(err) {
		return events.Errorf(events.CodeUnavailable, "the meeting service is briefly unavailable; try again")
	}
	return events.AsError(err)
}

// refuse is the error an action returns for a client-facing refusal.
func refuse(code events.Code, format string, args ...any) error {
	return events.Errorf(code, format, args...)
}

// needJoined refuses a call whose connection holds no seat.
func needJoined(c *call) error {
	if !c.joined() {
		return refuse(events.CodeNotJoined, "join a meeting first")
	}
	return nil
}
