package infra_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/veet-dev/veet/cdk/infra"
)

// The SFU security group opens exactly the media ports to the world; the
// health port stays closed.
func TestSFUSecurityGroupPorts(t *testing.T) {
	f := synth(t)
	want := []interface{}{
		map[string]interface{}{"CidrIp": "0.0.0.0/0", "IpProtocol": "udp", "FromPort": float64(50000), "ToPort": float64(50000), "Description": "WebRTC media, ICE UDP mux"},
		map[string]interface{}{"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": float64(50000), "ToPort": float64(50000), "Description": "WebRTC media, ICE-TCP fallback"},
	}
	for _, region := range regions {
		stack := regionStack(region)
		for id, sg := range f.resources(stack, "AWS::EC2::SecurityGroup") {
			if !strings.HasPrefix(id, "SfuSg") {
				continue
			}
			if got := props(sg)["SecurityGroupIngress"]; !reflect.DeepEqual(got, want) {
				t.Errorf("%s: SFU ingress %s", stack, asJSON(got))
			}
		}
		for _, in := range f.resources(stack, "AWS::EC2::SecurityGroupIngress") {
			if contains(refs(props(in)["GroupId"]), "SfuSg") || strings.Contains(asJSON(props(in)["GroupId"]), "SfuSg") {
				t.Errorf("%s: extra SFU ingress %s", stack, asJSON(props(in)))
			}
		}
	}
}

func TestElastiCacheSecurityGroupAdmitsOnlyVeet(t *testing.T) {
	f := synth(t)
	stack := regionStack(primaryRegion)
	var sources []string
	for _, in := range f.resources(stack, "AWS::EC2::SecurityGroupIngress") {
		p := props(in)
		if !strings.Contains(asJSON(p["GroupId"]), "RedisSg") {
			continue
		}
		if p["FromPort"] != float64(6379) || p["ToPort"] != float64(6379) || p["IpProtocol"] != "tcp" {
			t.Errorf("Redis ingress %s", asJSON(p))
		}
		sources = append(sources, refs(p["SourceSecurityGroupId"])...)
	}
	for id, sg := range f.resources(stack, "AWS::EC2::SecurityGroup") {
		if !strings.HasPrefix(id, "RedisSg") {
			continue
		}
		for _, in := range props(sg)["SecurityGroupIngress"].([]interface{}) {
			rule := in.(map[string]interface{})
			if rule["CidrIp"] != "10.11.0.0/16" || rule["FromPort"] != float64(6379) {
				t.Errorf("Redis CIDR ingress %s, want only the secondary VPC on 6379", asJSON(rule))
			}
		}
	}
	sort.Strings(sources)
	if len(sources) != 2 || !strings.HasPrefix(sources[0], "LambdaSg") || !strings.HasPrefix(sources[1], "SfuSg") {
		t.Errorf("Redis admits security groups %v, want the Lambdas' and the SFU's", sources)
	}
}

