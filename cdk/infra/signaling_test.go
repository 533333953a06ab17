package infra_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/veet-dev/veet/cdk/infra"
	"github.com/veet-dev/veet/lambdas/routes"
)

var regions = []string{primaryRegion, secondaryRegion}

// lambdaIDs maps each signaling function name to its logical id, found by
// the Description the stack gives it.
func lambdaIDs(t *testing.T, f *fixture, stack string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for id, r := range f.resources(stack, "AWS::Lambda::Function") {
		d, _ := props(r)["Description"].(string)
		for _, fn := range routes.Functions {
			if d == infra.FunctionDescription(fn.Name) {
				ids[fn.Name] = id
			}
		}
	}
	if len(ids) != len(routes.Functions) {
		t.Fatalf("%s: found Lambdas for %d of %d functions: %v", stack, len(ids), len(routes.Functions), ids)
	}
	return ids
}

func TestEveryRouteKeyHasARouteToItsFunction(t *testing.T) {
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		ids := lambdaIDs(t, f, stack)
		integrations := f.resources(stack, "AWS::ApiGatewayV2::Integration")
		routesByKey := map[string]map[string]interface{}{}
		for _, r := range f.resources(stack, "AWS::ApiGatewayV2::Route") {
			routesByKey[props(r)["RouteKey"].(string)] = r
		}
		want := 0
		for _, fn := range routes.Functions {
			for _, key := range fn.RouteKeys {
				want++
				route, ok := routesByKey[key]
				if !ok {
					t.Errorf("%s: no route %q", stack, key)
					continue
				}
				target := refs(props(route)["Target"])
				if len(target) != 1 || integrations[target[0]] == nil {
					t.Errorf("%s: route %q targets %v, not one integration", stack, key, target)
					continue
				}
				integ := props(integrations[target[0]])
				if integ["IntegrationType"] != "AWS_PROXY" {
					t.Errorf("%s: route %q integration type %v", stack, key, integ["IntegrationType"])
				}
				if got := refs(integ["IntegrationUri"]); !reflect.DeepEqual(got, []string{ids[fn.Name]}) {
					t.Errorf("%s: route %q invokes %v, want the %s Lambda %s", stack, key, got, fn.Name, ids[fn.Name])
				}
			}
		}
		if len(routesByKey) != want {
			t.Errorf("%s: %d routes, want exactly the %d route keys of lambdas/routes", stack, len(routesByKey), want)
		}
		apis := f.resources(stack, "AWS::ApiGatewayV2::Api")
		if len(apis) != 1 {
			t.Fatalf("%s: %d APIs", stack, len(apis))
		}
		for _, api := range apis {
			p := props(api)
			if p["ProtocolType"] != "WEBSOCKET" || p["RouteSelectionExpression"] != routes.SelectionExpression {
				t.Errorf("%s: API %v / %v", stack, p["ProtocolType"], p["RouteSelectionExpression"])
			}
		}
	}
}

// API Gateway may invoke each Lambda only for the routes it serves.
func TestLambdaInvokePermissionsPerRoute(t *testing.T) {
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		ids := lambdaIDs(t, f, stack)
		got := map[string][]string{}
		for _, p := range f.resources(stack, "AWS::Lambda::Permission") {
			pp := props(p)
			if pp["Principal"] != "apigateway.amazonaws.com" {
				continue
			}
			arn := asJSON(pp["SourceArn"])
			i := strings.LastIndex(arn, "/*")
			key := strings.TrimSuffix(arn[i+2:], `"]]}`)
			fn := refs(pp["FunctionName"])
			got[fn[0]] = append(got[fn[0]], key)
		}
		for _, fn := range routes.Functions {
			keys := append([]string(nil), fn.RouteKeys...)
			sort.Strings(keys)
			have := got[ids[fn.Name]]
			sort.Strings(have)
			if !reflect.DeepEqual(have, keys) {
				t.Errorf("%s: %s may be invoked for %v, want %v", stack, fn.Name, have, keys)
			}
		}
	}
}

