package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Draining: the SFU gets SIGTERM, stops taking rooms and migrates its rooms
// within SFU_DRAIN_TIMEOUT; ECS kills it at the stop timeout, which Fargate
// caps at 120 s. The 20 s between the two cover deregistration and exit.
const (
	sfuStopTimeoutSeconds = 120
	sfuDrainTimeout       = "100s"
	// The SFU learns its public IP from its own network interface at start
	// (sfu/cmd/sfu/eni.go): a task in a public subnet is NATed 1:1 to its
	// public IP by the internet gateway and only sees the private one. No
	// outside service is involved; sfu.publicIpFallback may name a STUN
	// server for when the lookup fails.
	sfuPublicIPSource = "ecs"
	// sfuMetricsInterval is how often each node logs its EMF metrics line
	// (sfu/cmd/sfu/metrics.go): twice per one-minute alarm period.
	sfuMetricsInterval = "30s"
)

// sfuImageExcludes keeps the docker build context (the repo root) to what an
// image of the Go SFU can need. CDK hashes and copies the context into
// cdk.out at synthesis, so the SPA's node_modules, build outputs and cdk.out
// itself must stay out, or every synth would copy gigabytes.
var sfuImageExcludes = []string{
	".git", "**/node_modules", "build", "cdk", "spa", "docs", "**/*.test",
}

// SFUImageExcludes is the exclusion list, for tests that check the context.
func SFUImageExcludes() []string { return append([]string(nil), sfuImageExcludes...) }

// sfuImage is the SFU container built from sfu/Dockerfile with the repo root
// as context. Nothing is built at synthesis: CDK records the asset and the
// CLI builds and pushes it (for linux/arm64) during `cdk deploy`.
func sfuImage(cfg Config) awsecs.ContainerImage {
	return awsecs.ContainerImage_FromAsset(jsii.String(cfg.RepoRoot), &awsecs.AssetImageProps{
		File:       jsii.String("sfu/Dockerfile"),
		Platform:   awsecrassets.Platform_LINUX_ARM64(),
		Exclude:    jsii.Strings(sfuImageExcludes...),
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
	})
}

