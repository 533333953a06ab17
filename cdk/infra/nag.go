package infra

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// applyNag runs cdk-nag's AwsSolutions pack over every stack. A finding is
// a synthesis error unless it is suppressed here, on the narrowest construct
// and (for IAM findings) the exact permission, with the reason it is
// accepted.
func applyNag(app awscdk.App, d *Deployment) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	for _, r := range d.Regions {
		suppressRegion(r)
	}
	suppressGlobal(d.Global, d.Config)
}

// finding is one accepted cdk-nag rule; appliesTo narrows IAM findings to
// named policies, actions or resources.
type finding struct {
	id, reason string
	appliesTo  []interface{}
}

func suppress(c constructs.IConstruct, withChildren bool, fs ...finding) {
	var list []*cdknag.NagPackSuppression
	for _, f := range fs {
		s := &cdknag.NagPackSuppression{Id: jsii.String(f.id), Reason: jsii.String(f.reason)}
		if f.appliesTo != nil {
			s.AppliesTo = &f.appliesTo
		}
		list = append(list, s)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &list, jsii.Bool(withChildren))
}

// connectionsResource matches the ManageConnections grant on this stack's
// own API and stage: arn:…:execute-api:<region>:<account>:<api id>/prod/*/@connections/*
// (the account is a literal or, for an account-agnostic stack, <AWS::AccountId>).
var connectionsResource = &cdknag.RegexAppliesTo{
	Regex: jsii.String(`/^Resource::arn:[a-z-]+:execute-api:[a-z0-9-]+:(\d{12}|<AWS::AccountId>):<WebSocketApi[0-9A-F]+>\/` + StageName + `\/\*\/@connections\/\*$/g`),
}

// clusterTasksResource matches the UpdateTaskProtection grant: the tasks of
// this stack's SFU cluster, arn:…:ecs:<region>:<account>:task/<cluster>/*.
var clusterTasksResource = &cdknag.RegexAppliesTo{
	Regex: jsii.String(`/^Resource::arn:[a-z-]+:ecs:[a-z0-9-]+:(\d{12}|<AWS::AccountId>):task\/<SfuCluster[0-9A-F]+>\/\*$/g`),
}

var managedLambdaPolicies = []interface{}{
	"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
	"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
}

func suppressRegion(r *RegionStack) {
	connectionsWildcard := finding{"AwsSolutions-IAM5",
		"@connections ids are created per client at run time, so the grant names this region's API and stage and wildcards only the method and connection id",
		[]interface{}{connectionsResource}}

	suppress(r.net.sfuSG, false, finding{"AwsSolutions-EC23",
		"WebRTC media must reach the SFU from any client address, on exactly one UDP and one TCP port (50000); nothing else is open", nil})
	suppress(r.signaling.api, true, finding{"AwsSolutions-APIG4",
		"WebSocket APIs allow an authorizer only on $connect; anyone may open a socket (as in Google Meet), and every action is authorized by the Lambdas from the signed meeting token and room state in Redis", nil})
	for _, fn := range r.signaling.functions {
		suppress(fn.Role(), true,
			finding{"AwsSolutions-IAM4",
				"AWS-maintained minimal policies for a VPC Lambda: CloudWatch Logs writes and the ENI calls Lambda needs to attach to private subnets",
				managedLambdaPolicies},
			connectionsWildcard)
	}
	task := r.sfu.TaskDefinition()
	suppress(task, false, finding{"AwsSolutions-ECS2",
		"the environment holds only non-secret settings (ports, region, Redis host, drain timeout); the Redis password is injected from Secrets Manager", nil})
	suppress(task.TaskRole(), true, connectionsWildcard, finding{"AwsSolutions-IAM5",
		"ec2:DescribeNetworkInterfaces (how a task learns its own public IP) has no resource-level permissions; the grant is that one read-only action, limited to this region by aws:RequestedRegion",
		[]interface{}{"Resource::*"}}, finding{"AwsSolutions-IAM5",
		"scale-in protection names the task it protects, whose id is known only at run time: the grant is UpdateTaskProtection on this cluster's tasks",
		[]interface{}{clusterTasksResource}})
	suppress(task.ExecutionRole(), true, finding{"AwsSolutions-IAM5",
		"ecr:GetAuthorizationToken has no resource-level permissions; the other execution-role grants name the image repository, log group and secret",
		[]interface{}{"Resource::*"}})
	suppress(r.obs.topic, false, finding{"AwsSolutions-SNS2",
		"alarm notifications carry alarm names and states, no data; CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key for this costs $1/month per region", nil})
	if r.Primary {
		rotation := finding{"AwsSolutions-SMG4",
			"rotating the Redis AUTH token needs a coordinated ElastiCache ROTATE/SET sequence and rotating the token key invalidates live meeting links; both are operator-run procedures (docs/deploy.md), not a scheduled Lambda", nil}
		suppress(r.state.redisAuth, true, rotation)
		suppress(r.state.token, true, rotation)
		suppress(r.state.group, false, finding{"AwsSolutions-AEC5",
			"6379 is the port every veet component expects; Redis is reachable only from the VPC's own security groups and peered VPC ranges, and requires TLS and AUTH", nil})
	}
	if role := logRole(r); role != nil {
		suppress(role, true, finding{"AwsSolutions-IAM4",
			"the AWS-managed API Gateway push-to-CloudWatch policy is the documented policy for the account's API Gateway logging role",
			[]interface{}{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}})
	}
}

func logRole(r *RegionStack) constructs.IConstruct {
	return r.Stack.Node().TryFindChild(jsii.String("ApiGatewayLogRole"))
}

func suppressGlobal(g *GlobalStack, cfg Config) {
	fs := []finding{
		{"AwsSolutions-CFR1", "a meeting service is for everyone; there is no country it must be withheld from", nil},
		{"AwsSolutions-CFR2", "the distribution serves only static files of the web app; a WAF (from ~$5/month + per request) is an operator's choice, not a default", nil},
	}
	if cfg.Domain == "" {
		fs = append(fs, finding{"AwsSolutions-CFR4",
			"without a custom domain CloudFront serves its default *.cloudfront.net certificate, whose TLS policy cannot be raised; with `domain` set the distribution requires TLSv1.2_2021", nil})
	}
	suppress(g.Distribution, false, fs...)
	// BucketDeployment's singleton Lambda is CDK's own code: its runtime,
	// managed policy and S3 wildcards (on the asset bucket and the SPA
	// bucket only) are chosen by CDK.
	for _, c := range *g.Stack.Node().Children() {
		if strings.HasPrefix(*c.Node().Id(), "Custom::CDKBucketDeployment") {
			suppress(c, true,
				finding{"AwsSolutions-IAM4", "CDK's BucketDeployment handler uses the AWS-managed basic execution policy for its logs", nil},
				finding{"AwsSolutions-IAM5", "CDK's BucketDeployment handler copies the SPA from the CDK asset bucket into the SPA bucket: object-level wildcards on those two buckets only", nil},
				finding{"AwsSolutions-L1", "the runtime of CDK's BucketDeployment handler is pinned by aws-cdk-lib; it runs only during deploys", nil})
		}
	}
}
