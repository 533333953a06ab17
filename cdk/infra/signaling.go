package infra

import (
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/veet-dev/veet/lambdas/routes"
)

// signaling is one region's WebSocket API and the Lambdas behind its routes.
type signaling struct {
	api       awsapigatewayv2.WebSocketApi
	stage     awsapigatewayv2.WebSocketStage
	functions map[string]awslambda.Function // by routes.Function.Name
}

// FunctionDescription is the Description of a signaling Lambda; it names the
// function so operators (and the tests) can tell them apart in the console.
func FunctionDescription(name string) string { return "veet signaling: " + name }

// accessLogs implements awsapigatewayv2.IAccessLogSettings; a nil Format
// keeps CDK's WebSocket default (source IP, route key, connection id, status).
type accessLogs struct {
	dest awsapigatewayv2.IAccessLogDestination
}

func (a *accessLogs) Destination() awsapigatewayv2.IAccessLogDestination { return a.dest }
func (a *accessLogs) Format() awsapigateway.AccessLogFormat              { return nil }

// newSignaling builds the WebSocket API with one route per route key of
// lambdas/routes, each integrated with its function's Lambda, and puts the
// functions that serve no route on their schedule.
func newSignaling(scope constructs.Construct, cfg Config, region string, net *network, shared sharedState, domain awsapigatewayv2.DomainName) *signaling {
	s := &signaling{functions: map[string]awslambda.Function{}}
	s.api = awsapigatewayv2.NewWebSocketApi(scope, jsii.String("WebSocketApi"), &awsapigatewayv2.WebSocketApiProps{
		ApiName:                  jsii.String("veet-" + region),
		Description:              jsii.String("veet signaling: browsers' WebSocket"),
		RouteSelectionExpression: jsii.String(routes.SelectionExpression),
	})

	apiLogs := newLogGroup(scope, "WebSocketAccessLogs", nil, logRetention)
	stageProps := &awsapigatewayv2.WebSocketStageProps{
		WebSocketApi:      s.api,
		StageName:         jsii.String(StageName),
		AutoDeploy:        jsii.Bool(true),
		AccessLogSettings: &accessLogs{dest: awsapigatewayv2.NewLogGroupLogDestination(apiLogs)},
		// Throttles, execution logs and per-route metrics: limits.go.
	}
	if domain != nil {
		// The custom domain maps straight to the stage (no path), so clients
		// connect to wss://ws.<domain>.
		stageProps.DomainMapping = &awsapigatewayv2.DomainMappingOptions{DomainName: domain}
	}
	s.stage = awsapigatewayv2.NewWebSocketStage(scope, jsii.String("Stage"), stageProps)
	// API Gateway writes execution logs to this name; created first, with a
	// retention, before the stage turns logging on.
	execLogs := newLogGroup(scope, "WebSocketExecutionLogs", awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("/aws/apigateway/"), s.api.ApiId(), jsii.String("/" + StageName),
	}), logRetention)
	s.stage.Node().AddDependency(execLogs)
	if cfg.ManageAPIGatewayLogRole {
		// Access logs of WebSocket APIs go through the account-wide API
		// Gateway CloudWatch role; the stage fails to deploy without it.
		logRole := awsiam.NewRole(scope, jsii.String("ApiGatewayLogRole"), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
			ManagedPolicies: &[]awsiam.IManagedPolicy{
				awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AmazonAPIGatewayPushToCloudWatchLogs")),
			},
		})
		account := awsapigateway.NewCfnAccount(scope, jsii.String("ApiGatewayAccount"), &awsapigateway.CfnAccountProps{
			CloudWatchRoleArn: logRole.RoleArn(),
		})
		s.stage.Node().AddDependency(account)
	}

	env := map[string]*string{
		"REDIS_ADDR":            shared.redisAddr,
		"REDIS_TLS":             jsii.String("1"),
		"REDIS_AUTH_SECRET_ARN": shared.redisAuthSecretArn,
		"TOKEN_SECRET_ARN":      shared.tokenSecretArn,
		"VEET_REGION":           jsii.String(region),
		// The execute-api callback URL: with a custom domain the request's
		// own domain name is the latency-routed one, not this API.
		"VEET_CALLBACK_URL":       s.stage.CallbackUrl(),
		"VEET_SECRETS_GENERATION": jsii.String(fmt.Sprint(cfg.SecretsGeneration)),
	}
	readSecrets := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: &[]*string{shared.redisAuthSecretArn, shared.tokenSecretArn},
	})

	var keys []string
	for _, f := range routes.Functions {
		logs := newLogGroup(scope, "Logs-"+f.Name, nil, logRetention)
		props := &awslambda.FunctionProps{
			Description:  jsii.String(FunctionDescription(f.Name)),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.LambdaAssetDir, f.Name)), nil),
			MemorySize:   jsii.Number(256),
			// API Gateway gives up on an integration after 29 s; a handler
			// that needs more than 10 s is stuck on Redis or the network.
			Timeout:        awscdk.Duration_Seconds(jsii.Number(10)),
			Environment:    &env,
			Vpc:            net.vpc,
			VpcSubnets:     net.privateSubnets(),
			SecurityGroups: &[]awsec2.ISecurityGroup{net.lambdaSG},
			LogGroup:       logs,
		}
		reserve(cfg, f.Name, props)
		fn := awslambda.NewFunction(scope, jsii.String("Fn-"+f.Name), props)
		fn.AddToRolePolicy(readSecrets)
		// Handlers answer and notify clients through @connections.
		s.stage.GrantManagementApiAccess(fn)
		s.functions[f.Name] = fn

		if len(f.RouteKeys) == 0 {
			schedule(scope, f.Name, fn)
			continue
		}
		integration := awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String("Integration-"+f.Name), fn, nil)
		for _, key := range f.RouteKeys {
			route := s.api.AddRoute(jsii.String(key), &awsapigatewayv2.WebSocketRouteOptions{Integration: integration})
			// Route settings may only name routes that exist already.
			s.stage.Node().AddDependency(route)
			keys = append(keys, key)
		}
	}
	applyStageSettings(cfg, s.stage, keys)
	return s
}

// Schedules of the functions that serve no route. Every region runs its own:
// each sweeps the SFU nodes of its region.
var schedules = map[string]float64{ // minutes
	"sweep": 1, // rooms off nodes that stopped heartbeating
}

func schedule(scope constructs.Construct, name string, fn awslambda.Function) {
	every, ok := schedules[name]
	if !ok {
		// A function with neither route nor schedule would never run.
		panic(fmt.Sprintf("cdk: function %q has no route keys and no schedule in infra.schedules", name))
	}
	awsevents.NewRule(scope, jsii.String("Schedule-"+name), &awsevents.RuleProps{
		Description: jsii.String("veet: runs the " + name + " function"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(every))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, nil)},
	})
}
