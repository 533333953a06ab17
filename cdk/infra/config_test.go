package infra_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/veet-dev/veet/cdk/infra"
	"github.com/veet-dev/veet/lambdas/routes"
)

func ctxOf(m map[string]string) infra.ContextGetter {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadConfigFileThenContext(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "veet.config.json")
	os.WriteFile(file, []byte(`{"regions": ["eu-west-1", "ap-southeast-1"], "sfu": {"maxTasks": 20}, "redis": {"nodeType": "cache.r7g.large"}}`), 0o644)

	cfg, err := infra.LoadConfig(file, "/repo/cdk", ctxOf(map[string]string{"sfuMinTasks": "3", "domain": "meet.example.org", "hostedZoneId": "Z1"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Regions, []string{"eu-west-1", "ap-southeast-1"}) || cfg.Primary() != "eu-west-1" {
		t.Errorf("regions %v", cfg.Regions)
	}
	if cfg.SFU.MinTasks != 3 || cfg.SFU.MaxTasks != 20 || cfg.SFU.CPU != 1024 || cfg.Redis.NodeType != "cache.r7g.large" || cfg.Redis.Replicas != 1 {
		t.Errorf("sizes %+v %+v: file and context should override only what they name", cfg.SFU, cfg.Redis)
	}
	if cfg.HostedZoneName != "meet.example.org" || cfg.WebSocketDomain() != "ws.meet.example.org" {
		t.Errorf("zone %q ws %q", cfg.HostedZoneName, cfg.WebSocketDomain())
	}
	if cfg.LambdaAssetDir != "/repo/build/lambdas" || cfg.SPADir != "/repo/spa/dist" || cfg.RepoRoot != "/repo" {
		t.Errorf("paths %s %s %s", cfg.LambdaAssetDir, cfg.SPADir, cfg.RepoRoot)
	}

	cfg, err = infra.LoadConfig(file, ".", ctxOf(map[string]string{"regions": "us-west-2, eu-central-1"}))
	if err != nil || !reflect.DeepEqual(cfg.Regions, []string{"us-west-2", "eu-central-1"}) {
		t.Errorf("context regions: %v %v", cfg.Regions, err)
	}
}

func TestLoadConfigDefaultsAndMistakes(t *testing.T) {
	cfg, err := infra.LoadConfig(filepath.Join(t.TempDir(), "absent.json"), ".", nil)
	if err != nil || !reflect.DeepEqual(cfg.Regions, []string{"us-east-1"}) {
		t.Errorf("missing file should mean defaults: %v %v", cfg.Regions, err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"region": ["us-east-1"]}`), 0o644)
	if _, err := infra.LoadConfig(bad, ".", nil); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("a misspelt key must fail, got %v", err)
	}
	if _, err := infra.LoadConfig("", ".", ctxOf(map[string]string{"sfuMaxTasks": "many"})); err == nil {
		t.Errorf("a non-integer context value must fail")
	}
}

func TestValidateRejects(t *testing.T) {
	cases := map[string]func(*infra.Config){
		"no regions":          func(c *infra.Config) { c.Regions = nil },
		"duplicate region":    func(c *infra.Config) { c.Regions = []string{"us-east-1", "us-east-1"} },
		"domain without zone": func(c *infra.Config) { c.Domain, c.HostedZoneName = "meet.example.com", "example.com" },
		"domain outside zone": func(c *infra.Config) {
			c.Domain, c.HostedZoneID, c.HostedZoneName = "meet.example.com", "Z1", "example.org"
		},
		"domain off us-east-1": func(c *infra.Config) {
			c.Domain, c.HostedZoneID, c.HostedZoneName, c.GlobalRegion = "a.b", "Z1", "a.b", "eu-west-1"
		},
		"min above max":       func(c *infra.Config) { c.SFU.MinTasks, c.SFU.MaxTasks = 5, 2 },
		"zero tasks":          func(c *infra.Config) { c.SFU.MinTasks = 0 },
		"bad fargate size":    func(c *infra.Config) { c.SFU.CPU, c.SFU.MemoryMiB = 1024, 1024 },
		"cpu target too high": func(c *infra.Config) { c.SFU.TargetCPUPercent = 95 },
		"no redis replica":    func(c *infra.Config) { c.Redis.Replicas = 0 },
		"not a node type":     func(c *infra.Config) { c.Redis.NodeType = "t4g.small" },
		"no NAT":              func(c *infra.Config) { c.NATGateways = 0 },
		"health check form":   func(c *infra.Config) { c.SFU.HealthCheck = []string{"/sfu", "-healthcheck"} },
		"NAT beyond the AZs":  func(c *infra.Config) { c.NATGateways = 3 },
		"STUN without port":   func(c *infra.Config) { c.SFU.PublicIPFallback = "stun:stun.example.com" },
		"fallback not an IP":  func(c *infra.Config) { c.SFU.PublicIPFallback = "stun.example.com:3478" },
		"protection too long": func(c *infra.Config) { c.SFU.ScaleInProtectionMinutes = 600 },
		"generation zero":     func(c *infra.Config) { c.SecretsGeneration = 0 },
		"two alarm addresses": func(c *infra.Config) { c.AlarmEmail = "a@example.com,b@example.com" },
		"burst over quota":    func(c *infra.Config) { c.Signaling.BurstLimit = 6000 },
		"log level":           func(c *infra.Config) { c.Signaling.ExecutionLogLevel = "DEBUG" },
	}
	for name, mutate := range cases {
		c := infra.DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := infra.DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestCheckAssetsNamesTheMissingBuildStep(t *testing.T) {
	dir := t.TempDir()
	cfg := infra.DefaultConfig()
	cfg.LambdaAssetDir, cfg.SPADir, cfg.RepoRoot = filepath.Join(dir, "lambdas"), filepath.Join(dir, "spa"), dir
	var names []string
	for _, f := range routes.Functions {
		names = append(names, f.Name)
	}
	if err := infra.CheckAssets(cfg, names); err == nil || !strings.Contains(err.Error(), "make lambdas") {
		t.Errorf("missing Lambdas: %v", err)
	}
	for _, n := range names {
		os.MkdirAll(filepath.Join(cfg.LambdaAssetDir, n), 0o755)
		os.WriteFile(filepath.Join(cfg.LambdaAssetDir, n, "bootstrap"), nil, 0o755)
	}
	if err := infra.CheckAssets(cfg, names); err == nil || !strings.Contains(err.Error(), "SPA") {
		t.Errorf("missing SPA: %v", err)
	}
	os.MkdirAll(cfg.SPADir, 0o755)
	os.WriteFile(filepath.Join(cfg.SPADir, "index.html"), nil, 0o644)
	if err := infra.CheckAssets(cfg, names); err == nil || !strings.Contains(err.Error(), "Dockerfile") {
		t.Errorf("missing Dockerfile: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "sfu"), 0o755)
	os.WriteFile(filepath.Join(dir, "sfu", "Dockerfile"), nil, 0o644)
	if err := infra.CheckAssets(cfg, names); err != nil {
		t.Errorf("all present: %v", err)
	}
}

// The committed configurations are valid: cdk's own and the LocalStack one.
func TestCommittedConfigsAreValid(t *testing.T) {
	for _, file := range []string{"../veet.config.json", "../../localstack/compose/veet.localstack.json"} {
		cfg, err := infra.LoadConfig(file, "..", nil)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if len(cfg.Regions) == 0 || cfg.Domain != "" {
			t.Errorf("%s: regions %v domain %q", file, cfg.Regions, cfg.Domain)
		}
	}
}
