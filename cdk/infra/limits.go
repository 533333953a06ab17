package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// What keeps a flood from becoming a bill, or one route's flood from
// starving the others, on AWS. Three layers, each for what the others
// cannot do:
//
//  1. Per connection, in the handlers (lambdas, internal/state): every
//     socket has a rate limit in Redis and an abuser is cut off. Only this
//     layer knows who is sending; but each refused message has already
//     cost an invocation.
//  2. Per route, at the API stage (below): API Gateway drops messages past
//     a route's rate with no Lambda call at all. The limit counts all
//     clients together, so it protects the backend and the bill, not one
//     client from another; it is set well above what real meetings send
//     (a join is a handful of messages, candidates a few dozen per
//     participant), and lower for the two routes a script would hammer:
//     $connect (a new socket per try) and create (a new meeting in Redis).
//  3. Per function, reserved concurrency (below): each function has its own
//     share of the region's Lambda concurrency, so a flood of candidates
//     cannot take the concurrency that join, leave and $disconnect need,
//     and no function can hold more Redis connections than its share.
//
// AWS WAF is not a layer here: it attaches to REST APIs, CloudFront,
// load balancers and AppSync, not to WebSocket APIs. CloudFront in front of
// the WebSocket API would take WAF but adds a hop to every signaling
// message and its own connection limits; not worth it for rate limiting
// the two layers above already do.

// reservedConcurrency is each function's share (routes.Functions names).
// At ~20 ms a message, 50 concurrent executions carry ~2,500 messages/s.
// Their sum (371) must stay below the account's regional concurrency quota
// minus the 100 Lambda keeps unreserved: the default quota of 1,000 fits;
// a new account with a lower quota sets signaling.reservedConcurrency
// false or asks for more (docs/deploy.md).
var reservedConcurrency = map[string]int{
	"connect":    50,
	"disconnect": 50, // cleanup must not wait behind a flood
	"default":    10, // unknown actions only
	"create":     10,
	"join":       50,
	"leave":      20,
	"ping":       20,
	"presence":   20,
	"signal":     100, // offers, answers and the candidates of every join
	"lobby":      20,
	"moderate":   20,
	"sweep":      1, // one sweep at a time
}

// ReservedConcurrency is the table, for tests and docs.
func ReservedConcurrency() map[string]int {
	out := map[string]int{}
	for k, v := range reservedConcurrency {
		out[k] = v
	}
	return out
}

func reserve(cfg Config, name string, props *awslambda.FunctionProps) {
	if !cfg.Signaling.ReservedConcurrency {
		return
	}
	n, ok := reservedConcurrency[name]
	if !ok {
		panic(fmt.Sprintf("cdk: function %q has no share in infra.reservedConcurrency", name))
	}
	props.ReservedConcurrentExecutions = jsii.Number(float64(n))
}

// routeSettings are the stage's per-route overrides. A route's settings
// replace the stage defaults for that route, so each repeats the logging
// and metrics settings.
func routeSettings(cfg Config, keys []string) map[string]interface{} {
	sc := cfg.Signaling
	limits := map[string][2]int{
		"$connect": {sc.ConnectRateLimit, sc.ConnectBurstLimit},
		"create":   {sc.CreateRateLimit, sc.CreateBurstLimit},
	}
	out := map[string]interface{}{}
	for _, key := range keys {
		l, ok := limits[key]
		if !ok {
			continue
		}
		rs := defaultRouteSettings(cfg)
		rs["ThrottlingRateLimit"], rs["ThrottlingBurstLimit"] = l[0], l[1]
		out[key] = rs
	}
	return out
}

// defaultRouteSettings are the stage's settings for every route: throttle,
// execution logs (never the message bodies: they carry meeting tokens),
// per-route metrics.
func defaultRouteSettings(cfg Config) map[string]interface{} {
	return map[string]interface{}{
		"ThrottlingRateLimit":    cfg.Signaling.RateLimit,
		"ThrottlingBurstLimit":   cfg.Signaling.BurstLimit,
		"LoggingLevel":           cfg.Signaling.ExecutionLogLevel,
		"DataTraceEnabled":       false,
		"DetailedMetricsEnabled": true,
	}
}

// applyStageSettings writes the settings onto the stage's CloudFormation
// resource (the L2 stage exposes only part of them).
func applyStageSettings(cfg Config, stage awsapigatewayv2.WebSocketStage, keys []string) {
	cfn := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfn.AddPropertyOverride(jsii.String("DefaultRouteSettings"), defaultRouteSettings(cfg))
	if rs := routeSettings(cfg, keys); len(rs) > 0 {
		cfn.AddPropertyOverride(jsii.String("RouteSettings"), rs)
	}
}
