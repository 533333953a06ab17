package infra_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/veet-dev/veet/cdk/infra"
	"github.com/veet-dev/veet/lambdas/routes"
)

// The suite synthesizes two deployments, each once per test binary (a
// synthesis costs tens of seconds of the jsii kernel), and every test reads
// the shared templates:
//
//   - synth: two regions, an explicit account, a custom domain, non-default
//     SFU bounds; what most assertions look at;
//   - synthPlain: the committed veet.config.json as a first deploy uses it
//     (no domain, the account left to CloudFormation), because cdk-nag's
//     findings and the /config.json endpoint differ without a domain.
const (
	primaryRegion   = "us-east-1"
	secondaryRegion = "eu-west-1"
	testAccount     = "123456789012"
	testDomain      = "meet.example.com"
	testZoneID      = "Z0123456789ABCDEFGHIJ"
)

func domainConfig(assets string) (infra.Config, error) {
	cfg := infra.DefaultConfig()
	cfg.Account = testAccount
	cfg.Regions = []string{primaryRegion, secondaryRegion}
	cfg.Domain = testDomain
	cfg.HostedZoneID = testZoneID
	cfg.HostedZoneName = "example.com"
	cfg.SFU.MinTasks, cfg.SFU.MaxTasks, cfg.SFU.TargetCPUPercent = 2, 7, 55
	cfg.NATGateways = 1 // the documented trial setting
	cfg.SFU.PublicIPFallback = "stun:stun.l.google.com:19302"
	cfg.SFU.ScaleInProtectionMinutes = 45
	cfg.SFU.TargetParticipants, cfg.SFU.TargetForwardedMbps = 40, 0 // bandwidth scaling off
	cfg.AlarmEmail = "ops@example.com"
	cfg.SecretsGeneration = 3
	cfg.Signaling.RateLimit, cfg.Signaling.BurstLimit = 200, 400
	cfg.Signaling.ExecutionLogLevel = "INFO"
	cfg.Signaling.ReservedConcurrency = false // as in an account with a low concurrency quota
	return withAssets(cfg, assets), cfg.Validate()
}

func plainConfig(assets string) (infra.Config, error) {
	cfg, err := infra.LoadConfig("../veet.config.json", "..", nil)
	if err == nil && (cfg.Domain != "" || len(cfg.Regions) != 2) {
		err = fmt.Errorf("veet.config.json changed: the plain fixture expects two regions and no domain")
	}
	return withAssets(cfg, assets), err
}

func withAssets(cfg infra.Config, assets string) infra.Config {
	cfg.LambdaAssetDir = filepath.Join(assets, "lambdas")
	cfg.SPADir = filepath.Join(assets, "spa")
	cfg.RepoRoot = filepath.Join(assets, "repo")
	return cfg
}

// TestMain removes what the shared syntheses wrote to the temp directory.
func TestMain(m *testing.M) {
	// jsii's kernel nags loudly about Node 20; the suite runs on what the
	// machine has (docs/deploy.md recommends Node 22+ for deploying).
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	// The plain fixture must not pick up the caller's account.
	os.Unsetenv("CDK_DEFAULT_ACCOUNT")
	code := m.Run()
	for _, f := range []*fixture{&withDomain, &plain} {
		for _, d := range f.tempDirs {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

type fixture struct {
	config     func(assets string) (infra.Config, error)
	once       sync.Once
	tempDirs   []string
	deployment *infra.Deployment
	assembly   cxapi.CloudAssembly
	templates  map[string]map[string]interface{} // by stack name
	asserts    map[string]assertions.Template
	err        error
}

var (
	withDomain = fixture{config: domainConfig}
	plain      = fixture{config: plainConfig}
)

// synth returns the shared deployment with a domain, synthesizing it on
// first use.
func synth(t *testing.T) *fixture { return withDomain.get(t) }

// synthPlain returns the shared deployment of veet.config.json.
func synthPlain(t *testing.T) *fixture { return plain.get(t) }

func (f *fixture) get(t *testing.T) *fixture {
	t.Helper()
	f.once.Do(func() { f.err = f.build() })
	if f.err != nil {
		t.Fatalf("synthesis: %v", f.err)
	}
	return f
}

func (f *fixture) build() (err error) {
	defer func() {
		if r := recover(); r != nil { // jsii errors surface as panics
			err = fmt.Errorf("%v\n%s", r, debug.Stack())
		}
	}()
	assets, err := makeAssets()
	if err != nil {
		return err
	}
	f.tempDirs = append(f.tempDirs, assets)
	ctx, err := cdkJSONContext()
	if err != nil {
		return err
	}
	outdir, err := os.MkdirTemp("", "veet-cdk-out-")
	if err != nil {
		return err
	}
	f.tempDirs = append(f.tempDirs, outdir)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(outdir)})
	cfg, err := f.config(assets)
	if err != nil {
		return err
	}
	f.deployment = infra.Build(app, cfg)
	if f.assembly, err = synthesize(app, outdir); err != nil {
		return err
	}
	f.templates = map[string]map[string]interface{}{}
	f.asserts = map[string]assertions.Template{}
	for _, s := range f.stacks() {
		tpl := assertions.Template_FromStack(s, nil) // the app is already synthesized: no second synthesis
		f.asserts[*s.StackName()] = tpl
		f.templates[*s.StackName()] = *tpl.ToJSON()
	}
	return nil
}

// synthesize runs the real synthesis. When it fails validation (a cdk-nag
// finding is an error annotation), the report CDK wrote lists every
// violation: return those, one per line, rather than a bare "failed".
func synthesize(app awscdk.App, outdir string) (asm cxapi.CloudAssembly, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v%s", r, validationReport(outdir))
		}
	}()
	return app.Synth(nil), nil
}

