package infra_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/veet-dev/veet/cdk/infra"
	"github.com/veet-dev/veet/lambdas/routes"
)

// alarmsByName maps each alarm's logical id prefix (Alarm<Name>) to its
// properties.
func alarmsByName(f *fixture, stack string) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	for id, a := range f.resources(stack, "AWS::CloudWatch::Alarm") {
		name := strings.TrimPrefix(id, "Alarm")
		out[name[:len(name)-8]] = props(a) // CDK appends an 8-digit hash
	}
	return out
}

// alarmMetrics lists "namespace/name stat {dims}" of every metric an alarm
// reads, whether single-metric or a math expression.
func alarmMetrics(p map[string]interface{}) []string {
	dims := func(v interface{}) string {
		var kv []string
		for _, d := range asList(v) {
			d := d.(map[string]interface{})
			kv = append(kv, fmt.Sprintf("%v=%s", d["Name"], asJSON(d["Value"])))
		}
		sort.Strings(kv)
		return strings.Join(kv, ",")
	}
	if p["MetricName"] != nil {
		return []string{fmt.Sprintf("%v/%v %v {%s}", p["Namespace"], p["MetricName"], p["Statistic"], dims(p["Dimensions"]))}
	}
	var out []string
	for _, q := range asList(p["Metrics"]) {
		q := q.(map[string]interface{})
		if ms, ok := q["MetricStat"].(map[string]interface{}); ok {
			m := ms["Metric"].(map[string]interface{})
			out = append(out, fmt.Sprintf("%v/%v %v {%s}", m["Namespace"], m["MetricName"], ms["Stat"], dims(m["Dimensions"])))
		}
	}
	sort.Strings(out)
	return out
}

func lettersAndDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func asList(v interface{}) []interface{} { l, _ := v.([]interface{}); return l }

// Every region has one alarm topic, SSL only, that CloudWatch may publish
// to; every alarm notifies it when it fires and when it clears; the
// configured address is subscribed.
func TestAlarmsNotifyTheRegionsTopic(t *testing.T) {
	for name, f := range map[string]*fixture{"domain": synth(t), "plain": synthPlain(t)} {
		for _, region := range regions {
			stack := regionStack(region)
			topics := f.resources(stack, "AWS::SNS::Topic")
			if len(topics) != 1 {
				t.Fatalf("%s %s: %d topics", name, stack, len(topics))
			}
			var topic string
			for id := range topics {
				topic = id
			}
			var policy string
			for _, p := range f.resources(stack, "AWS::SNS::TopicPolicy") {
				policy = asJSON(props(p)["PolicyDocument"])
			}
			if !strings.Contains(policy, `"Condition":{"Bool":{"aws:SecureTransport":"false"}},"Effect":"Deny"`) ||
				!strings.Contains(policy, `"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"}`) {
				t.Errorf("%s %s: topic policy %s, want SSL only and CloudWatch allowed", name, stack, policy)
			}
			alarms := alarmsByName(f, stack)
			if len(alarms) == 0 {
				t.Fatalf("%s %s: no alarms", name, stack)
			}
			want := `[{"Ref":"` + topic + `"}]`
			for id, a := range alarms {
				if asJSON(a["AlarmActions"]) != want || asJSON(a["OKActions"]) != want {
					t.Errorf("%s %s: alarm %s notifies %s / %s, want the topic", name, stack, id, asJSON(a["AlarmActions"]), asJSON(a["OKActions"]))
				}
				if !strings.Contains(fmt.Sprint(a["AlarmDescription"]), "runbook: docs/deploy.md") {
					t.Errorf("%s %s: alarm %s has no runbook pointer", name, stack, id)
				}
			}
			subs := f.resources(stack, "AWS::SNS::Subscription")
			if name == "domain" {
				if len(subs) != 1 || asJSON(props(first(subs))) != `{"Endpoint":"ops@example.com","Protocol":"email","TopicArn":{"Ref":"`+topic+`"}}` {
					t.Errorf("%s: subscriptions %s, want ops@example.com by e-mail", stack, asJSON(subs))
				}
			} else if len(subs) != 0 {
				t.Errorf("%s: subscriptions without alarmEmail: %s", stack, asJSON(subs))
			}
		}
	}
}