func TestElastiCacheEncryptedMultiAZWithAuthFromSecretsManager(t *testing.T) {
	f := synth(t)
	stack := regionStack(primaryRegion)
	check(t, "replication group", func() {
		f.asserts[stack].HasResourceProperties(jsii.String("AWS::ElastiCache::ReplicationGroup"), map[string]interface{}{
			"Engine":                   "redis",
			"CacheNodeType":            "cache.t4g.small",
			"NumCacheClusters":         2,
			"AtRestEncryptionEnabled":  true,
			"TransitEncryptionEnabled": true,
			"TransitEncryptionMode":    "required",
			"MultiAZEnabled":           true,
			"AutomaticFailoverEnabled": true,
			"Port":                     infra.RedisPort,
			"AuthToken": map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
				"{{resolve:secretsmanager:", assertions.Match_AnyValue(), ":SecretString:::}}",
			}}},
		})
	})
	for _, g := range f.resources(stack, "AWS::ElastiCache::ReplicationGroup") {
		if got := refs(props(g)["AuthToken"]); len(got) != 1 || !strings.HasPrefix(got[0], "RedisAuthToken") {
			t.Errorf("AUTH token comes from %v", got)
		}
	}
	for _, g := range f.resources(stack, "AWS::ElastiCache::SubnetGroup") {
		for _, s := range refs(props(g)["SubnetIds"]) {
			if !strings.Contains(s, "private") {
				t.Errorf("Redis in subnet %s, want private subnets only", s)
			}
		}
	}
	secrets := f.resources(stack, "AWS::SecretsManager::Secret")
	if len(secrets) != 2 {
		t.Errorf("%d secrets, want the Redis AUTH token and the meeting-token key", len(secrets))
	}
	for id, s := range secrets {
		p := props(s)
		if asJSON(p["ReplicaRegions"]) != `[{"Region":"eu-west-1"}]` || p["GenerateSecretString"] == nil {
			t.Errorf("secret %s: %s, want a generated value replicated to %s", id, asJSON(p), secondaryRegion)
		}
	}
}

func TestSFUTaskDefinition(t *testing.T) {
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		tasks := f.resources(stack, "AWS::ECS::TaskDefinition")
		if len(tasks) != 1 {
			t.Fatalf("%s: %d task definitions", stack, len(tasks))
		}
		for _, task := range tasks {
			p := props(task)
			if asJSON(p["RuntimePlatform"]) != `{"CpuArchitecture":"ARM64","OperatingSystemFamily":"LINUX"}` ||
				p["Cpu"] != "1024" || p["Memory"] != "2048" || asJSON(p["RequiresCompatibilities"]) != `["FARGATE"]` {
				t.Errorf("%s: task %v/%v on %s", stack, p["Cpu"], p["Memory"], asJSON(p["RuntimePlatform"]))
			}
			c := p["ContainerDefinitions"].([]interface{})[0].(map[string]interface{})
			if c["StopTimeout"] != float64(120) {
				t.Errorf("%s: stop timeout %v, want 120 s for draining", stack, c["StopTimeout"])
			}
			env := map[string]string{}
			for _, e := range c["Environment"].([]interface{}) {
				kv := e.(map[string]interface{})
				if s, ok := kv["Value"].(string); ok {
					env[kv["Name"].(string)] = s
				} else {
					env[kv["Name"].(string)] = "<token>"
				}
			}
			want := map[string]string{
				"REDIS_ADDR": "<token>", "REDIS_TLS": "1", "VEET_REGION": region,
				"SFU_UDP_PORT": "50000", "SFU_TCP_PORT": "50000", "SFU_HTTP_PORT": "8080",
				"SFU_PUBLIC_IP": "ecs", "SFU_PUBLIC_IP_FALLBACK": "stun:stun.l.google.com:19302",
				"SFU_DRAIN_TIMEOUT": "100s", "SFU_METRICS_INTERVAL": "30s", "SFU_SCALE_IN_PROTECTION": "45m",
				"VEET_SECRETS_GENERATION": "3",
			}
			if !reflect.DeepEqual(env, want) {
				t.Errorf("%s: SFU environment %v\nwant %v", stack, env, want)
			}
			secrets := c["Secrets"].([]interface{})
			if len(secrets) != 1 || secrets[0].(map[string]interface{})["Name"] != "REDIS_PASSWORD" {
				t.Errorf("%s: secrets %s, want REDIS_PASSWORD only", stack, asJSON(secrets))
			} else if from := asJSON(resolveStackOutput(t, f, secrets[0].(map[string]interface{})["ValueFrom"])); !strings.Contains(from, "RedisAuthToken") ||
				region != primaryRegion && !strings.Contains(from, ":secretsmanager:"+region+":") {
				t.Errorf("%s: REDIS_PASSWORD from %s, want the AUTH token secret in this region", stack, from)
			}
			if hc := asJSON(c["HealthCheck"]); !strings.Contains(hc, `"Command":["CMD","/sfu","-healthcheck"]`) {
				t.Errorf("%s: health check %s", stack, hc)
			}
			var ports []string
			for _, pm := range c["PortMappings"].([]interface{}) {
				m := pm.(map[string]interface{})
				ports = append(ports, m["Protocol"].(string)+"/"+asJSON(m["ContainerPort"]))
			}
			if strings.Join(ports, " ") != "udp/50000 tcp/50000 tcp/8080" {
				t.Errorf("%s: container ports %v", stack, ports)
			}
			if lc := asJSON(c["LogConfiguration"]); !strings.Contains(lc, `"awslogs"`) {
				t.Errorf("%s: container logs %s", stack, lc)
			}
			assertSFUTaskRole(t, f, stack, region, refs(p["TaskRoleArn"])[0])
		}
	}
}