func validationReport(outdir string) string {
	data, err := os.ReadFile(filepath.Join(outdir, "validation-report.json"))
	if err != nil {
		return ""
	}
	var rep struct {
		PluginReports []struct {
			Violations []struct {
				Description         string
				ViolatingConstructs []struct{ ConstructPath string }
			}
		}
	}
	if json.Unmarshal(data, &rep) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range rep.PluginReports {
		for _, v := range p.Violations {
			rule, _, _ := strings.Cut(v.Description, "\n")
			for _, c := range v.ViolatingConstructs {
				fmt.Fprintf(&b, "\n  %s: %.160s", c.ConstructPath, rule)
			}
		}
	}
	return b.String()
}

func (f *fixture) stacks() []awscdk.Stack { return f.deployment.Stacks() }

// makeAssets lays out stand-ins for `make lambdas`, the SPA build and the
// SFU's Dockerfile, so the suite needs neither Go cross-builds nor npm nor
// Docker.
func makeAssets() (string, error) {
	dir, err := os.MkdirTemp("", "veet-cdk-assets-")
	if err != nil {
		return "", err
	}
	files := map[string]string{
		"spa/index.html":      "<!doctype html><title>veet</title>",
		"repo/sfu/Dockerfile": "FROM scratch\n",
		"repo/go.mod":         "module example.com/placeholder\n",
		"repo/events/x.go":    "package events\n",
		// What the image context must leave out:
		"repo/.git/HEAD":                   "ref: refs/heads/main\n",
		"repo/spa/node_modules/x/index.js": "",
		"repo/build/lambdas/x/bootstrap":   "",
		"repo/cdk/cdk.out/manifest.json":   "{}",
	}
	for _, f := range routes.Functions {
		files["lambdas/"+f.Name+"/bootstrap"] = "#!/bin/sh\n"
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// cdkJSONContext is cdk.json's context (the feature flags), so the test app
// synthesizes exactly as `cdk deploy` does.
func cdkJSONContext() (map[string]interface{}, error) {
	data, err := os.ReadFile("../cdk.json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return doc.Context, nil
}

// resources returns the stack's resources of one CloudFormation type.
func (f *fixture) resources(stack, typ string) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	res, _ := f.templates[stack]["Resources"].(map[string]interface{})
	for id, r := range res {
		m := r.(map[string]interface{})
		if m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

// props is a resource's Properties.
func props(r map[string]interface{}) map[string]interface{} {
	p, _ := r["Properties"].(map[string]interface{})
	return p
}

// refs lists every logical id a value points at through Ref or Fn::GetAtt.
func refs(v interface{}) []string {
	var out []string
	var walk func(interface{})
	walk = func(v interface{}) {
		switch v := v.(type) {
		case map[string]interface{}:
			if r, ok := v["Ref"].(string); ok {
				out = append(out, r)
			}
			if ga, ok := v["Fn::GetAtt"].([]interface{}); ok && len(ga) > 0 {
				out = append(out, fmt.Sprint(ga[0]))
			}
			for _, x := range v {
				walk(x)
			}
		case []interface{}:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	sort.Strings(out)
	return out
}

// asJSON renders a template fragment for messages and substring checks.
func asJSON(v interface{}) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// check runs an assertions.Template method, turning its panic (a jsii
// AssertionError) into a test failure instead of a crashed binary.
func check(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if len(msg) > 3000 {
				msg = msg[:3000] + "…"
			}
			t.Errorf("%s: %s", what, strings.TrimSpace(msg))
		}
	}()
	fn()
}

func regionStack(region string) string { return infra.StackName(region) }