func first(m map[string]map[string]interface{}) map[string]interface{} {
	for _, v := range m {
		return v
	}
	return nil
}

// The alarms the issue names, each on the right metric and threshold: Lambda
// errors and throttles (every function), no serving SFU node, SFU CPU,
// command lag, API 5xx, Redis CPU, memory and evictions (primary only).
func TestAlarmsCoverTheFailuresThatMatter(t *testing.T) {
	f := synthPlain(t)
	for _, region := range regions {
		stack := regionStack(region)
		alarms := alarmsByName(f, stack)
		fns := lambdaIDs(t, f, stack)
		for _, fn := range routes.Functions {
			for _, kind := range []string{"Errors", "Throttles"} {
				a, ok := alarms["Lambda"+kind+lettersAndDigits(fn.Name)]
				if !ok {
					t.Errorf("%s: no Lambda %s alarm for %s", stack, kind, fn.Name)
					continue
				}
				if got := alarmMetrics(a); len(got) != 1 || got[0] != `AWS/Lambda/`+kind+` Sum {FunctionName={"Ref":"`+fns[fn.Name]+`"}}` {
					t.Errorf("%s: %s %s alarm on %v", stack, fn.Name, kind, got)
				}
			}
		}
		region := `{Region="` + region + `"}`
		expect := map[string]struct {
			metrics   string
			op        string
			threshold float64
			missing   string
		}{
			"NoServingSfuNode": {"veet/sfu/Serving Maximum " + region, "LessThanThreshold", 1, "breaching"},
			"SfuCpu":           {"veet/sfu/CPUUtilization Maximum " + region, "GreaterThanThreshold", 85, "notBreaching"},
			"SfuCommandLag":    {"veet/sfu/CommandLag Maximum " + region, "GreaterThanThreshold", 1000, "notBreaching"},
			"Api5xx": {`AWS/ApiGateway/ExecutionError Sum {ApiId={"Ref":"WebSocketApi34BCF99B"},Stage="prod"} AWS/ApiGateway/IntegrationError Sum {ApiId={"Ref":"WebSocketApi34BCF99B"},Stage="prod"}`,
				"GreaterThanOrEqualToThreshold", 5, "notBreaching"},
			"HandlerInternalErrors": {`veet/signaling/Errors Sum {Code="internal"}`, "GreaterThanOrEqualToThreshold", 5, "notBreaching"},
		}
		if stack == regionStack(primaryRegion) {
			nodes := func(metric, stat string) string {
				return fmt.Sprintf(`AWS/ElastiCache/%s %s {CacheClusterId={"Fn::Join":["",[{"Ref":"Redis"},"-001"]]},CacheNodeId="0001"} `+
					`AWS/ElastiCache/%s %s {CacheClusterId={"Fn::Join":["",[{"Ref":"Redis"},"-002"]]},CacheNodeId="0001"}`, metric, stat, metric, stat)
			}
			expect["RedisCpu"] = struct {
				metrics, op string
				threshold   float64
				missing     string
			}{nodes("EngineCPUUtilization", "Average"), "GreaterThanThreshold", 80, "notBreaching"}
			expect["RedisMemory"] = struct {
				metrics, op string
				threshold   float64
				missing     string
			}{nodes("DatabaseMemoryUsagePercentage", "Maximum"), "GreaterThanThreshold", 80, "notBreaching"}
			expect["RedisEvictions"] = struct {
				metrics, op string
				threshold   float64
				missing     string
			}{nodes("Evictions", "Sum"), "GreaterThanThreshold", 0, "notBreaching"}
		} else {
			for _, redis := range []string{"RedisCpu", "RedisMemory", "RedisEvictions"} {
				if _, ok := alarms[redis]; ok {
					t.Errorf("%s: %s alarm in a region without Redis", stack, redis)
				}
			}
		}
		for name, want := range expect {
			a, ok := alarms[name]
			if !ok {
				t.Errorf("%s: no %s alarm", stack, name)
				continue
			}
			if got := strings.Join(alarmMetrics(a), " "); got != want.metrics {
				t.Errorf("%s: %s alarm reads\n  %s\nwant\n  %s", stack, name, got, want.metrics)
			}
			if a["ComparisonOperator"] != want.op || a["Threshold"] != want.threshold || a["TreatMissingData"] != want.missing {
				t.Errorf("%s: %s alarm %v %v (missing data %v)", stack, name, a["ComparisonOperator"], a["Threshold"], a["TreatMissingData"])
			}
		}
		if n, want := len(alarms), 2*len(routes.Functions)+len(expect); n != want {
			t.Errorf("%s: %d alarms, want %d", stack, n, want)
		}
	}
}