func TestSFUServiceAndAutoscaling(t *testing.T) {
	f := synth(t)
	for _, region := range regions {
		stack := regionStack(region)
		check(t, stack+" service", func() {
			f.asserts[stack].HasResourceProperties(jsii.String("AWS::ECS::Service"), map[string]interface{}{
				"LaunchType": "FARGATE",
				"NetworkConfiguration": map[string]interface{}{"AwsvpcConfiguration": map[string]interface{}{
					"AssignPublicIp": "ENABLED",
					"Subnets":        assertions.Match_AnyValue(),
					"SecurityGroups": assertions.Match_AnyValue(),
				}},
				"DeploymentConfiguration": assertions.Match_ObjectLike(&map[string]interface{}{
					"MinimumHealthyPercent": 100, "MaximumPercent": 200,
				}),
			})
		})
		for _, svc := range f.resources(stack, "AWS::ECS::Service") {
			for _, s := range refs(props(svc)["NetworkConfiguration"]) {
				if strings.HasPrefix(s, "Vpc") && !strings.Contains(s, "public") {
					t.Errorf("%s: SFU task in %s, want public subnets", stack, s)
				}
			}
			if _, set := props(svc)["DesiredCount"]; set {
				t.Errorf("%s: DesiredCount is set; a deploy would reset the autoscaler", stack)
			}
		}
		check(t, stack+" scalable target", func() {
			f.asserts[stack].HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalableTarget"), map[string]interface{}{
				"MinCapacity": 2, "MaxCapacity": 7,
				"ScalableDimension": "ecs:service:DesiredCount", "ServiceNamespace": "ecs",
			})
		})
		check(t, stack+" CPU policy", func() {
			f.asserts[stack].HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalingPolicy"), map[string]interface{}{
				"PolicyType": "TargetTrackingScaling",
				"TargetTrackingScalingPolicyConfiguration": assertions.Match_ObjectLike(&map[string]interface{}{
					"PredefinedMetricSpecification": map[string]interface{}{"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
					"TargetValue":                   55,
				}),
			})
		})
	}
}

