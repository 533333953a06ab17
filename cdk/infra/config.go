// Package infra builds veet's AWS deployment: one global stack (SPA on S3 +
// CloudFront, DNS, the browsers' runtime config) and one stack per region
// (VPC, Redis in the primary region, WebSocket API + Lambdas, SFU on Fargate).
package infra

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Config is everything a deployment may choose. It is read from a JSON file
// (cdk/veet.config.json by default) and then overridden by cdk context
// (`-c key=value`), so one-off changes need no file edit.
type Config struct {
	// Account to deploy into; empty means the CLI's current credentials
	// (CDK_DEFAULT_ACCOUNT).
	Account string `json:"account"`
	// Regions gets one regional stack each. The first is the primary: it
	// holds Redis, and the secrets are replicated from it.
	Regions []string `json:"regions"`
	// GlobalRegion hosts the global stack. CloudFront only accepts ACM
	// certificates from us-east-1, so that is the only sensible value when a
	// domain is set.
	GlobalRegion string `json:"globalRegion"`
	// Domain, when set, serves the SPA at https://<domain> and the
	// latency-routed WebSocket API at wss://ws.<domain>. It needs a Route 53
	// public hosted zone in the same account.
	Domain         string `json:"domain"`
	HostedZoneID   string `json:"hostedZoneId"`
	HostedZoneName string `json:"hostedZoneName"`

	SFU       SFUConfig       `json:"sfu"`
	Redis     RedisConfig     `json:"redis"`
	Signaling SignalingConfig `json:"signaling"`

	// SecretsGeneration is handed to every Lambda and SFU task as
	// VEET_SECRETS_GENERATION: they read their secrets at start, so raising
	// it and deploying starts every one afresh with the secrets' current
	// values (docs/deploy.md, rotating secrets).
	SecretsGeneration int `json:"secretsGeneration"`

	// AlarmEmail, when set, is subscribed to each region's alarm topic
	// (it confirms the subscription by mail). Without it the topic exists
	// and operators subscribe whatever they use (docs/deploy.md).
	AlarmEmail string `json:"alarmEmail"`

	// NATGateways per region VPC: one per availability zone (2) by default,
	// so an AZ outage never cuts the Lambdas off @connections, which is a
	// public endpoint reached only through NAT. 1 is the cheaper setting for
	// trials (one NAT, $0.045/h less per region), at the price of that
	// single point. See network.go for what else the Lambdas reach.
	NATGateways int `json:"natGateways"`

	// Paths, relative to the cdk/ directory unless absolute.
	LambdaAssetDir string `json:"lambdaAssetDir"` // output of `make lambdas`
	SPADir         string `json:"spaDir"`         // output of the SPA build
	RepoRoot       string `json:"repoRoot"`       // docker build context for sfu/Dockerfile

	// ManageAPIGatewayLogRole makes each regional stack set the account's
	// API Gateway CloudWatch Logs role (needed for WebSocket access logs).
	// Turn it off when the account already has one managed elsewhere.
	ManageAPIGatewayLogRole bool `json:"manageApiGatewayLogRole"`
}

// SFUConfig sizes the Fargate SFU service.
type SFUConfig struct {
	CPU              int `json:"cpu"`       // Fargate CPU units (1024 = 1 vCPU)
	MemoryMiB        int `json:"memoryMiB"` // must be valid for CPU
	MinTasks         int `json:"minTasks"`
	MaxTasks         int `json:"maxTasks"`
	TargetCPUPercent int `json:"targetCpuPercent"` // CPU target-tracking goal
	// TargetParticipants and TargetForwardedMbps are per-node goals for
	// target tracking on the nodes' own metrics, beside CPU; 0 turns one
	// off. Forwarding cost is per packet copy, so participants (each
	// receiving everyone else) and forwarded bandwidth lead CPU.
	TargetParticipants  int `json:"targetParticipants"`
	TargetForwardedMbps int `json:"targetForwardedMbps"`
	// ScaleInProtectionMinutes is the longest a node hosting rooms keeps
	// its task out of scale-in and deployments (sfu/cmd/sfu/protection.go);
	// 0 turns protection off. A deployment waits at most this long for a
	// busy old task, so keep it well under CloudFormation's wait for a
	// service to stabilize (3 h).
	ScaleInProtectionMinutes int `json:"scaleInProtectionMinutes"`
	// PublicIPFallback is where an SFU task learns its public IP when its
	// own network interface cannot tell it (the task's IAM role or the EC2
	// API failing): "" (the default) stops the task with a clear error
	// instead; "stun:host:port" asks a STUN server, an outside dependency.
	PublicIPFallback string `json:"publicIpFallback"`
	// HealthCheck is the container health check in ECS form ("CMD" or
	// "CMD-SHELL" first). The SFU image is distroless (no shell, no wget),
	// so the default runs the binary itself, which probes its own /healthz
	// on the health port. An empty list turns the check off.
	HealthCheck []string `json:"healthCheck"`
}