// emfContract reads the metric declarations of a golden EMF line:
// "namespace/name" → its dimension sets, each as "k1,k2".
func emfContract(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string][]string{}
	for _, d := range doc.AWS.CloudWatchMetrics {
		for _, m := range d.Metrics {
			for _, set := range d.Dimensions {
				out[d.Namespace+"/"+m.Name] = append(out[d.Namespace+"/"+m.Name], strings.Join(set, ","))
			}
		}
	}
	return out
}

// dashboardMetrics lists "namespace/name {dimension keys}" of every metric
// on a dashboard, reading its body with each CloudFormation token replaced
// by a placeholder.
func dashboardMetrics(t *testing.T, body interface{}) (metrics []string, searches []string, titles []string, alarms int) {
	t.Helper()
	var b strings.Builder
	join := body.(map[string]interface{})["Fn::Join"].([]interface{})
	for _, part := range join[1].([]interface{}) {
		if s, ok := part.(string); ok {
			b.WriteString(s)
		} else {
			b.WriteString("TOKEN")
		}
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Title   string
				Metrics [][]interface{}
				Alarms  []string
			}
		}
	}
	if err := json.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatalf("dashboard body: %v", err)
	}
	for _, w := range doc.Widgets {
		titles = append(titles, w.Properties.Title)
		alarms += len(w.Properties.Alarms)
		for _, m := range w.Properties.Metrics {
			if len(m) == 1 {
				if e, ok := m[0].(map[string]interface{})["expression"].(string); ok {
					searches = append(searches, e)
				}
				continue
			}
			var keys []string
			for i := 2; i+1 < len(m); i += 2 {
				if k, ok := m[i].(string); ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			metrics = append(metrics, fmt.Sprintf("%v/%v {%s}", m[0], m[1], strings.Join(keys, ",")))
		}
	}
	return metrics, searches, titles, alarms
}

