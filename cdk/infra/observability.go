package infra

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// What a region's operators watch: one dashboard, and alarms that notify
// one SNS topic. The figures come from the AWS services' own metrics and
// from the two embedded-metric-format streams veet logs (no agent):
//
//	veet/sfu        per node, dimension Region (sfu/cmd/sfu/metrics.go):
//	                Rooms, Participants, Tracks, ForwardedBitrate,
//	                CPUUtilization, CommandLag, Serving
//	veet/signaling  per client message (lambdas/metrics.go): Requests and
//	                Latency by Action and in total, Errors by Code and in total
const (
	sfuNamespace       = "veet/sfu"
	signalingNamespace = "veet/signaling"
)

// Alarm thresholds. Each alarm's description says what to look at.
const (
	sfuCPUAlarmPercent = 85   // hottest node, 3 minutes: media quality suffers above
	commandLagAlarmMs  = 1000 // a node 1 s behind its command channel, 2 minutes
	redisCPUAlarm      = 80   // Redis engine thread, 3 × 5 minutes
	redisMemoryAlarm   = 80   // percent of maxmemory, 2 × 5 minutes
)

// observability is one region's alarm topic, alarms and dashboard.
type observability struct {
	topic  awssns.Topic
	alarms []awscloudwatch.Alarm
}

func sfuMetric(region, name, statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(sfuNamespace), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{"Region": jsii.String(region)},
		Statistic:     jsii.String(statistic), Period: awscdk.Duration_Minutes(jsii.Number(1)),
	})
}

func minutes(n float64) awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(n)) }

// newObservability builds them for region stack r, once its workloads exist.
func newObservability(r *RegionStack, cfg Config) *observability {
	o := &observability{}
	o.topic = awssns.NewTopic(r.Stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("veet " + r.Region + " alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	// A topic policy replaces SNS's default one, so the SSL-only policy
	// above must also let CloudWatch publish, for this account's alarms.
	o.topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{o.topic.TopicArn()},
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": r.Stack.Account()},
			"ArnLike": map[string]interface{}{"aws:SourceArn": r.Stack.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"), ResourceName: jsii.String("*"),
				ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
			})},
		},
	}))
	if cfg.AlarmEmail != "" {
		o.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	awscdk.NewCfnOutput(r.Stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("subscribe to this topic for this region's alarms"), Value: o.topic.TopicArn(),
	})

	o.signalingAlarms(r)
	o.sfuAlarms(r)
	if r.Primary {
		o.redisAlarms(r, cfg)
	}
	o.dashboard(r, cfg)
	return o
}

// alarm creates one alarm that notifies the topic when it fires and when
// it clears.
func (o *observability) alarm(r *RegionStack, id, what string, m awscloudwatch.IMetric, op awscloudwatch.ComparisonOperator,
	threshold float64, periods, datapoints int, missing awscloudwatch.TreatMissingData) {
	a := awscloudwatch.NewAlarm(r.Stack, jsii.String("Alarm"+id), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(what + " — runbook: docs/deploy.md, Alarms"),
		Metric:             m,
		ComparisonOperator: op,
		Threshold:          jsii.Number(threshold),
		EvaluationPeriods:  jsii.Number(float64(periods)),
		DatapointsToAlarm:  jsii.Number(float64(datapoints)),
		TreatMissingData:   missing,
	})
	action := awscloudwatchactions.NewSnsAction(o.topic)
	a.AddAlarmAction(action)
	a.AddOkAction(action)
	o.alarms = append(o.alarms, a)
}

func (o *observability) signalingAlarms(r *RegionStack) {
	ge := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	fine := awscloudwatch.TreatMissingData_NOT_BREACHING
	five := &awscloudwatch.MetricOptions{Period: minutes(5), Statistic: jsii.String("Sum")}
	for _, name := range sortedKeys(r.signaling.functions) {
		fn := r.signaling.functions[name]
		// A handler answers refusals itself; a Lambda error is a crash or
		// a timeout (Redis or @connections out of reach).
		o.alarm(r, "LambdaErrors"+alnum(name), fmt.Sprintf("the %s function crashed or timed out 3+ times in 5 minutes", name),
			fn.MetricErrors(five), ge, 3, 1, 1, fine)
		// Throttled: the function's reserved concurrency or the account's
		// is used up; messages are being dropped.
		o.alarm(r, "LambdaThrottles"+alnum(name), fmt.Sprintf("the %s function was throttled (reserved concurrency used up)", name),
			fn.MetricThrottles(five), ge, 1, 1, 1, fine)
	}
	api := func(metric string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/ApiGateway"), MetricName: jsii.String(metric),
			DimensionsMap: &map[string]*string{"ApiId": r.signaling.api.ApiId(), "Stage": jsii.String(StageName)},
			Statistic:     jsii.String("Sum"), Period: minutes(5),
		})
	}
	// A WebSocket API's "5xx": the integration failed or could not be called.
	o.alarm(r, "Api5xx", "the WebSocket API failed to run or reach its Lambdas 5+ times in 5 minutes",
		awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String("integration + execution"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"integration": api("IntegrationError"), "execution": api("ExecutionError")},
			Label:        jsii.String("integration and execution errors"), Period: minutes(5),
		}), ge, 5, 1, 1, fine)
	o.alarm(r, "HandlerInternalErrors", "handlers answered 5+ messages with code internal in 5 minutes (their logs say why)",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(signalingNamespace), MetricName: jsii.String("Errors"),
			DimensionsMap: &map[string]*string{"Code": jsii.String("internal")},
			Statistic:     jsii.String("Sum"), Period: minutes(5),
		}), ge, 5, 1, 1, fine)
}