func TestLambdaRuntimeArchitectureAndPlacement(t *testing.T) {
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		fns := f.resources(stack, "AWS::Lambda::Function")
		for name, id := range lambdaIDs(t, f, stack) {
			p := props(fns[id])
			if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
				t.Errorf("%s %s: runtime %v handler %v", stack, name, p["Runtime"], p["Handler"])
			}
			if !reflect.DeepEqual(p["Architectures"], []interface{}{"arm64"}) {
				t.Errorf("%s %s: architectures %v", stack, name, p["Architectures"])
			}
			vpc := p["VpcConfig"].(map[string]interface{})
			for _, s := range refs(vpc["SubnetIds"]) {
				if !strings.Contains(s, "private") {
					t.Errorf("%s %s: in subnet %s, want private subnets only", stack, name, s)
				}
			}
			if sg := refs(vpc["SecurityGroupIds"]); len(sg) != 1 || !strings.HasPrefix(sg[0], "LambdaSg") {
				t.Errorf("%s %s: security groups %v", stack, name, sg)
			}
			env := p["Environment"].(map[string]interface{})["Variables"].(map[string]interface{})
			for _, k := range []string{"REDIS_ADDR", "REDIS_TLS", "REDIS_AUTH_SECRET_ARN", "TOKEN_SECRET_ARN", "VEET_REGION", "VEET_CALLBACK_URL"} {
				if env[k] == nil {
					t.Errorf("%s %s: no %s", stack, name, k)
				}
			}
			if env["REDIS_TLS"] != "1" || env["VEET_REGION"] != region || env["VEET_SECRETS_GENERATION"] != "3" {
				t.Errorf("%s %s: REDIS_TLS=%v VEET_REGION=%v", stack, name, env["REDIS_TLS"], env["VEET_REGION"])
			}
			if cb := asJSON(env["VEET_CALLBACK_URL"]); !strings.Contains(cb, `"https://"`) || !strings.Contains(cb, ".execute-api."+region+".") || !strings.HasSuffix(cb, `"/prod"]]}`) {
				t.Errorf("%s %s: VEET_CALLBACK_URL %s, want this API's https stage URL", stack, name, cb)
			}
		}
	}
}

// The secondary region's workloads use the primary's Redis endpoint and the
// secrets' replicas in their own region.
func TestSecondaryRegionUsesPrimaryRedisAndLocalSecretReplicas(t *testing.T) {
	f := synth(t)
	stack := regionStack(secondaryRegion)
	fns := f.resources(stack, "AWS::Lambda::Function")
	env := props(fns[lambdaIDs(t, f, stack)["join"]])["Environment"].(map[string]interface{})["Variables"].(map[string]interface{})
	addr := asJSON(env["REDIS_ADDR"])
	if !strings.Contains(addr, `"StackName":"veet-us-east-1"`) || !strings.Contains(addr, "RedisPrimaryEndPointAddress") {
		t.Errorf("REDIS_ADDR is not the primary's endpoint: %s", addr)
	}
	for k, secret := range map[string]string{"REDIS_AUTH_SECRET_ARN": "RedisAuthToken", "TOKEN_SECRET_ARN": "MeetingTokenKey"} {
		arn := asJSON(resolveStackOutput(t, f, env[k]))
		if !strings.Contains(arn, ":secretsmanager:"+secondaryRegion+":") || !strings.Contains(arn, `"Ref":"`+secret) {
			t.Errorf("%s is not the %s replica of the primary's %s: %s", k, secondaryRegion, secret, arn)
		}
	}
	if n := len(f.resources(stack, "AWS::ElastiCache::ReplicationGroup")); n != 0 {
		t.Errorf("secondary region has %d Redis groups, want none (it peers with the primary)", n)
	}
	if n := len(f.resources(stack, "AWS::SecretsManager::Secret")); n != 0 {
		t.Errorf("secondary region creates %d secrets, want only the primary's replicas", n)
	}
}

// resolveStackOutput follows a bare Fn::GetStackOutput to the value of
// that output in the producer's template (another fixture stack); any other
// value is returned as it is.
func resolveStackOutput(t *testing.T, f *fixture, v interface{}) interface{} {
	t.Helper()
	m, ok := v.(map[string]interface{})
	if !ok || m["Fn::GetStackOutput"] == nil {
		return v
	}
	ref := m["Fn::GetStackOutput"].(map[string]interface{})
	producer, ok := f.templates[fmt.Sprint(ref["StackName"])]
	if !ok {
		t.Fatalf("Fn::GetStackOutput of unknown stack: %s", asJSON(m))
	}
	out, _ := producer["Outputs"].(map[string]interface{})[fmt.Sprint(ref["OutputName"])].(map[string]interface{})
	if out == nil {
		t.Fatalf("Fn::GetStackOutput of a missing output: %s", asJSON(m))
	}
	return out["Value"]
}