// Every veet/* metric the alarms, scaling policies and dashboards read is
// one the code emits, with the same dimensions: the SFU's and the
// handlers' golden EMF lines are the contract.
func TestWatchedMetricsAreTheOnesTheCodeEmits(t *testing.T) {
	emitted := emfContract(t, "../../sfu/cmd/sfu/testdata/emf.golden.json")
	for k, v := range emfContract(t, "../../lambdas/testdata/emf.golden.json") {
		emitted[k] = v
	}
	check := func(where, metric, dims string) {
		if !strings.HasPrefix(metric, "veet/") {
			return
		}
		sets, ok := emitted[metric]
		if !ok {
			t.Errorf("%s reads %s, which no EMF line declares", where, metric)
		} else if !contains(sets, dims) {
			t.Errorf("%s reads %s by {%s}; the code emits it by %q", where, metric, dims, sets)
		}
	}
	keysOf := func(v interface{}) string {
		var keys []string
		for _, d := range asList(v) {
			keys = append(keys, fmt.Sprint(d.(map[string]interface{})["Name"]))
		}
		sort.Strings(keys)
		return strings.Join(keys, ",")
	}
	seen := 0
	for _, f := range []*fixture{synth(t), synthPlain(t)} {
		for _, region := range regions {
			stack := regionStack(region)
			for id, a := range f.resources(stack, "AWS::CloudWatch::Alarm") {
				p := props(a)
				if p["MetricName"] != nil {
					check(stack+" alarm "+id, fmt.Sprintf("%v/%v", p["Namespace"], p["MetricName"]), keysOf(p["Dimensions"]))
					seen++
				}
			}
			for id, sp := range f.resources(stack, "AWS::ApplicationAutoScaling::ScalingPolicy") {
				cfg, _ := props(sp)["TargetTrackingScalingPolicyConfiguration"].(map[string]interface{})
				if m, ok := cfg["CustomizedMetricSpecification"].(map[string]interface{}); ok {
					check(stack+" scaling policy "+id, fmt.Sprintf("%v/%v", m["Namespace"], m["MetricName"]), keysOf(m["Dimensions"]))
					seen++
				}
			}
			for id, d := range f.resources(stack, "AWS::CloudWatch::Dashboard") {
				metrics, _, _, _ := dashboardMetrics(t, props(d)["DashboardBody"])
				for _, m := range metrics {
					name, dims, _ := strings.Cut(m, " ")
					check(stack+" dashboard "+id, name, strings.Trim(dims, "{}"))
					seen++
				}
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d metric uses found: the walk is broken", seen)
	}
}

// One dashboard per region, named for its stack, with every figure an
// operator looks at first and every alarm's state.
func TestDashboardPerRegion(t *testing.T) {
	f := synthPlain(t)
	for _, region := range regions {
		stack := regionStack(region)
		dashboards := f.resources(stack, "AWS::CloudWatch::Dashboard")
		if len(dashboards) != 1 {
			t.Fatalf("%s: %d dashboards", stack, len(dashboards))
		}
		d := props(first(dashboards))
		if d["DashboardName"] != stack {
			t.Errorf("%s: dashboard named %v", stack, d["DashboardName"])
		}
		metrics, searches, titles, alarms := dashboardMetrics(t, d["DashboardBody"])
		have := strings.Join(metrics, "\n")
		for _, want := range []string{
			"veet/sfu/Rooms {Region}", "veet/sfu/Participants {Region}", "veet/sfu/Tracks {Region}",
			"veet/sfu/ForwardedBitrate {Region}", "veet/sfu/CPUUtilization {Region}", "veet/sfu/CommandLag {Region}",
			"veet/signaling/Latency {}", "AWS/ApiGateway/MessageCount {ApiId,Stage}", "AWS/ApiGateway/IntegrationError {ApiId,Stage}",
			"AWS/Lambda/Errors {FunctionName}", "AWS/Lambda/Throttles {FunctionName}", "AWS/Lambda/ConcurrentExecutions {FunctionName}",
			"ECS/ContainerInsights/RunningTaskCount {ClusterName,ServiceName}",
		} {
			if !strings.Contains(have, want) {
				t.Errorf("%s: dashboard lacks %s", stack, want)
			}
		}
		redis := strings.Contains(have, "AWS/ElastiCache/EngineCPUUtilization {CacheClusterId,CacheNodeId}")
		if redis != (region == primaryRegion) {
			t.Errorf("%s: Redis graphs %v, want them in the primary region only", stack, redis)
		}
		if s := strings.Join(searches, " "); !strings.Contains(s, `{veet/signaling,Action} MetricName="Requests"`) ||
			!strings.Contains(s, `{veet/signaling,Code} MetricName="Errors"`) {
			t.Errorf("%s: dashboard searches %v, want requests by action and errors by code", stack, searches)
		}
		if n := len(f.resources(stack, "AWS::CloudWatch::Alarm")); alarms != n {
			t.Errorf("%s: alarm widget shows %d of %d alarms (titles %v)", stack, alarms, n, titles)
		}
	}
}

// Every log group keeps its logs for a bounded time, and every Lambda —
// ours and CDK's own handlers — logs to a group of its stack, so none
// writes to a group that keeps logs forever.
func TestEveryLogGroupHasARetention(t *testing.T) {
	for _, f := range []*fixture{synth(t), synthPlain(t)} {
		for _, s := range f.stacks() {
			stack := *s.StackName()
			groups := f.resources(stack, "AWS::Logs::LogGroup")
			for id, g := range groups {
				if days, _ := props(g)["RetentionInDays"].(float64); days < 1 || days > 90 {
					t.Errorf("%s: log group %s keeps logs %v days", stack, id, props(g)["RetentionInDays"])
				}
			}
			for id, fn := range f.resources(stack, "AWS::Lambda::Function") {
				lg := refs(props(fn)["LoggingConfig"])
				if len(lg) != 1 || groups[lg[0]] == nil {
					t.Errorf("%s: function %s logs to %s, want a log group of this stack", stack, id, asJSON(props(fn)["LoggingConfig"]))
				}
			}
		}
	}
	// The groups services create by name on first use exist first.
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		named := map[string]string{}
		for id, g := range f.resources(stack, "AWS::Logs::LogGroup") {
			if n := props(g)["LogGroupName"]; n != nil {
				named[asJSON(n)] = id
			}
		}
		exec := named[`{"Fn::Join":["",["/aws/apigateway/",{"Ref":"WebSocketApi34BCF99B"},"/prod"]]}`]
		perf := ""
		for n, id := range named {
			if strings.Contains(n, `"/aws/ecs/containerinsights/",{"Ref":"SfuCluster`) && strings.HasSuffix(n, `"/performance"]]}`) {
				perf = id
			}
		}
		if exec == "" || perf == "" {
			t.Fatalf("%s: named log groups %v, want the API's execution logs and Container Insights' performance logs", stack, named)
		}
		for _, st := range f.resources(stack, "AWS::ApiGatewayV2::Stage") {
			if !contains(asStrings(st["DependsOn"]), exec) {
				t.Errorf("%s: the stage may log before %s exists", stack, exec)
			}
		}
		for _, svc := range f.resources(stack, "AWS::ECS::Service") {
			if !contains(asStrings(svc["DependsOn"]), perf) {
				t.Errorf("%s: the SFU service may start before %s exists", stack, perf)
			}
		}
	}
}

// The stage throttles every route, $connect and create harder, logs
// executions without message bodies and keeps per-route metrics;
// configured values reach the template.
func TestStageThrottlingAndExecutionLogs(t *testing.T) {
	for name, f := range map[string]*fixture{"domain": synth(t), "plain": synthPlain(t)} {
		sc := f.deployment.Config.Signaling
		for _, region := range regions {
			stack := regionStack(region)
			for _, st := range f.resources(stack, "AWS::ApiGatewayV2::Stage") {
				p := props(st)
				settings := func(rate, burst int) string {
					return fmt.Sprintf(`{"DataTraceEnabled":false,"DetailedMetricsEnabled":true,"LoggingLevel":%q,"ThrottlingBurstLimit":%d,"ThrottlingRateLimit":%d}`,
						sc.ExecutionLogLevel, burst, rate)
				}
				if got, want := asJSON(p["DefaultRouteSettings"]), settings(sc.RateLimit, sc.BurstLimit); got != want {
					t.Errorf("%s %s: default route settings %s, want %s", name, stack, got, want)
				}
				want := `{"$connect":` + settings(sc.ConnectRateLimit, sc.ConnectBurstLimit) + `,"create":` + settings(sc.CreateRateLimit, sc.CreateBurstLimit) + `}`
				if got := asJSON(p["RouteSettings"]); got != want {
					t.Errorf("%s %s: route settings %s, want %s", name, stack, got, want)
				}
				// A route's settings may name only routes that exist already.
				for id, r := range f.resources(stack, "AWS::ApiGatewayV2::Route") {
					if k := props(r)["RouteKey"]; (k == "$connect" || k == "create") && !contains(asStrings(st["DependsOn"]), id) {
						t.Errorf("%s %s: the stage does not wait for route %v", name, stack, k)
					}
				}
			}
		}
	}
	if got := synth(t).deployment.Config.Signaling; got.RateLimit != 200 || got.ExecutionLogLevel != "INFO" {
		t.Fatalf("domain fixture signaling %+v: the configured values were not the ones asserted", got)
	}
}

// Each function has its own share of the region's concurrency, small enough
// that all of them fit in the default account quota; the setting turns it
// off for accounts with less.
func TestReservedConcurrency(t *testing.T) {
	table, sum := infra.ReservedConcurrency(), 0
	for _, n := range table {
		sum += n
	}
	if sum > 1000-100 {
		t.Errorf("reserved concurrency adds up to %d: over the default quota (1,000) minus the 100 Lambda keeps unreserved", sum)
	}
	for name, f := range map[string]*fixture{"plain": synthPlain(t), "domain (off)": synth(t)} {
		for _, region := range regions {
			stack := regionStack(region)
			fns := f.resources(stack, "AWS::Lambda::Function")
			for fn, id := range lambdaIDs(t, f, stack) {
				got := props(fns[id])["ReservedConcurrentExecutions"]
				if name == "plain" && got != float64(table[fn]) || name != "plain" && got != nil {
					t.Errorf("%s %s: %s reserves %v (table: %d)", name, stack, fn, got, table[fn])
				}
			}
		}
	}
	if table["sweep"] != 1 {
		t.Errorf("sweep may run %d at a time", table["sweep"])
	}
}

// Besides CPU, the SFU scales on its own figures: participants and
// forwarded bandwidth per node, each a target-tracking policy that can be
// turned off.
func TestSFUScalesOnParticipantsAndBandwidth(t *testing.T) {
	for name, f := range map[string]*fixture{"domain": synth(t), "plain": synthPlain(t)} {
		sfu := f.deployment.Config.SFU
		for _, region := range regions {
			stack := regionStack(region)
			custom := map[string]string{}
			for _, sp := range f.resources(stack, "AWS::ApplicationAutoScaling::ScalingPolicy") {
				cfg, _ := props(sp)["TargetTrackingScalingPolicyConfiguration"].(map[string]interface{})
				m, ok := cfg["CustomizedMetricSpecification"].(map[string]interface{})
				if !ok {
					continue
				}
				if props(sp)["PolicyType"] != "TargetTrackingScaling" || cfg["ScaleInCooldown"] != float64(600) || cfg["ScaleOutCooldown"] != float64(60) {
					t.Errorf("%s %s: policy %s", name, stack, asJSON(props(sp)))
				}
				custom[fmt.Sprint(m["MetricName"])] = fmt.Sprintf("%v %v %s %v", m["Namespace"], m["Statistic"], asJSON(m["Dimensions"]), cfg["TargetValue"])
			}
			dims := `[{"Name":"Region","Value":"` + region + `"}]`
			want := map[string]string{"Participants": fmt.Sprintf("veet/sfu Average %s %d", dims, sfu.TargetParticipants)}
			if sfu.TargetForwardedMbps > 0 {
				want["ForwardedBitrate"] = fmt.Sprintf("veet/sfu Average %s %g", dims, float64(sfu.TargetForwardedMbps)*1e6)
			}
			if fmt.Sprint(custom) != fmt.Sprint(want) {
				t.Errorf("%s %s: custom scaling %v, want %v", name, stack, custom, want)
			}
		}
	}
}