// RedisConfig sizes the ElastiCache replication group in the primary region.
type RedisConfig struct {
	NodeType string `json:"nodeType"`
	// Replicas per shard; at least 1, because multi-AZ failover needs one.
	Replicas int `json:"replicas"`
}

// SignalingConfig limits what the WebSocket API lets through to the
// Lambdas (limits.go says why these limits and where they sit).
type SignalingConfig struct {
	// RateLimit and BurstLimit are the stage's default throttle, applied
	// to each route on its own (messages per second; burst is the bucket).
	RateLimit  int `json:"rateLimit"`
	BurstLimit int `json:"burstLimit"`
	// ConnectRateLimit/ConnectBurstLimit throttle $connect (new sockets),
	// CreateRateLimit/CreateBurstLimit the create route (new meetings).
	ConnectRateLimit  int `json:"connectRateLimit"`
	ConnectBurstLimit int `json:"connectBurstLimit"`
	CreateRateLimit   int `json:"createRateLimit"`
	CreateBurstLimit  int `json:"createBurstLimit"`
	// ExecutionLogLevel of the API's execution logs: ERROR (default), INFO
	// (a few lines per message: for investigations) or OFF.
	ExecutionLogLevel string `json:"executionLogLevel"`
	// ReservedConcurrency gives each function its own share of the
	// account's Lambda concurrency (limits.go); turn it off in an account
	// whose concurrency quota is below their sum + 100.
	ReservedConcurrency bool `json:"reservedConcurrency"`
}

// Ports and names the other components rely on; fixed, not configuration.
const (
	SFUMediaPort  = 50000 // UDP (ICE UDP mux) and TCP (ICE-TCP)
	SFUHealthPort = 8080
	RedisPort     = 6379
	StageName     = "prod"
	wsSubdomain   = "ws"
)

// DefaultConfig is what an empty config file means.
func DefaultConfig() Config {
	return Config{
		Regions:      []string{"us-east-1"},
		GlobalRegion: "us-east-1",
		SFU: SFUConfig{
			CPU: 1024, MemoryMiB: 2048,
			MinTasks: 1, MaxTasks: 10, TargetCPUPercent: 60,
			ScaleInProtectionMinutes: 60, TargetParticipants: 60, TargetForwardedMbps: 300,
			HealthCheck: []string{"CMD", "/sfu", "-healthcheck"},
		},
		Redis: RedisConfig{NodeType: "cache.t4g.small", Replicas: 1},
		Signaling: SignalingConfig{
			RateLimit: 500, BurstLimit: 1000,
			ConnectRateLimit: 50, ConnectBurstLimit: 100,
			CreateRateLimit: 10, CreateBurstLimit: 20,
			ExecutionLogLevel: "ERROR", ReservedConcurrency: true,
		},
		NATGateways:             maxAZs,
		SecretsGeneration:       1,
		LambdaAssetDir:          "../build/lambdas",
		SPADir:                  "../spa/dist",
		RepoRoot:                "..",
		ManageAPIGatewayLogRole: true,
	}
}

// ContextGetter reads one cdk context value (app.Node().TryGetContext).
type ContextGetter func(key string) (string, bool)

// LoadConfig reads the JSON file at path (missing file = defaults) and
// applies the context overrides. Relative asset paths are resolved against
// baseDir, the directory `cdk` runs in.
func LoadConfig(path, baseDir string, ctx ContextGetter) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			dec := json.NewDecoder(strings.NewReader(string(data)))
			dec.DisallowUnknownFields() // a misspelt key must not be silently ignored
			if err := dec.Decode(&cfg); err != nil {
				return cfg, fmt.Errorf("config %s: %w", path, err)
			}
		case !os.IsNotExist(err):
			return cfg, err
		}
	}
	if err := applyContext(&cfg, ctx); err != nil {
		return cfg, err
	}
	for _, p := range []*string{&cfg.LambdaAssetDir, &cfg.SPADir, &cfg.RepoRoot} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(baseDir, *p)
		}
	}
	if cfg.Domain != "" && cfg.HostedZoneName == "" {
		cfg.HostedZoneName = cfg.Domain
	}
	return cfg, cfg.Validate()
}