func TestVPCLayoutAndPeering(t *testing.T) {
	f := synth(t)
	for i, region := range regions {
		stack := regionStack(region)
		for _, v := range f.resources(stack, "AWS::EC2::VPC") {
			if want := []string{"10.10.0.0/16", "10.11.0.0/16"}[i]; props(v)["CidrBlock"] != want {
				t.Errorf("%s: VPC %v, want %s", stack, props(v)["CidrBlock"], want)
			}
		}
		public, private := 0, 0
		for id, s := range f.resources(stack, "AWS::EC2::Subnet") {
			if props(s)["MapPublicIpOnLaunch"] == true {
				public++
			} else if strings.Contains(id, "private") {
				private++
			}
		}
		if public != 2 || private != 2 {
			t.Errorf("%s: %d public and %d private subnets, want 2 and 2", stack, public, private)
		}
		if n := len(f.resources(stack, "AWS::EC2::NatGateway")); n != 1 {
			t.Errorf("%s: %d NAT gateways, want the configured 1", stack, n)
		}
		if n := len(synthPlain(t).resources(stack, "AWS::EC2::NatGateway")); n != 2 {
			t.Errorf("%s (defaults): %d NAT gateways, want one per AZ (2)", stack, n)
		}
		if n := len(f.resources(stack, "AWS::EC2::FlowLog")); n != 1 {
			t.Errorf("%s: %d flow logs", stack, n)
		}
	}

	sec := regionStack(secondaryRegion)
	peerings := f.resources(sec, "AWS::EC2::VPCPeeringConnection")
	if len(peerings) != 1 {
		t.Fatalf("secondary: %d peerings", len(peerings))
	}
	var peeringID string
	for id, p := range peerings {
		peeringID = id
		pp := asJSON(props(p))
		if !strings.Contains(pp, `"PeerRegion":"us-east-1"`) || !strings.Contains(pp, `"StackName":"veet-us-east-1"`) {
			t.Errorf("peering %s", pp)
		}
	}
	toPrimary := 0
	for _, r := range f.resources(sec, "AWS::EC2::Route") {
		p := props(r)
		if p["DestinationCidrBlock"] == "10.10.0.0/16" && contains(refs(p["VpcPeeringConnectionId"]), peeringID) {
			toPrimary++
		}
	}
	if toPrimary != 4 {
		t.Errorf("secondary: %d routes to the primary, want 4 (2 private + 2 public subnets)", toPrimary)
	}
	back := f.resources(infra.StackName("peering-"+secondaryRegion), "AWS::EC2::Route")
	if len(back) != 2 {
		t.Errorf("peering stack: %d routes back, want 2 (the primary's private subnets)", len(back))
	}
	for _, r := range back {
		p := asJSON(props(r))
		if !strings.Contains(p, `"DestinationCidrBlock":"10.11.0.0/16"`) || !strings.Contains(p, `"Region":"eu-west-1"`) {
			t.Errorf("return route %s", p)
		}
	}
}

// The SFU image is only described at synthesis (built by `cdk deploy`):
// no Docker engine is needed, and the staged context leaves out the heavy
// directories.
func TestSFUImageIsAnAssetNotABuild(t *testing.T) {
	f := synth(t)
	dir := *f.assembly.Directory()
	data, err := os.ReadFile(filepath.Join(dir, regionStack(primaryRegion)+".assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		DockerImages map[string]struct {
			Source struct {
				Directory, DockerFile, Platform string
			}
		}
	}
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.DockerImages) != 1 {
		t.Fatalf("%d docker image assets, want the SFU's", len(manifest.DockerImages))
	}
	for _, img := range manifest.DockerImages {
		if img.Source.DockerFile != "sfu/Dockerfile" || img.Source.Platform != "linux/arm64" {
			t.Errorf("image asset %+v", img.Source)
		}
		ctx := filepath.Join(dir, img.Source.Directory)
		for _, kept := range []string{"sfu/Dockerfile", "go.mod", "events/x.go"} {
			if _, err := os.Stat(filepath.Join(ctx, kept)); err != nil {
				t.Errorf("staged docker context lacks %s: %v", kept, err)
			}
		}
		for _, excluded := range []string{".git", "spa", "build", "cdk"} {
			if _, err := os.Stat(filepath.Join(ctx, excluded)); err == nil {
				t.Errorf("staged docker context contains %s", excluded)
			}
		}
	}
}

