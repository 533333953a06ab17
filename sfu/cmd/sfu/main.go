// Command sfu runs one veet media node.
//
// Configuration (flags override the environment):
//
//	REDIS_URL | REDIS_ADDR (+REDIS_TLS=1, REDIS_PASSWORD, REDIS_CLUSTER=1)
//	SFU_NODE_ID        default: the ECS task id, else the hostname
//	VEET_REGION        default: AWS_REGION, else "local"
//	SFU_PUBLIC_IP      an IP (or comma-separated IPs) to advertise,
//	                   stun:host:port to learn it with a STUN binding request
//	                   at start, or ecs: the ECS task's own interface's public
//	                   IP (eni.go; how a Fargate task learns it)
//	SFU_PUBLIC_IP_FALLBACK  used when SFU_PUBLIC_IP fails (e.g. stun:host:port)
//	SFU_UDP_PORT       ICE UDP mux port (50000)
//	SFU_TCP_PORT       ICE-TCP port (50000)
//	SFU_HTTP_PORT      /healthz and /metrics (8080)
//	SFU_DRAIN_TIMEOUT  how long SIGTERM waits for rooms to empty (100s)
//	SFU_METRICS_INTERVAL     how often to log a CloudWatch EMF line (off)
//	SFU_SCALE_IN_PROTECTION  longest ECS scale-in protection while hosting
//	                   rooms (60m; off turns it off; only on ECS)
//	LOG_LEVEL          debug|info|warn|error (info)
//
// `sfu -healthcheck` probes a running node's /healthz and exits 0 on 200: the
// ECS container health check (the distroless image has no shell or curl).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/config"
	"github.com/veet-dev/veet/sfu"
)

func main() {
	if err := run(); err != nil {
		slog.Error("sfu failed", "err", err)
		os.Exit(1)
	}
}

// probe asks a running node's /healthz; any answer but 200 is unhealthy.
func probe(port int) error {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s", resp.Status)
	}
	return nil
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func run() error {
	drainDef, err := time.ParseDuration(env("SFU_DRAIN_TIMEOUT", "100s"))
	if err != nil {
		return fmt.Errorf("SFU_DRAIN_TIMEOUT: %w", err)
	}
	nodeID := flag.String("node-id", os.Getenv("SFU_NODE_ID"), "node id (default: ECS task id or hostname)")
	region := flag.String("region", env("VEET_REGION", env("AWS_REGION", "local")), "region")
	publicIP := flag.String("public-ip", os.Getenv("SFU_PUBLIC_IP"), "advertised IP(s), or stun:host:port")
	udpPort := flag.Int("udp-port", envInt("SFU_UDP_PORT", 50000), "ICE UDP mux port")
	tcpPort := flag.Int("tcp-port", envInt("SFU_TCP_PORT", 50000), "ICE-TCP port")
	httpPort := flag.Int("http-port", envInt("SFU_HTTP_PORT", 8080), "health and metrics port")
	drain := flag.Duration("drain-timeout", drainDef, "drain timeout on SIGTERM")
	healthcheck := flag.Bool("healthcheck", false, "probe this node's /healthz and exit 0 when healthy (the container health check: the image has no shell or curl)")
	flag.Parse()
	if *healthcheck {
		return probe(*httpPort)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(env("LOG_LEVEL", "info"))); err != nil {
		return fmt.Errorf("LOG_LEVEL must be debug, info, warn or error: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	rdb, err := config.RedisFromEnv()
	if err != nil {
		return err
	}
	defer rdb.Close()
	if *nodeID == "" {
		*nodeID = defaultNodeID(ctx)
	}
	ips, err := resolvePublicIPs(ctx, *publicIP, awsRegion(*region), log)
	if err != nil {
		return err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(awsRegion(*region)))
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	// A node that cannot sign its pushes would register, take rooms and
	// answer nobody: refuse to start instead.
	if err := canPush(ctx, awsCfg); err != nil {
		return err
	}
	node, err := sfu.New(sfu.Config{
		NodeID: events.NodeID(*nodeID), Region: *region, Redis: rdb, Push: push.NewAPIGateway(awsCfg),
		Log: log, PublicIPs: ips, UDPPort: *udpPort, TCPPort: *tcpPort, DrainTimeout: *drain,
	})
	if err != nil {
		return err
	}
	if err := startOperations(ctx, node, log); err != nil {
		return err
	}
	srv := &http.Server{Addr: ":" + strconv.Itoa(*httpPort), Handler: node.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	defer srv.Close()
	log.Info("sfu starting", "node", *nodeID, "region", *region, "public_ips", ips, "udp", *udpPort, "tcp", *tcpPort, "http", *httpPort)
	return node.Run(ctx)
}

// awsRegion is the region API requests are signed for: the node's own
// unless it is a local run.
func awsRegion(region string) string {
	if r := os.Getenv("AWS_REGION"); r != "" {
		return r
	}
	if region == "" || region == "local" {
		return "us-east-1"
	}
	return region
}

// publicIPs resolves SFU_PUBLIC_IP.
func publicIPs(ctx context.Context, v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	if server, ok := strings.CutPrefix(v, "stun:"); ok {
		ip, err := sfu.DiscoverPublicIP(ctx, server, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("SFU_PUBLIC_IP %s: %w", v, err)
		}
		return []string{ip}, nil
	}
	var ips []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if net.ParseIP(s) == nil {
			return nil, fmt.Errorf("SFU_PUBLIC_IP: %q is not an IP", s)
		}
		ips = append(ips, s)
	}
	return ips, nil
}

// defaultNodeID is the ECS task id when running on ECS, else the hostname.
func defaultNodeID(ctx context.Context) string {
	if id := ecsTaskID(ctx); id != "" {
		return id
	}
	h, _ := os.Hostname()
	return h
}

// canPush checks that the node has AWS credentials to sign its
// `@connections` calls with (locally any static pair does).
func canPush(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return errors.New("no AWS credentials: the node could not push to any client (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a task role)")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("no AWS credentials: the node could not push to any client: %w", err)
	}
	return nil
}