func applyContext(cfg *Config, ctx ContextGetter) error {
	if ctx == nil {
		return nil
	}
	strs := map[string]*string{
		"account": &cfg.Account, "globalRegion": &cfg.GlobalRegion,
		"domain": &cfg.Domain, "hostedZoneId": &cfg.HostedZoneID, "hostedZoneName": &cfg.HostedZoneName,
		"redisNodeType": &cfg.Redis.NodeType, "sfuPublicIpFallback": &cfg.SFU.PublicIPFallback,
		"alarmEmail": &cfg.AlarmEmail, "apiExecutionLogLevel": &cfg.Signaling.ExecutionLogLevel,
		"lambdaAssetDir": &cfg.LambdaAssetDir, "spaDir": &cfg.SPADir, "repoRoot": &cfg.RepoRoot,
	}
	for k, p := range strs {
		if v, ok := ctx(k); ok {
			*p = v
		}
	}
	ints := map[string]*int{
		"sfuCpu": &cfg.SFU.CPU, "sfuMemoryMiB": &cfg.SFU.MemoryMiB,
		"sfuMinTasks": &cfg.SFU.MinTasks, "sfuMaxTasks": &cfg.SFU.MaxTasks,
		"sfuTargetCpuPercent": &cfg.SFU.TargetCPUPercent, "sfuScaleInProtectionMinutes": &cfg.SFU.ScaleInProtectionMinutes,
		"sfuTargetParticipants": &cfg.SFU.TargetParticipants, "sfuTargetForwardedMbps": &cfg.SFU.TargetForwardedMbps,
		"redisReplicas": &cfg.Redis.Replicas, "natGateways": &cfg.NATGateways, "secretsGeneration": &cfg.SecretsGeneration,
		"apiRateLimit": &cfg.Signaling.RateLimit, "apiBurstLimit": &cfg.Signaling.BurstLimit,
	}
	for k, p := range ints {
		if v, ok := ctx(k); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("context %s=%q: not an integer", k, v)
			}
			*p = n
		}
	}
	if v, ok := ctx("regions"); ok {
		cfg.Regions = nil
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				cfg.Regions = append(cfg.Regions, r)
			}
		}
	}
	bools := map[string]*bool{
		"manageApiGatewayLogRole": &cfg.ManageAPIGatewayLogRole,
		"reservedConcurrency":     &cfg.Signaling.ReservedConcurrency,
	}
	for k, p := range bools {
		if v, ok := ctx(k); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("context %s=%q: not a boolean", k, v)
			}
			*p = b
		}
	}
	return nil
}

// Validate rejects configurations that would fail late, at deploy time.
func (c Config) Validate() error {
	if len(c.Regions) == 0 {
		return fmt.Errorf("config: at least one region is needed")
	}
	if len(c.Regions) > 200 {
		return fmt.Errorf("config: too many regions for the 10.x.0.0/16 VPC plan")
	}
	seen := map[string]bool{}
	for _, r := range c.Regions {
		if seen[r] {
			return fmt.Errorf("config: region %s listed twice", r)
		}
		seen[r] = true
	}
	if c.GlobalRegion == "" {
		return fmt.Errorf("config: globalRegion is empty")
	}
	if c.Domain != "" {
		if c.HostedZoneID == "" {
			return fmt.Errorf("config: domain %s needs hostedZoneId", c.Domain)
		}
		if c.GlobalRegion != "us-east-1" {
			return fmt.Errorf("config: with a domain, globalRegion must be us-east-1 (CloudFront certificates live there)")
		}
		if c.Domain != c.HostedZoneName && !strings.HasSuffix(c.Domain, "."+c.HostedZoneName) {
			return fmt.Errorf("config: domain %s is not inside hosted zone %s", c.Domain, c.HostedZoneName)
		}
	}
	s := c.SFU
	if s.MinTasks < 1 || s.MaxTasks < s.MinTasks {
		return fmt.Errorf("config: sfu tasks need 1 <= minTasks (%d) <= maxTasks (%d)", s.MinTasks, s.MaxTasks)
	}
	if s.TargetCPUPercent < 10 || s.TargetCPUPercent > 90 {
		return fmt.Errorf("config: sfu targetCpuPercent %d outside 10..90", s.TargetCPUPercent)
	}
	if len(s.HealthCheck) == 1 || len(s.HealthCheck) > 0 && s.HealthCheck[0] != "CMD" && s.HealthCheck[0] != "CMD-SHELL" {
		return fmt.Errorf(`config: sfu healthCheck %q: want ["CMD", program, args...], ["CMD-SHELL", command] or []`, s.HealthCheck)
	}
	if s.TargetParticipants < 0 || s.TargetForwardedMbps < 0 {
		return fmt.Errorf("config: sfu targetParticipants %d / targetForwardedMbps %d: 0 (off) or more", s.TargetParticipants, s.TargetForwardedMbps)
	}
	if s.ScaleInProtectionMinutes < 0 || s.ScaleInProtectionMinutes > 120 {
		return fmt.Errorf("config: sfu scaleInProtectionMinutes %d outside 0..120 (a deployment waits that long for a busy task)", s.ScaleInProtectionMinutes)
	}
	if f := s.PublicIPFallback; f != "" && !validPublicIPFallback(f) {
		return fmt.Errorf("config: sfu publicIpFallback %q: want \"\", \"stun:host:port\" or an IPv4 address", f)
	}
	if !validFargateSize(s.CPU, s.MemoryMiB) {
		return fmt.Errorf("config: sfu cpu %d / memory %d MiB is not a Fargate task size", s.CPU, s.MemoryMiB)
	}
	if c.Redis.NodeType == "" || !strings.HasPrefix(c.Redis.NodeType, "cache.") {
		return fmt.Errorf("config: redis nodeType %q is not an ElastiCache node type", c.Redis.NodeType)
	}
	if c.Redis.Replicas < 1 || c.Redis.Replicas > 5 {
		return fmt.Errorf("config: redis replicas %d outside 1..5 (multi-AZ needs at least one)", c.Redis.Replicas)
	}
	if c.SecretsGeneration < 1 {
		return fmt.Errorf("config: secretsGeneration %d: want 1 or more", c.SecretsGeneration)
	}
	if err := c.Signaling.validate(); err != nil {
		return err
	}
	if e := c.AlarmEmail; e != "" && (!strings.Contains(e, "@") || strings.ContainsAny(e, " ,;")) {
		return fmt.Errorf("config: alarmEmail %q is not one e-mail address", e)
	}
	if c.NATGateways < 1 || c.NATGateways > maxAZs {
		return fmt.Errorf("config: natGateways %d outside 1..%d (Lambdas reach @connections only through NAT)", c.NATGateways, maxAZs)
	}
	return nil
}