func (o *observability) sfuAlarms(r *RegionStack) {
	// Every serving node writes Serving=1 twice a minute: no line, or only
	// draining nodes, means no node can take a new meeting here.
	o.alarm(r, "NoServingSfuNode", "no SFU node is serving in this region (none running, or all draining): new meetings cannot start",
		sfuMetric(r.Region, "Serving", "Maximum"), awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, 1, 2, 2,
		awscloudwatch.TreatMissingData_BREACHING)
	o.alarm(r, "SfuCpu", fmt.Sprintf("an SFU node has used more than %d%% of its CPU for 3 minutes", sfuCPUAlarmPercent),
		sfuMetric(r.Region, "CPUUtilization", "Maximum"), awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		sfuCPUAlarmPercent, 3, 3, awscloudwatch.TreatMissingData_NOT_BREACHING)
	o.alarm(r, "SfuCommandLag", fmt.Sprintf("an SFU node handles its commands more than %d ms late (Redis or the node overloaded)", commandLagAlarmMs),
		sfuMetric(r.Region, "CommandLag", "Maximum"), awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		commandLagAlarmMs, 2, 2, awscloudwatch.TreatMissingData_NOT_BREACHING)
}

// redisNodes are the replication group's nodes: CacheClusterId
// <group>-001, -002, … (cluster mode off), each with CacheNodeId 0001.
func redisNodes(r *RegionStack, cfg Config, metric, statistic string) map[string]awscloudwatch.IMetric {
	out := map[string]awscloudwatch.IMetric{}
	for i := 1; i <= 1+cfg.Redis.Replicas; i++ {
		id := awscdk.Fn_Join(jsii.String(""), &[]*string{r.state.group.Ref(), jsii.String(fmt.Sprintf("-%03d", i))})
		out[fmt.Sprintf("node%d", i)] = awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/ElastiCache"), MetricName: jsii.String(metric),
			DimensionsMap: &map[string]*string{"CacheClusterId": id, "CacheNodeId": jsii.String("0001")},
			Statistic:     jsii.String(statistic), Period: minutes(5),
		})
	}
	return out
}

func (o *observability) redisAlarms(r *RegionStack, cfg Config) {
	across := func(fn, metric, statistic, label string) awscloudwatch.MathExpression {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fn + "(METRICS())"), UsingMetrics: ptr(redisNodes(r, cfg, metric, statistic)),
			Label: jsii.String(label), Period: minutes(5),
		})
	}
	gt := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	fine := awscloudwatch.TreatMissingData_NOT_BREACHING
	o.alarm(r, "RedisCpu", fmt.Sprintf("a Redis node's engine thread is over %d%% busy for 15 minutes: every handler and node waits on it", redisCPUAlarm),
		across("MAX", "EngineCPUUtilization", "Average", "busiest node's engine CPU"), gt, redisCPUAlarm, 3, 3, fine)
	o.alarm(r, "RedisMemory", fmt.Sprintf("a Redis node uses over %d%% of its memory: evictions (lost meeting state) come next", redisMemoryAlarm),
		across("MAX", "DatabaseMemoryUsagePercentage", "Maximum", "fullest node's memory"), gt, redisMemoryAlarm, 2, 2, fine)
	o.alarm(r, "RedisEvictions", "Redis evicted keys: meeting state or commands were dropped for lack of memory",
		across("SUM", "Evictions", "Sum", "evicted keys"), gt, 0, 1, 1, fine)
}

