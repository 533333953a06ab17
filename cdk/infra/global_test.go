package infra_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/veet-dev/veet/cdk/infra"
)

var globalStack = infra.StackName("global")

func TestCloudFrontServesPrivateBucketThroughOAC(t *testing.T) {
	f := synth(t)
	tpl := f.asserts[globalStack]
	check(t, "origin access control", func() {
		tpl.HasResourceProperties(jsii.String("AWS::CloudFront::OriginAccessControl"), map[string]interface{}{
			"OriginAccessControlConfig": assertions.Match_ObjectLike(&map[string]interface{}{
				"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4",
			}),
		})
	})
	check(t, "one OAC", func() { tpl.ResourceCountIs(jsii.String("AWS::CloudFront::OriginAccessControl"), jsii.Number(1)) })

	dists := f.resources(globalStack, "AWS::CloudFront::Distribution")
	if len(dists) != 1 {
		t.Fatalf("%d distributions", len(dists))
	}
	for _, d := range dists {
		cfg := props(d)["DistributionConfig"].(map[string]interface{})
		origins := cfg["Origins"].([]interface{})
		if len(origins) != 1 {
			t.Fatalf("%d origins, want the SPA bucket only", len(origins))
		}
		o := origins[0].(map[string]interface{})
		if got := refs(o["OriginAccessControlId"]); len(got) != 1 || !strings.Contains(got[0], "OriginAccessControl") {
			t.Errorf("origin signs with %v, want the OAC", got)
		}
		if asJSON(o["S3OriginConfig"]) != `{"OriginAccessIdentity":""}` {
			t.Errorf("origin uses a legacy OAI: %s", asJSON(o["S3OriginConfig"]))
		}
		def := cfg["DefaultCacheBehavior"].(map[string]interface{})
		if def["ViewerProtocolPolicy"] != "redirect-to-https" || cfg["DefaultRootObject"] != "index.html" {
			t.Errorf("default behavior %s, root %v", asJSON(def), cfg["DefaultRootObject"])
		}
		if vc := asJSON(cfg["ViewerCertificate"]); !strings.Contains(vc, `"MinimumProtocolVersion":"TLSv1.2_2021"`) || !strings.Contains(vc, "SpaCertificate") {
			t.Errorf("viewer certificate %s", vc)
		}
		if asJSON(cfg["Aliases"]) != `["`+testDomain+`"]` {
			t.Errorf("aliases %s", asJSON(cfg["Aliases"]))
		}
		var paths []string
		for _, b := range cfg["CacheBehaviors"].([]interface{}) {
			paths = append(paths, b.(map[string]interface{})["PathPattern"].(string))
		}
		if strings.Join(paths, " ") != "/config.json" {
			t.Errorf("cache behaviors %v, want /config.json uncached", paths)
		}
	}

	// The bucket is private: only this distribution may read it.
	for id, b := range f.resources(globalStack, "AWS::S3::Bucket") {
		if asJSON(props(b)["PublicAccessBlockConfiguration"]) != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
			t.Errorf("bucket %s is not fully private: %s", id, asJSON(props(b)["PublicAccessBlockConfiguration"]))
		}
	}
	readers := 0
	for _, p := range f.resources(globalStack, "AWS::S3::BucketPolicy") {
		for _, s := range props(p)["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{}) {
			st := s.(map[string]interface{})
			if asJSON(st["Principal"]) != `{"Service":"cloudfront.amazonaws.com"}` {
				continue
			}
			readers++
			cond := asJSON(st["Condition"])
			if st["Action"] != "s3:GetObject" || !strings.Contains(cond, `"AWS:SourceArn"`) || !strings.Contains(cond, `{"Ref":"Cdn`) {
				t.Errorf("CloudFront may %v on condition %s, want GetObject for this distribution only", st["Action"], cond)
			}
		}
	}
	if readers != 1 {
		t.Errorf("%d CloudFront statements in bucket policies, want 1", readers)
	}
}

