package infra

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// StackName prefixes every stack, so several deployments of other apps can
// share an account without clashes.
func StackName(suffix string) string { return "veet-" + suffix }

// stackEnv pins each stack to its region (cross-region references and VPC
// peering need concrete regions). The account is the configured one or the
// CLI's; with neither, the stacks stay account-agnostic.
func stackEnv(cfg Config, region string) *awscdk.Environment {
	env := &awscdk.Environment{Region: jsii.String(region)}
	if cfg.Account != "" {
		env.Account = jsii.String(cfg.Account)
	} else if a := os.Getenv("CDK_DEFAULT_ACCOUNT"); a != "" {
		env.Account = jsii.String(a)
	}
	return env
}

// newStack creates a stack whose references to other stacks are weak: the
// consumer reads the producer's output with Fn::GetStackOutput, which works
// across regions without CDK's SSM-writing custom resources, and does not
// lock the producer's values while another stack reads them. (Set on the
// stack, not only in cdk.json, so every app that builds veet gets it.)
//
// CrossRegionReferences must still be on: without it CDK refuses to hand a
// generated-name resource (a secret's ARN) to another region at all.
func newStack(app constructs.Construct, id string, props *awscdk.StackProps) awscdk.Stack {
	props.CrossRegionReferences = jsii.Bool(true)
	s := awscdk.NewStack(app, jsii.String(id), props)
	s.Node().SetContext(jsii.String("@aws-cdk/core:defaultCrossStackReferences"), "weak")
	return s
}

// RegionStack is one region's share of veet: VPC, signaling API + Lambdas,
// the SFU service, and in the primary region Redis and the secrets.
type RegionStack struct {
	awscdk.Stack
	Region  string
	Primary bool
	CIDR    string

	net       *network
	signaling *signaling
	sfu       awsecs.FargateService
	obs       *observability
	state     *primaryState                  // primary only
	domain    awsapigatewayv2.DomainName     // only with a domain
	peering   awsec2.CfnVPCPeeringConnection // secondary only
}

// newRegionStack builds region cfg.Regions[index]; primary is nil for the
// primary region itself and the primary's stack for every other region.
func newRegionStack(app constructs.Construct, cfg Config, index int, primary *RegionStack) *RegionStack {
	region := cfg.Regions[index]
	r := &RegionStack{Region: region, Primary: primary == nil, CIDR: cfg.VPCCIDR(index)}
	role := "secondary region, state in " + cfg.Primary()
	if r.Primary {
		role = "primary region, holds Redis"
	}
	r.Stack = newStack(app, StackName(region), &awscdk.StackProps{
		Env:         stackEnv(cfg, region),
		Description: jsii.String(fmt.Sprintf("veet %s: signaling API, Lambdas, SFU service (%s)", region, role)),
	})

	r.net = newNetwork(r.Stack, cfg, index)
	var shared sharedState
	if r.Primary {
		var secondaries, peerCIDRs []string
		for i, other := range cfg.Regions[1:] {
			secondaries = append(secondaries, other)
			peerCIDRs = append(peerCIDRs, cfg.VPCCIDR(i+1))
		}
		r.state = newPrimaryState(r.Stack, cfg, r.net, secondaries, peerCIDRs)
		shared = r.state.local()
	} else {
		shared = primary.state.forRegion(region)
		r.peering = peerWithPrimary(r.Stack, r.net, primary.net.vpc.VpcId(), primary.Region, primary.CIDR)
		// The secrets' replicas in this region appear when the primary deploys.
		r.AddStackDependency(primary.Stack, jsii.String("Redis, the VPC to peer with and the secret replicas"))
	}
	if cfg.Domain != "" {
		r.domain = newRegionalDomain(r.Stack, cfg)
	}
	r.signaling = newSignaling(r.Stack, cfg, region, r.net, shared, r.domain)
	r.sfu = newSFU(r.Stack, cfg, region, r.net, shared, r.signaling.stage)
	awscdk.NewCfnOutput(r.Stack, jsii.String("WebSocketUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("this region's own WebSocket endpoint"), Value: r.WebSocketURL(),
	})
	r.obs = newObservability(r, cfg)
	return r
}

// WebSocketURL is this region's own wss:// endpoint (execute-api).
func (r *RegionStack) WebSocketURL() *string { return r.signaling.stage.Url() }

// Functions are the signaling Lambdas by function name.
func (r *RegionStack) Functions() map[string]awslambda.Function { return r.signaling.functions }

// API is the WebSocket API.
func (r *RegionStack) API() awsapigatewayv2.WebSocketApi { return r.signaling.api }

// SFUService is the Fargate service of SFU nodes.
func (r *RegionStack) SFUService() awsecs.FargateService { return r.sfu }
