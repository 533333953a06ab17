// Package localstack runs the whole of veet in one process, for `make run`
// and for whole-stack tests: Redis (embedded unless a URL is given), the
// Lambda handlers invoked in-process behind a local API Gateway
// (localstack/gateway), N SFU nodes, and one HTTP port that serves the
// WebSocket API, `@connections`, `/config.json` and the built SPA.
//
// Everything talks to everything else the way it does on AWS: handlers push
// to clients through the real aws-sdk-go-v2 management API client pointed at
// this process's own `@connections` endpoint, and commands reach SFU nodes
// over their Redis streams.
package localstack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/token"
	"github.com/veet-dev/veet/localstack/gateway"
)

// Region is the region every local part says it is in.
const Region = "local"

// Options configures Start. The zero value is a working stack on a random
// loopback port with embedded Redis and no SFU nodes.
type Options struct {
	// Addr is the HTTP listen address; default "127.0.0.1:0" (a free port).
	Addr string
	// Nodes is how many SFU nodes to run.
	Nodes int
	// SPADir is the SPA build (spa/dist); "" or missing serves a page that
	// says how to build it.
	SPADir string
	// RedisURL selects a real Redis server; "" falls back to the REDIS_URL
	// environment variable, and without it to an embedded one (miniredis).
	RedisURL string
	// EmbeddedRedis forces the embedded server even when REDIS_URL is set.
	EmbeddedRedis bool
	// TokenSecret signs meeting tokens; default random per run (tokens do
	// not survive a restart, which locally is what one wants).
	TokenSecret []byte
	// Gateway overrides the gateway's limits and timeouts (tests shorten
	// the idle timeout); Functions and Log are set by Start.
	Gateway gateway.Options
	// SweepEvery is how often the "sweep" function runs (an EventBridge
	// schedule on AWS); default 1 minute, negative = never.
	SweepEvery time.Duration
	// DrainTimeout bounds an SFU node's drain at Close; default 5s.
	DrainTimeout time.Duration
	// AwayGrace is how long a participant whose socket dropped keeps their
	// seat (tests shorten it); 0 = state.AwayGrace.
	AwayGrace time.Duration
	// MaxParticipants and MaxLobby cap each meeting and its lobby; 0 = the
	// defaults (state.DefaultMaxParticipants, state.DefaultMaxLobby).
	MaxParticipants, MaxLobby int
	Log                       *slog.Logger
}

// Stack is a running local veet.
type Stack struct {
	url     string
	log     *slog.Logger
	redis   *localRedis
	state   *state.Store
	tokens  *token.Signer
	gw      *gateway.Gateway
	srv     *http.Server
	nodes   *nodeSet
	sweep   *sweeper
	sweepFn gateway.Handler
	// pushHTTP carries the handlers' and nodes' @connections calls to our
	// own port; Close drops its idle connections before shutting the port.
	pushHTTP *http.Transport

	closeOnce sync.Once
	closeErr  error
}

// Start starts every part and returns once the HTTP port accepts
// connections and the SFU nodes are registered. ctx bounds start-up only;
// the stack runs until Close.
func Start(ctx context.Context, opt Options) (s *Stack, err error) {
	if opt.Addr == "" {
		opt.Addr = "127.0.0.1:0"
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.SweepEvery == 0 {
		opt.SweepEvery = time.Minute
	}
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = 5 * time.Second
	}
	if opt.RedisURL == "" && !opt.EmbeddedRedis {
		opt.RedisURL = os.Getenv("REDIS_URL")
	}
	if opt.EmbeddedRedis {
		opt.RedisURL = ""
	}
	secret := opt.TokenSecret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	s = &Stack{log: opt.Log}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()

	if s.redis, err = openRedis(ctx, opt.RedisURL); err != nil {
		return s, err
	}
	s.state = state.New(s.redis.client)
	if s.tokens, err = token.New(secret); err != nil {
		return s, fmt.Errorf("localstack: tokens: %w", err)
	}

	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return s, fmt.Errorf("localstack: listen on %s: %w", opt.Addr, err)
	}
	s.url = "http://" + reachable(ln.Addr().(*net.TCPAddr))

	// Handlers and nodes push through the real SDK client, signed with
	// static credentials, to this process's own @connections endpoint.
	s.pushHTTP = http.DefaultTransport.(*http.Transport).Clone()
	push.PoolTransport(s.pushHTTP)
	pusher := push.NewAPIGateway(aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Transport: s.pushHTTP},
	})
	cmds := bus.New(s.redis.client, opt.Log)
	functions := newFunctions(handlerDeps{
		state: s.state, bus: cmds, push: pusher, tokens: s.tokens,
		callbackURL: s.url, awayGrace: opt.AwayGrace, log: opt.Log,
		maxParticipants: opt.MaxParticipants, maxLobby: opt.MaxLobby,
	})
	gopt := opt.Gateway
	gopt.Functions = functions
	gopt.Log = opt.Log
	s.gw = gateway.New(gopt)

	s.srv = &http.Server{
		Handler:           s.routes(opt.SPADir),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opt.Log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opt.Log.Error("http server stopped", "err", err)
		}
	}()

	if s.nodes, err = startNodes(ctx, opt.Nodes, s.redis.newClient, pusher, opt.DrainTimeout, opt.AwayGrace, opt.Log); err != nil {
		return s, err
	}
	s.sweepFn = functions("sweep")
	s.sweep = startSweeper(s.sweepFn, opt.SweepEvery, opt.Log)
	opt.Log.Info("local stack started", "url", s.url, "redis", s.redis.describe(), "nodes", opt.Nodes)
	return s, nil
}

// URL is the stack's base URL, e.g. http://127.0.0.1:8080.
func (s *Stack) URL() string { return s.url }

// WSURL is the WebSocket API's URL, e.g. ws://127.0.0.1:8080/ws.
func (s *Stack) WSURL() string { return "ws" + s.url[len("http"):] + "/ws" }

// Redis is the stack's Redis client (tests inspect room state with it).
func (s *Stack) Redis() redis.UniversalClient { return s.redis.client }

// State is the room-state store over the stack's Redis.
func (s *Stack) State() *state.Store { return s.state }

// Tokens is the stack's token signer.
func (s *Stack) Tokens() *token.Signer { return s.tokens }

// Sweep runs the "sweep" function now, as its schedule would (tests call it
// instead of waiting for the next tick).
func (s *Stack) Sweep(ctx context.Context) error {
	_, err := s.sweepFn(ctx, awsevents.APIGatewayWebsocketProxyRequest{})
	return err
}

// Gateway is the local API Gateway.
func (s *Stack) Gateway() *gateway.Gateway { return s.gw }

// Close stops the stack: sockets close with 1001 and their $disconnect
// handlers run, then SFU nodes drain and deregister, then the HTTP port and
// Redis close. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.sweep != nil {
			s.sweep.stop()
		}
		if s.gw != nil {
			errs = append(errs, s.gw.Close(10*time.Second))
		}
		if s.nodes != nil {
			errs = append(errs, s.nodes.stop())
		}
		if s.pushHTTP != nil {
			// A connection the transport dialed for a post that then went
			// out on another one has never carried a request: Shutdown
			// would wait 5 s for it (Go treats new connections as busy).
			s.pushHTTP.CloseIdleConnections()
		}
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, s.srv.Shutdown(ctx))
			cancel()
		}
		if s.redis != nil {
			errs = append(errs, s.redis.close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// reachable is the listen address as a URL host: a wildcard listen address
// (":8080", "0.0.0.0:8080") is reached locally on 127.0.0.1.
func reachable(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
	}
	return a.String()
}