// Cold starts read the secrets through an endpoint inside the VPC, not
// through NAT; only the Lambdas and the SFU tasks may reach it.
func TestSecretsManagerEndpoint(t *testing.T) {
	for _, f := range []*fixture{synth(t), synthPlain(t)} {
		for _, region := range regions {
			stack := regionStack(region)
			eps := f.resources(stack, "AWS::EC2::VPCEndpoint")
			if len(eps) != 1 {
				t.Fatalf("%s: %d VPC endpoints, want Secrets Manager's", stack, len(eps))
			}
			for _, ep := range eps {
				p := props(ep)
				if p["VpcEndpointType"] != "Interface" || p["PrivateDnsEnabled"] != true ||
					!strings.HasSuffix(asJSON(p["ServiceName"]), `".secretsmanager"]]}`) && p["ServiceName"] != "com.amazonaws."+region+".secretsmanager" {
					t.Errorf("%s: endpoint %s", stack, asJSON(p))
				}
				subnets := refs(p["SubnetIds"])
				if len(subnets) != 2 {
					t.Errorf("%s: endpoint in %d subnets, want both AZs", stack, len(subnets))
				}
				for _, s := range subnets {
					if !strings.Contains(s, "private") {
						t.Errorf("%s: endpoint in subnet %s, want private subnets", stack, s)
					}
				}
				sg := refs(p["SecurityGroupIds"])
				if len(sg) != 1 || !strings.HasPrefix(sg[0], "SecretsEndpointSg") {
					t.Fatalf("%s: endpoint security groups %v", stack, sg)
				}
				var sources []string
				for _, in := range f.resources(stack, "AWS::EC2::SecurityGroupIngress") {
					ip := props(in)
					if !contains(refs(ip["GroupId"]), sg[0]) {
						continue
					}
					if ip["FromPort"] != float64(443) || ip["ToPort"] != float64(443) || ip["IpProtocol"] != "tcp" {
						t.Errorf("%s: endpoint ingress %s, want 443/tcp", stack, asJSON(ip))
					}
					sources = append(sources, refs(ip["SourceSecurityGroupId"])...)
				}
				sort.Strings(sources)
				if len(sources) != 2 || !strings.HasPrefix(sources[0], "LambdaSg") || !strings.HasPrefix(sources[1], "SfuSg") {
					t.Errorf("%s: endpoint admits %v, want the Lambdas and the SFU tasks", stack, sources)
				}
				if in := props(f.resources(stack, "AWS::EC2::SecurityGroup")[sg[0]])["SecurityGroupIngress"]; in != nil {
					t.Errorf("%s: endpoint security group has inline ingress %s", stack, asJSON(in))
				}
			}
		}
	}
}

// assertSFUTaskRole: the SFU task may push to this region's clients, read
// its own network interface (in this region) and nothing else.
func assertSFUTaskRole(t *testing.T, f *fixture, stack, region, role string) {
	t.Helper()
	seen := map[string]bool{}
	for _, st := range policyStatements(f, stack, role) {
		action := fmt.Sprint(st["Action"])
		seen[action] = true
		switch action {
		case "execute-api:ManageConnections":
			assertConnectionsGrant(t, stack+" SFU task role", st, region)
		case "ec2:DescribeNetworkInterfaces":
			want := `{"StringEquals":{"aws:RequestedRegion":"` + region + `"}}`
			if st["Resource"] != "*" || asJSON(st["Condition"]) != want {
				t.Errorf("%s: DescribeNetworkInterfaces on %s if %s, want * (no resource-level permissions) if %s",
					stack, asJSON(st["Resource"]), asJSON(st["Condition"]), want)
			}
		case "ecs:UpdateTaskProtection":
			// The ECS agent calls it with the task's role, for this task.
			res := asJSON(st["Resource"])
			if !strings.Contains(res, `"arn:aws:ecs:`+region+`:`+testAccount+`:task/"`) || !strings.Contains(res, `{"Ref":"SfuCluster`) ||
				!strings.HasSuffix(res, `"/*"]]}`) {
				t.Errorf("%s: UpdateTaskProtection on %s, want this cluster's tasks", stack, res)
			}
		default:
			t.Errorf("%s: SFU task role may %s on %s", stack, asJSON(st["Action"]), asJSON(st["Resource"]))
		}
	}
	if len(seen) != 3 {
		t.Errorf("%s: SFU task role grants %v, want ManageConnections, DescribeNetworkInterfaces, UpdateTaskProtection", stack, seen)
	}
}