func (s SignalingConfig) validate() error {
	for _, l := range []struct {
		what        string
		rate, burst int
	}{{"", s.RateLimit, s.BurstLimit}, {"connect ", s.ConnectRateLimit, s.ConnectBurstLimit}, {"create ", s.CreateRateLimit, s.CreateBurstLimit}} {
		// API Gateway's account quota is 10,000 messages/s and a 5,000 burst.
		if l.rate < 1 || l.rate > 10000 || l.burst < 1 || l.burst > 5000 {
			return fmt.Errorf("config: signaling %srate/burst limit %d/%d outside 1..10000 / 1..5000", l.what, l.rate, l.burst)
		}
	}
	switch s.ExecutionLogLevel {
	case "ERROR", "INFO", "OFF":
		return nil
	}
	return fmt.Errorf("config: signaling executionLogLevel %q: want ERROR, INFO or OFF", s.ExecutionLogLevel)
}

func validPublicIPFallback(f string) bool {
	if hostPort, ok := strings.CutPrefix(f, "stun:"); ok {
		host, port, err := net.SplitHostPort(hostPort)
		return err == nil && host != "" && port != ""
	}
	ip := net.ParseIP(f)
	return ip != nil && ip.To4() != nil
}

// validFargateSize follows the Fargate CPU/memory table.
func validFargateSize(cpu, mem int) bool {
	between := func(lo, hi, step int) bool { return mem >= lo && mem <= hi && (mem-lo)%step == 0 }
	switch cpu {
	case 256:
		return mem == 512 || mem == 1024 || mem == 2048
	case 512:
		return between(1024, 4096, 1024)
	case 1024:
		return between(2048, 8192, 1024)
	case 2048:
		return between(4096, 16384, 1024)
	case 4096:
		return between(8192, 30720, 1024)
	case 8192:
		return between(16384, 61440, 4096)
	case 16384:
		return between(32768, 122880, 8192)
	}
	return false
}

// Primary is the region that holds Redis.
func (c Config) Primary() string { return c.Regions[0] }

// VPCCIDR gives region i its own /16 so every VPC can peer with the
// primary's (peered VPCs must not overlap).
func (c Config) VPCCIDR(i int) string { return fmt.Sprintf("10.%d.0.0/16", 10+i) }

// WebSocketDomain is the latency-routed name of the regional APIs, or "".
func (c Config) WebSocketDomain() string {
	if c.Domain == "" {
		return ""
	}
	return wsSubdomain + "." + c.Domain
}

// CheckAssets reports, before any synthesis, a build step that was skipped:
// CDK would otherwise fail with a bare "cannot find asset" error.
func CheckAssets(c Config, functionNames []string) error {
	for _, name := range functionNames {
		p := filepath.Join(c.LambdaAssetDir, name, "bootstrap")
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("lambda asset %s missing: run `make lambdas` at the repo root first", p)
		}
	}
	if _, err := os.Stat(filepath.Join(c.SPADir, "index.html")); err != nil {
		return fmt.Errorf("SPA build %s missing: build the SPA (spa/dist) first", filepath.Join(c.SPADir, "index.html"))
	}
	if _, err := os.Stat(filepath.Join(c.RepoRoot, "sfu", "Dockerfile")); err != nil {
		return fmt.Errorf("sfu/Dockerfile not found under %s", c.RepoRoot)
	}
	return nil
}