// policyStatements returns the statements of the inline policies attached
// to the role a Lambda function or task definition uses.
func policyStatements(f *fixture, stack, roleID string) []map[string]interface{} {
	var out []map[string]interface{}
	for _, p := range f.resources(stack, "AWS::IAM::Policy") {
		pp := props(p)
		if !contains(refs(pp["Roles"]), roleID) {
			continue
		}
		for _, s := range pp["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{}) {
			out = append(out, s.(map[string]interface{}))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// assertConnectionsGrant checks a ManageConnections statement: this stack's
// API, the prod stage, any method, any connection; in this region.
func assertConnectionsGrant(t *testing.T, who string, st map[string]interface{}, region string) {
	t.Helper()
	arn := asJSON(st["Resource"])
	want := []string{`"arn:aws:execute-api:` + region + `:` + testAccount + `:"`, `{"Ref":"WebSocketApi`, `"/prod/*/@connections/*"`}
	for _, w := range want {
		if !strings.Contains(arn, w) {
			t.Errorf("%s: ManageConnections on %s, missing %s", who, arn, w)
		}
	}
	if strings.Contains(arn, "GetStackOutput") {
		t.Errorf("%s: ManageConnections on another stack's API: %s", who, arn)
	}
}

func TestLambdaIAMIsLeastPrivilege(t *testing.T) {
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		fns := f.resources(stack, "AWS::Lambda::Function")
		for name, id := range lambdaIDs(t, f, stack) {
			role := refs(props(fns[id])["Role"])[0]
			who := stack + " " + name
			sts := policyStatements(f, stack, role)
			if len(sts) != 2 {
				t.Errorf("%s: %d statements, want exactly 2: %s", who, len(sts), asJSON(sts))
				continue
			}
			for _, st := range sts {
				switch st["Action"] {
				case "secretsmanager:GetSecretValue":
					res := st["Resource"].([]interface{})
					all := asJSON(res)
					if len(res) != 2 || !strings.Contains(all, "RedisAuthToken") || !strings.Contains(all, "MeetingTokenKey") || strings.Contains(all, `"*"`) {
						t.Errorf("%s: GetSecretValue on %s, want the two veet secrets only", who, all)
					}
				case "execute-api:ManageConnections":
					assertConnectionsGrant(t, who, st, region)
				default:
					t.Errorf("%s: unexpected permission %v on %s", who, st["Action"], asJSON(st["Resource"]))
				}
			}
		}
	}
}

func TestStageAccessLogsAndDomain(t *testing.T) {
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		for _, st := range f.resources(stack, "AWS::ApiGatewayV2::Stage") {
			p := props(st)
			if p["StageName"] != infra.StageName || p["AutoDeploy"] != true {
				t.Errorf("%s: stage %v autoDeploy %v", stack, p["StageName"], p["AutoDeploy"])
			}
			logs, _ := p["AccessLogSettings"].(map[string]interface{})
			if dest := refs(logs["DestinationArn"]); len(dest) != 1 || !strings.HasPrefix(dest[0], "WebSocketAccessLogs") {
				t.Errorf("%s: access logs go to %v", stack, dest)
			}
			if !contains(asStrings(st["DependsOn"]), "ApiGatewayAccount") {
				t.Errorf("%s: the stage does not wait for the account's logging role", stack)
			}
		}
		check(t, stack+" custom domain", func() {
			f.asserts[stack].HasResourceProperties(jsii.String("AWS::ApiGatewayV2::DomainName"), map[string]interface{}{
				"DomainName": "ws." + testDomain,
				"DomainNameConfigurations": []interface{}{map[string]interface{}{
					"EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2",
				}},
			})
		})
		if n := len(f.resources(stack, "AWS::ApiGatewayV2::ApiMapping")); n != 1 {
			t.Errorf("%s: %d API mappings, want 1", stack, n)
		}
	}
}

func asStrings(v interface{}) []string {
	var out []string
	if l, ok := v.([]interface{}); ok {
		for _, x := range l {
			out = append(out, x.(string))
		}
	}
	return out
}

// Functions without a route run on a schedule in every region.
func TestSweepRunsEveryMinute(t *testing.T) {
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		sweep := lambdaIDs(t, f, stack)["sweep"]
		rules := f.resources(stack, "AWS::Events::Rule")
		if len(rules) != 1 {
			t.Fatalf("%s: %d event rules, want the sweep schedule", stack, len(rules))
		}
		for _, r := range rules {
			p := props(r)
			if p["ScheduleExpression"] != "rate(1 minute)" || !contains(refs(p["Targets"]), sweep) {
				t.Errorf("%s: rule %s, want sweep every minute", stack, asJSON(p))
			}
		}
	}
}
