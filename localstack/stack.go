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

// Region is the first (or only) local region's name; others are named by
// Options.Regions.
const Region = "local"

// Options configures Start. The zero value is a working stack on a random
// loopback port with embedded Redis and no SFU nodes.
type Options struct {
	// Addr is the HTTP listen address; default "127.0.0.1:0" (a free port).
	Addr string
	// Nodes is how many SFU nodes to run (in each region).
	Nodes int
	// Regions names the local regions, each with its own gateway (HTTP port:
	// Addr's for the first, the next ports for the others, or free ones),
	// handlers and SFU nodes, all on one Redis, as AWS regions share the
	// primary's. Default: one, "local".
	Regions []string
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
	Log       *slog.Logger
}

// Stack is a running local veet.
type Stack struct {
	log     *slog.Logger
	redis   *localRedis
	state   *state.Store
	tokens  *token.Signer
	regions []*region
	// pushHTTP carries the handlers' and nodes' @connections calls to our
	// own ports; Close drops its idle connections before shutting them.
	pushHTTP *http.Transport

	closeOnce sync.Once
	closeErr  error
}

// region is one local region: a gateway on its own port with its handlers,
// its SFU nodes and its sweep.
type region struct {
	name    string
	url     string
	gw      *gateway.Gateway
	srv     *http.Server
	nodes   *nodeSet
	sweep   *sweeper
	sweepFn gateway.Handler
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
	names := opt.Regions
	if len(names) == 0 {
		names = []string{Region}
	}
	// Handlers and nodes push through the real SDK client, signed with
	// static credentials, to this process's own @connections endpoints.
	s.pushHTTP = http.DefaultTransport.(*http.Transport).Clone()
	pusher := push.NewAPIGateway(aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Transport: s.pushHTTP},
	})
	cmds := bus.New(s.redis.client, opt.Log)
	for i, name := range names {
		addr, err := regionAddr(opt.Addr, i)
		if err != nil {
			return s, err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return s, fmt.Errorf("localstack: listen on %s: %w", addr, err)
		}
		r := &region{name: name, url: "http://" + reachable(ln.Addr().(*net.TCPAddr))}
		s.regions = append(s.regions, r)
		functions := newFunctions(handlerDeps{
			state: s.state, bus: cmds, push: pusher, tokens: s.tokens, region: name,
			callbackURL: r.url, awayGrace: opt.AwayGrace, log: opt.Log.With("region", name),
		})
		gopt := opt.Gateway
		gopt.Functions = functions
		gopt.Log = opt.Log
		r.gw = gateway.New(gopt)
		r.srv = &http.Server{
			Handler:           s.routes(r, opt.SPADir),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(opt.Log.Handler(), slog.LevelWarn),
		}
		go func() {
			if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				opt.Log.Error("http server stopped", "region", name, "err", err)
			}
		}()
		if r.nodes, err = startNodes(ctx, name, opt.Nodes, s.redis.client, pusher, opt.DrainTimeout, opt.Log); err != nil {
			return s, err
		}
		r.sweepFn = functions("sweep")
		r.sweep = startSweeper(r.sweepFn, opt.SweepEvery, opt.Log)
	}
	opt.Log.Info("local stack started", "url", s.URL(), "regions", len(s.regions), "redis", s.redis.describe(), "nodes", opt.Nodes)
	return s, nil
}

// regionAddr is the listen address of region i: Addr for the first; the
// ports after Addr's for the others (a free port when Addr's is 0).
func regionAddr(addr string, i int) (string, error) {
	if i == 0 {
		return addr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("localstack: address %q: %w", addr, err)
	}
	p, _ := strconv.Atoi(port)
	if p == 0 {
		return net.JoinHostPort(host, "0"), nil
	}
	return net.JoinHostPort(host, strconv.Itoa(p+i)), nil
}

// URL is the first region's base URL, e.g. http://127.0.0.1:8080.
func (s *Stack) URL() string { return s.regions[0].url }

// WSURL is the first region's WebSocket API, e.g. ws://127.0.0.1:8080/ws.
func (s *Stack) WSURL() string { return wsURL(s.regions[0].url) }

// RegionWSURL is a region's WebSocket API ("" for an unknown region).
func (s *Stack) RegionWSURL(name string) string {
	for _, r := range s.regions {
		if r.name == name {
			return wsURL(r.url)
		}
	}
	return ""
}

// RegionURLs are every region's base URL, by name, in order.
func (s *Stack) RegionURLs() [][2]string {
	out := make([][2]string, len(s.regions))
	for i, r := range s.regions {
		out[i] = [2]string{r.name, r.url}
	}
	return out
}

func wsURL(httpURL string) string { return "ws" + httpURL[len("http"):] + "/ws" }

// Redis is the stack's Redis client (tests inspect room state with it).
func (s *Stack) Redis() redis.UniversalClient { return s.redis.client }

// State is the room-state store over the stack's Redis.
func (s *Stack) State() *state.Store { return s.state }

// Tokens is the stack's token signer.
func (s *Stack) Tokens() *token.Signer { return s.tokens }

// Sweep runs the first region's "sweep" function now, as its schedule would
// (tests call it instead of waiting for the next tick).
func (s *Stack) Sweep(ctx context.Context) error {
	_, err := s.regions[0].sweepFn(ctx, awsevents.APIGatewayWebsocketProxyRequest{})
	return err
}

// Gateway is the first region's local API Gateway.
func (s *Stack) Gateway() *gateway.Gateway { return s.regions[0].gw }

// Close stops the stack: sockets close with 1001 and their $disconnect
// handlers run, then SFU nodes drain and deregister, then the HTTP ports and
// Redis close. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, r := range s.regions {
			if r.sweep != nil {
				r.sweep.stop()
			}
			if r.gw != nil {
				errs = append(errs, r.gw.Close(10*time.Second))
			}
		}
		for _, r := range s.regions {
			if r.nodes != nil {
				errs = append(errs, r.nodes.stop())
			}
		}
		if s.pushHTTP != nil {
			// A connection the transport dialed for a post that then went
			// out on another one has never carried a request: Shutdown
			// would wait 5 s for it (Go treats new connections as busy).
			s.pushHTTP.CloseIdleConnections()
		}
		for _, r := range s.regions {
			if r.srv != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				errs = append(errs, r.srv.Shutdown(ctx))
				cancel()
			}
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
