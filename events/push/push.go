// Package push delivers server events to a client's WebSocket through API
// Gateway's `@connections` management API (aws-sdk-go-v2
// apigatewaymanagementapi). The same client talks to the local gateway, which
// serves the same API.
package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/veet-dev/veet/events"
)

// ErrGone means API Gateway answered 410: the connection no longer exists, so
// the caller should forget it (leave the room, drop its state).
var ErrGone = errors.New("push: connection is gone")

// ErrTooLarge: the message is over API Gateway's limit, which would answer
// 413 and deliver nothing. It is never posted; the sender has a bug to fix
// (everything that grows with a room goes in pages).
var ErrTooLarge = errors.New("push: message over 128 KB")

// MaxConns is how many posts one process keeps in flight to an endpoint,
// and how many connections it keeps open to it for reuse: enough to reach
// a thousand sockets in a fraction of a second, few enough that a burst
// opens no more sockets than that (each post once took a connection of
// its own, and a large meeting ran out of file descriptors).
const MaxConns = 32

// Pusher posts to and closes client connections.
type Pusher interface {
	Post(ctx context.Context, to events.ConnRef, data []byte) error
	Delete(ctx context.Context, to events.ConnRef) error // close the socket
}

// Send marshals e and posts it to one connection.
func Send(ctx context.Context, p Pusher, to events.ConnRef, e events.Event) error {
	data, err := events.Marshal(e)
	if err != nil {
		return fmt.Errorf("push: marshal %s: %w", e.EventType(), err)
	}
	return p.Post(ctx, to, data)
}

// APIGateway is the Pusher over the real SDK. An API Gateway WebSocket API has
// one `@connections` endpoint per stage, and one Lambda may serve connections
// of several (and the SFU serves every region's), so it keeps one client per
// endpoint rather than one per process.
type APIGateway struct {
	cfg aws.Config

	mu      sync.Mutex
	clients map[string]*apigatewaymanagementapi.Client
}

// NewAPIGateway returns a Pusher that signs requests with cfg. Without an
// HTTP client of cfg's own, it keeps MaxConns connections per endpoint for
// reuse (the SDK's default keeps 10, and a post beyond them pays a new TLS
// handshake).
func NewAPIGateway(cfg aws.Config) Pusher {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(PoolTransport)
	}
	return &APIGateway{cfg: cfg, clients: map[string]*apigatewaymanagementapi.Client{}}
}

// PoolTransport sizes a transport for posting to `@connections`: MaxConns
// connections per endpoint, kept open between bursts.
func PoolTransport(t *http.Transport) {
	t.MaxIdleConns = 4 * MaxConns
	t.MaxIdleConnsPerHost = MaxConns
	t.MaxConnsPerHost = 2 * MaxConns
}

func (a *APIGateway) client(endpoint string) (*apigatewaymanagementapi.Client, error) {
	if endpoint == "" {
		return nil, errors.New("push: connection has no endpoint")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.clients[endpoint]
	if !ok {
		c = apigatewaymanagementapi.NewFromConfig(a.cfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(endpoint)
			// SigV4 signs for a region: an API in another region than ours
			// rejects a request signed for our own.
			if r := endpointRegion(endpoint); r != "" {
				o.Region = r
			}
		})
		a.clients[endpoint] = c
	}
	return c, nil
}

// endpointRegion is the region of an `@connections` endpoint of the form
// https://{api-id}.execute-api.{region}.amazonaws.com/{stage}, or "" for any
// other (a custom domain, the local gateway), which is signed for our region.
func endpointRegion(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "execute-api" && parts[i+2] == "amazonaws" {
			return parts[i+1]
		}
	}
	return ""
}

// Post sends data to the connection; ErrGone when it no longer exists,
// ErrTooLarge (without trying) when it is over API Gateway's limit.
func (a *APIGateway) Post(ctx context.Context, to events.ConnRef, data []byte) error {
	if len(data) > events.MaxMessage {
		return fmt.Errorf("%w: %d bytes to %s", ErrTooLarge, len(data), to.ConnectionID)
	}
	c, err := a.client(to.Endpoint)
	if err != nil {
		return err
	}
	_, err = c.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(string(to.ConnectionID)),
		Data:         data,
	})
	return mapErr("post", to, err)
}

// Delete closes the connection; a connection already gone is not an error.
func (a *APIGateway) Delete(ctx context.Context, to events.ConnRef) error {
	c, err := a.client(to.Endpoint)
	if err != nil {
		return err
	}
	_, err = c.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{
		ConnectionId: aws.String(string(to.ConnectionID)),
	})
	if err = mapErr("delete", to, err); errors.Is(err, ErrGone) {
		return nil
	}
	return err
}

// Alive reports whether the connection still exists (GetConnection).
func (a *APIGateway) Alive(ctx context.Context, to events.ConnRef) (bool, error) {
	c, err := a.client(to.Endpoint)
	if err != nil {
		return false, err
	}
	_, err = c.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{
		ConnectionId: aws.String(string(to.ConnectionID)),
	})
	switch err = mapErr("get", to, err); {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrGone):
		return false, nil
	default:
		return false, err
	}
}

func mapErr(op string, to events.ConnRef, err error) error {
	if err == nil {
		return nil
	}
	var gone *types.GoneException
	if errors.As(err, &gone) {
		return ErrGone
	}
	return fmt.Errorf("push: %s %s: %w", op, to.ConnectionID, err)
}