// newSFU runs the SFU nodes as a Fargate service in the public subnets, each
// task with its own public IP (WebRTC needs a directly reachable address;
// a load balancer cannot carry ICE), scaled on CPU between the configured
// bounds.
func newSFU(scope constructs.Construct, cfg Config, region string, net *network, shared sharedState, stage awsapigatewayv2.WebSocketStage) awsecs.FargateService {
	cluster := awsecs.NewCluster(scope, jsii.String("SfuCluster"), &awsecs.ClusterProps{
		Vpc:                 net.vpc,
		ContainerInsightsV2: awsecs.ContainerInsights_ENABLED,
	})
	task := awsecs.NewFargateTaskDefinition(scope, jsii.String("SfuTask"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(float64(cfg.SFU.CPU)),
		MemoryLimitMiB: jsii.Number(float64(cfg.SFU.MemoryMiB)),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       awsecs.CpuArchitecture_ARM64(),
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	})
	// The SFU pushes media events (answers, candidates, speakers) straight to
	// clients of this region's API, and to nothing else.
	stage.GrantManagementApiAccess(task.TaskRole())
	// Its public IP, read from its own interface. Describe calls have no
	// resource-level permissions; the grant is one read-only action, in
	// this region only.
	task.TaskRole().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("ec2:DescribeNetworkInterfaces"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"aws:RequestedRegion": region}},
	}))

	// A node hosting rooms protects its task from scale-in through the ECS
	// agent (sfu/cmd/sfu/protection.go), which calls this on its behalf;
	// only for this cluster's tasks.
	task.TaskRole().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecs:UpdateTaskProtection"),
		Resources: &[]*string{awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecs"), Resource: jsii.String("task"),
			ResourceName: awscdk.Fn_Join(jsii.String(""), &[]*string{cluster.ClusterName(), jsii.String("/*")}),
		})},
	}))

	logs := newLogGroup(scope, "SfuLogs", nil, logRetention)
	redisPassword := awssecretsmanager.Secret_FromSecretCompleteArn(scope, jsii.String("RedisAuthTokenRef"), shared.redisAuthSecretArn)
	env := map[string]*string{
		"REDIS_ADDR":              shared.redisAddr,
		"REDIS_TLS":               jsii.String("1"),
		"VEET_REGION":             jsii.String(region),
		"SFU_UDP_PORT":            jsii.String(fmt.Sprint(SFUMediaPort)),
		"SFU_TCP_PORT":            jsii.String(fmt.Sprint(SFUMediaPort)),
		"SFU_HTTP_PORT":           jsii.String(fmt.Sprint(SFUHealthPort)),
		"SFU_PUBLIC_IP":           jsii.String(sfuPublicIPSource),
		"SFU_DRAIN_TIMEOUT":       jsii.String(sfuDrainTimeout),
		"SFU_METRICS_INTERVAL":    jsii.String(sfuMetricsInterval),
		"SFU_SCALE_IN_PROTECTION": jsii.String("off"),
		// Changing it replaces every task: they read REDIS_PASSWORD at start.
		"VEET_SECRETS_GENERATION": jsii.String(fmt.Sprint(cfg.SecretsGeneration)),
	}
	if m := cfg.SFU.ScaleInProtectionMinutes; m > 0 {
		env["SFU_SCALE_IN_PROTECTION"] = jsii.String(fmt.Sprintf("%dm", m))
	}
	if f := cfg.SFU.PublicIPFallback; f != "" {
		env["SFU_PUBLIC_IP_FALLBACK"] = jsii.String(f)
	}
	task.AddContainer(jsii.String("sfu"), &awsecs.ContainerDefinitionOptions{
		Image:     sfuImage(cfg),
		Essential: jsii.Bool(true),
		Logging: awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{
			StreamPrefix: jsii.String("sfu"),
			LogGroup:     logs,
		}),
		Environment: &env,
		// Injected by ECS from Secrets Manager at task start; never in the
		// task definition.
		Secrets: &map[string]awsecs.Secret{
			"REDIS_PASSWORD": awsecs.Secret_FromSecretsManager(redisPassword, nil),
		},
		PortMappings: &[]*awsecs.PortMapping{
			{ContainerPort: jsii.Number(SFUMediaPort), Protocol: awsecs.Protocol_UDP, Name: jsii.String("media-udp")},
			{ContainerPort: jsii.Number(SFUMediaPort), Protocol: awsecs.Protocol_TCP, Name: jsii.String("media-tcp")},
			{ContainerPort: jsii.Number(SFUHealthPort), Protocol: awsecs.Protocol_TCP, Name: jsii.String("health")},
		},
		HealthCheck: healthCheck(cfg.SFU.HealthCheck),
		StopTimeout: awscdk.Duration_Seconds(jsii.Number(sfuStopTimeoutSeconds)),
	})

	service := awsecs.NewFargateService(scope, jsii.String("SfuService"), &awsecs.FargateServiceProps{
		Cluster:        cluster,
		TaskDefinition: task,
		AssignPublicIp: jsii.Bool(true),
		VpcSubnets:     &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		SecurityGroups: &[]awsec2.ISecurityGroup{net.sfuSG},
		// Never below the running count during a deploy: a replaced task
		// drains its rooms, and its successor must already be there to take them.
		MinHealthyPercent: jsii.Number(100),
		MaxHealthyPercent: jsii.Number(200),
		CircuitBreaker:    &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		// DesiredCount is left to the autoscaler, so a deploy never resets it.
	})
	// Container Insights writes its performance events to this name once
	// tasks run; created first, with a retention.
	performance := newLogGroup(scope, "SfuPerformanceLogs", awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("/aws/ecs/containerinsights/"), cluster.ClusterName(), jsii.String("/performance"),
	}), performanceLogRetention)
	service.Node().AddDependency(performance)
	scaling := service.AutoScaleTaskCount(&awsapplicationautoscaling.EnableScalingProps{
		MinCapacity: jsii.Number(float64(cfg.SFU.MinTasks)),
		MaxCapacity: jsii.Number(float64(cfg.SFU.MaxTasks)),
	})
	// Scale in slowly: every task removed drains and moves its rooms (the
	// busy ones are protected from scale-in, protection.go). The service
	// grows when any policy asks, and shrinks only when all agree.
	out, in := awscdk.Duration_Seconds(jsii.Number(60)), awscdk.Duration_Seconds(jsii.Number(600))
	scaling.ScaleOnCpuUtilization(jsii.String("Cpu"), &awsecs.CpuUtilizationScalingProps{
		TargetUtilizationPercent: jsii.Number(float64(cfg.SFU.TargetCPUPercent)),
		ScaleOutCooldown:         out, ScaleInCooldown: in,
	})
	// The node's own figures (metrics.go, one line per node every 30 s):
	// their Average over a minute is the per-node mean, what target
	// tracking holds at the target.
	if n := cfg.SFU.TargetParticipants; n > 0 {
		scaling.ScaleToTrackCustomMetric(jsii.String("Participants"), &awsecs.TrackCustomMetricProps{
			Metric: sfuMetric(region, "Participants", "Average"), TargetValue: jsii.Number(float64(n)),
			ScaleOutCooldown: out, ScaleInCooldown: in,
		})
	}
	if mbps := cfg.SFU.TargetForwardedMbps; mbps > 0 {
		scaling.ScaleToTrackCustomMetric(jsii.String("ForwardedBitrate"), &awsecs.TrackCustomMetricProps{
			Metric: sfuMetric(region, "ForwardedBitrate", "Average"), TargetValue: jsii.Number(float64(mbps) * 1e6),
			ScaleOutCooldown: out, ScaleInCooldown: in,
		})
	}
	return service
}

// healthCheck is the container check of the SFU's /healthz (not exposed
// outside the task), or nil when the configuration turns it off.
func healthCheck(command []string) *awsecs.HealthCheck {
	if len(command) == 0 {
		return nil
	}
	return &awsecs.HealthCheck{
		Command:     jsii.Strings(command...),
		Interval:    awscdk.Duration_Seconds(jsii.Number(15)),
		Timeout:     awscdk.Duration_Seconds(jsii.Number(5)),
		Retries:     jsii.Number(3),
		StartPeriod: awscdk.Duration_Seconds(jsii.Number(30)),
	}
}