func ptr[T any](v T) *T { return &v }

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dashboard lays out the region on one page, top to bottom: signaling,
// the API and its Lambdas, the SFU nodes, Redis (primary), alarm states.
func (o *observability) dashboard(r *RegionStack, cfg Config) {
	graph := func(title string, width float64, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: &metrics,
		})
	}
	search := func(expr, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(expr), Label: jsii.String(label), Period: minutes(1),
			UsingMetrics: &map[string]awscloudwatch.IMetric{},
		})
	}
	signalingMetric := func(name, statistic string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(signalingNamespace), MetricName: jsii.String(name),
			Statistic: jsii.String(statistic), Period: minutes(1), Label: jsii.String(name + " " + statistic),
		})
	}
	api := func(metric, statistic string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/ApiGateway"), MetricName: jsii.String(metric),
			DimensionsMap: &map[string]*string{"ApiId": r.signaling.api.ApiId(), "Stage": jsii.String(StageName)},
			Statistic:     jsii.String(statistic), Period: minutes(1),
		})
	}
	var lambdaErrors, lambdaThrottles, lambdaDuration, lambdaConcurrency []awscloudwatch.IMetric
	for _, name := range sortedKeys(r.signaling.functions) {
		fn := r.signaling.functions[name]
		opts := func(stat string) *awscloudwatch.MetricOptions {
			return &awscloudwatch.MetricOptions{Period: minutes(1), Statistic: jsii.String(stat), Label: jsii.String(name)}
		}
		lambdaErrors = append(lambdaErrors, fn.MetricErrors(opts("Sum")))
		lambdaThrottles = append(lambdaThrottles, fn.MetricThrottles(opts("Sum")))
		lambdaDuration = append(lambdaDuration, fn.MetricDuration(opts("p99")))
		lambdaConcurrency = append(lambdaConcurrency, fn.Metric(jsii.String("ConcurrentExecutions"), opts("Maximum")))
	}
	sfu := func(name, stat string) awscloudwatch.IMetric {
		m := sfuMetric(r.Region, name, stat)
		return m.With(&awscloudwatch.MetricOptions{Label: jsii.String(name + " " + stat)})
	}
	service := r.sfu.ServiceName()
	cluster := r.sfu.Cluster().ClusterName()
	tasks := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("ECS/ContainerInsights"), MetricName: jsii.String("RunningTaskCount"),
		DimensionsMap: &map[string]*string{"ClusterName": cluster, "ServiceName": service},
		Statistic:     jsii.String("Average"), Period: minutes(1), Label: jsii.String("running tasks"),
	})

	rows := [][]awscloudwatch.IWidget{
		{
			graph("Signaling: messages by action", 8, search(`SEARCH('{`+signalingNamespace+`,Action} MetricName="Requests"', 'Sum', 60)`, "")),
			graph("Signaling: refusals by code", 8, search(`SEARCH('{`+signalingNamespace+`,Code} MetricName="Errors"', 'Sum', 60)`, "")),
			graph("Signaling: handler latency (ms)", 8, signalingMetric("Latency", "p50"), signalingMetric("Latency", "p99")),
		},
		{
			graph("API: connects and messages", 8, api("ConnectCount", "Sum"), api("MessageCount", "Sum")),
			graph("API: errors", 8, api("ClientError", "Sum"), api("IntegrationError", "Sum"), api("ExecutionError", "Sum")),
			graph("API: integration latency (ms)", 8, api("IntegrationLatency", "p50"), api("IntegrationLatency", "p99")),
		},
		{
			graph("Lambda: errors", 6, lambdaErrors...),
			graph("Lambda: throttles", 6, lambdaThrottles...),
			graph("Lambda: duration p99 (ms)", 6, lambdaDuration...),
			graph("Lambda: concurrency", 6, lambdaConcurrency...),
		},
		{
			graph("SFU: meetings", 6, sfu("Rooms", "Sum"), sfu("Participants", "Sum"), sfu("Tracks", "Sum")),
			graph("SFU: forwarded bit/s", 6, sfu("ForwardedBitrate", "Sum"), sfu("ForwardedBitrate", "Maximum")),
			graph("SFU: CPU % and nodes", 6, sfu("CPUUtilization", "Maximum"), sfu("CPUUtilization", "Average"), tasks),
			graph("SFU: command lag (ms)", 6, sfu("CommandLag", "Maximum")),
		},
	}
	if r.Primary {
		nodes := func(metric, stat string) []awscloudwatch.IMetric {
			var out []awscloudwatch.IMetric
			m := redisNodes(r, cfg, metric, stat)
			for _, k := range sortedKeys(m) {
				out = append(out, m[k].(awscloudwatch.Metric).With(&awscloudwatch.MetricOptions{Period: minutes(1), Label: jsii.String(k)}))
			}
			return out
		}
		rows = append(rows, []awscloudwatch.IWidget{
			graph("Redis: engine CPU %", 6, nodes("EngineCPUUtilization", "Average")...),
			graph("Redis: memory %", 6, nodes("DatabaseMemoryUsagePercentage", "Maximum")...),
			graph("Redis: evictions", 6, nodes("Evictions", "Sum")...),
			graph("Redis: connections", 6, nodes("CurrConnections", "Maximum")...),
		})
	}
	var refs []interfacesawscloudwatch.IAlarmRef
	for _, a := range o.alarms {
		refs = append(refs, a)
	}
	rows = append(rows, []awscloudwatch.IWidget{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("Alarms"), Alarms: &refs, Width: jsii.Number(24), Height: jsii.Number(8),
	})})

	var widgets []*[]awscloudwatch.IWidget
	for _, row := range rows {
		widgets = append(widgets, &row)
	}
	awscloudwatch.NewDashboard(r.Stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(*r.Stack.StackName()), // dashboards are global: the region is in the name
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
		Widgets:         &widgets,
	})
}