func TestLatencyRecordsPerRegion(t *testing.T) {
	f := synth(t)
	seen := map[string]bool{}
	for _, r := range f.resources(globalStack, "AWS::Route53::RecordSet") {
		p := props(r)
		if p["HostedZoneId"] != testZoneID {
			t.Errorf("record in zone %v", p["HostedZoneId"])
		}
		switch p["Name"] {
		case "ws." + testDomain + ".":
			region := p["Region"].(string)
			seen[region] = true
			alias := asJSON(p["AliasTarget"])
			if p["SetIdentifier"] != "veet-"+region || !strings.Contains(alias, `"StackName":"veet-`+region+`"`) || !strings.Contains(alias, "RegionalDomainName") {
				t.Errorf("latency record %s -> %s", region, alias)
			}
		case testDomain + ".":
			if !strings.Contains(asJSON(p["AliasTarget"]), `"Cdn`) {
				t.Errorf("%v record for the SPA points at %s", p["Type"], asJSON(p["AliasTarget"]))
			}
		default:
			t.Errorf("unexpected record %v", p["Name"])
		}
	}
	if !seen[primaryRegion] || !seen[secondaryRegion] || len(seen) != 2 {
		t.Errorf("latency records for %v, want both regions", seen)
	}
}

// /config.json: the latency-routed endpoint first, then every region's own.
func TestRuntimeConfigNamesEveryRegion(t *testing.T) {
	f := synth(t)
	g := f.deployment.Global
	cfg := asJSON(g.Stack.Resolve(g.RuntimeConfig))
	if !strings.Contains(cfg, `"wsUrl":"wss://ws.`+testDomain+`"`) {
		t.Errorf("wsUrl is not the latency-routed name: %s", cfg)
	}
	for _, region := range regions {
		if !strings.Contains(cfg, `"region":"`+region+`"`) ||
			!strings.Contains(cfg, `"StackName":"veet-`+region+`"`) ||
			!strings.Contains(cfg, `.execute-api.`+region+`.`) {
			t.Errorf("config lacks %s's endpoint: %s", region, cfg)
		}
	}
	if out := asJSON(f.templates[globalStack]["Outputs"].(map[string]interface{})["AppUrl"]); !strings.Contains(out, `"Value":"https://`+testDomain+`"`) {
		t.Errorf("AppUrl output %s", out)
	}
	for _, region := range regions {
		if f.templates[regionStack(region)]["Outputs"].(map[string]interface{})["WebSocketUrl"] == nil {
			t.Errorf("%s prints no WebSocketUrl", region)
		}
	}
	deploys := f.resources(globalStack, "Custom::CDKBucketDeployment")
	if len(deploys) != 1 {
		t.Fatalf("%d bucket deployments", len(deploys))
	}
	for _, d := range deploys {
		p := props(d)
		if len(p["SourceObjectKeys"].([]interface{})) != 2 || asJSON(p["DistributionPaths"]) != `["/*"]` {
			t.Errorf("deployment %s, want the SPA and config.json with an invalidation", asJSON(p))
		}
	}
}

// Without a domain the browsers go to the primary region's own endpoint,
// and there is no DNS to manage.
func TestWithoutDomain(t *testing.T) {
	f := synthPlain(t)
	g := f.deployment.Global
	doc := g.Stack.Resolve(g.RuntimeConfig).(map[string]interface{})
	ws := asJSON(doc["wsUrl"])
	own := asJSON(doc["regions"].([]interface{})[0].(map[string]interface{})["wsUrl"])
	if ws != own || !strings.Contains(ws, `"wss://"`) || !strings.Contains(ws, ".execute-api."+primaryRegion+".") {
		t.Errorf("wsUrl %s is not the primary's endpoint %s", ws, own)
	}
	for _, stack := range f.templates {
		for id, r := range stack["Resources"].(map[string]interface{}) {
			switch r.(map[string]interface{})["Type"] {
			case "AWS::Route53::RecordSet", "AWS::CertificateManager::Certificate", "AWS::ApiGatewayV2::DomainName":
				t.Errorf("%s exists without a domain", id)
			}
		}
	}
	if out := asJSON(f.templates[globalStack]["Outputs"].(map[string]interface{})["AppUrl"]); !strings.Contains(out, `["https://",{"Fn::GetAtt":["Cdn`) {
		t.Errorf("AppUrl output %s, want the CloudFront address", out)
	}
	for _, d := range f.resources(globalStack, "AWS::CloudFront::Distribution") {
		if cfg := props(d)["DistributionConfig"].(map[string]interface{}); cfg["Aliases"] != nil {
			t.Errorf("aliases %v without a domain", cfg["Aliases"])
		}
	}
}
