package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53targets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// GlobalStack serves the SPA to every region from CloudFront and tells each
// browser, through /config.json, which WebSocket endpoint to use.
type GlobalStack struct {
	awscdk.Stack
	Bucket       awss3.Bucket
	Distribution awscloudfront.Distribution
	// RuntimeConfig is the document written to /config.json (its values are
	// CloudFormation tokens until deploy time).
	RuntimeConfig map[string]interface{}
}

// RuntimeConfigKey is the SPA's runtime configuration object.
const RuntimeConfigKey = "config.json"

// runtimeConfig is what the SPA fetches at start: wsUrl is where to connect
// (the latency-routed name when there is a domain, else the primary region),
// regions lists every region's own endpoint so a client can be sent to the
// region where its room lives.
func runtimeConfig(cfg Config, regions []*RegionStack) map[string]interface{} {
	var list []interface{}
	for _, r := range regions {
		list = append(list, map[string]interface{}{"region": r.Region, "wsUrl": r.WebSocketURL()})
	}
	wsURL := regions[0].WebSocketURL()
	if d := cfg.WebSocketDomain(); d != "" {
		wsURL = jsii.String("wss://" + d)
	}
	return map[string]interface{}{"wsUrl": wsURL, "regions": list}
}

// newGlobalStack reads each region's API address across regions. CDK's
// crossRegionReferences carries them: the regional stack writes SSM
// parameters in this stack's region and this stack reads them at deploy
// time, with CloudFormation ordering the deploys (regions first).
func newGlobalStack(app constructs.Construct, cfg Config, regions []*RegionStack) *GlobalStack {
	g := &GlobalStack{}
	g.Stack = newStack(app, StackName("global"), &awscdk.StackProps{
		Env:         stackEnv(cfg, cfg.GlobalRegion),
		Description: jsii.String("veet global: the web app on S3 + CloudFront, its /config.json, DNS"),
	})
	for _, r := range regions {
		g.AddStackDependency(r.Stack, jsii.String("/config.json names every regional API"))
	}

	logs := awss3.NewBucket(g.Stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		// CloudFront's standard logs are delivered with ACLs.
		ObjectOwnership:   awss3.ObjectOwnership_OBJECT_WRITER,
		LifecycleRules:    &[]*awss3.LifecycleRule{{Expiration: awscdk.Duration_Days(jsii.Number(90))}},
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		AutoDeleteObjects: jsii.Bool(true),
	})
	g.Bucket = awss3.NewBucket(g.Stack, jsii.String("Spa"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("s3/"),
		// The bucket only holds build output; `cdk destroy` may empty it.
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		AutoDeleteObjects: jsii.Bool(true),
	})

	// One origin for both behaviors: one origin access control, one
	// bucket policy statement.
	origin := awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(g.Bucket, nil)
	var zone awsroute53.IHostedZone
	props := &awscloudfront.DistributionProps{
		Comment: jsii.String("veet web app"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			// Origin access control: the bucket stays private and only
			// this distribution, signing with SigV4, may read it.
			Origin:                origin,
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			ResponseHeadersPolicy: awscloudfront.ResponseHeadersPolicy_SECURITY_HEADERS(),
		},
		AdditionalBehaviors: &map[string]*awscloudfront.BehaviorOptions{
			// Never cached at the edge: a redeploy that changes endpoints
			// takes effect for the next page load.
			"/" + RuntimeConfigKey: {
				Origin:               origin,
				ViewerProtocolPolicy: awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
				CachePolicy:          awscloudfront.CachePolicy_CACHING_DISABLED(),
			},
		},
		DefaultRootObject: jsii.String("index.html"),
		// Meeting links are client-side routes (/abc-defg-hij): S3 answers
		// 403 for a key it does not have, the app answers instead.
		ErrorResponses: &[]*awscloudfront.ErrorResponse{
			{HttpStatus: jsii.Number(403), ResponseHttpStatus: jsii.Number(200), ResponsePagePath: jsii.String("/index.html"), Ttl: awscdk.Duration_Seconds(jsii.Number(10))},
			{HttpStatus: jsii.Number(404), ResponseHttpStatus: jsii.Number(200), ResponsePagePath: jsii.String("/index.html"), Ttl: awscdk.Duration_Seconds(jsii.Number(10))},
		},
		HttpVersion:   awscloudfront.HttpVersion_HTTP2_AND_3,
		EnableLogging: jsii.Bool(true),
		LogBucket:     logs,
		LogFilePrefix: jsii.String("cloudfront/"),
	}
	if cfg.Domain != "" {
		zone = hostedZone(g.Stack, cfg)
		props.DomainNames = jsii.Strings(cfg.Domain)
		// Only a custom certificate lets the TLS floor be raised.
		props.MinimumProtocolVersion = awscloudfront.SecurityPolicyProtocol_TLS_V1_2_2021
		props.Certificate = awscertificatemanager.NewCertificate(g.Stack, jsii.String("SpaCertificate"), &awscertificatemanager.CertificateProps{
			DomainName: jsii.String(cfg.Domain),
			Validation: awscertificatemanager.CertificateValidation_FromDns(zone),
		})
	}
	g.Distribution = awscloudfront.NewDistribution(g.Stack, jsii.String("Cdn"), props)

	g.RuntimeConfig = runtimeConfig(cfg, regions)
	awss3deployment.NewBucketDeployment(g.Stack, jsii.String("DeploySpa"), &awss3deployment.BucketDeploymentProps{
		// Later sources win: a config.json left in the build is replaced.
		Sources: &[]awss3deployment.ISource{
			awss3deployment.Source_Asset(jsii.String(cfg.SPADir), nil),
			awss3deployment.Source_JsonData(jsii.String(RuntimeConfigKey), g.RuntimeConfig, nil),
		},
		DestinationBucket: g.Bucket,
		Distribution:      g.Distribution,
		DistributionPaths: jsii.Strings("/*"),
		MemoryLimit:       jsii.Number(512),
		LogGroup:          newLogGroup(g.Stack, "DeploySpaLogs", nil, logRetention),
	})

	url := jsii.String("https://" + cfg.Domain)
	if cfg.Domain == "" {
		url = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://"), g.Distribution.DistributionDomainName()})
	}
	awscdk.NewCfnOutput(g.Stack, jsii.String("AppUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("open this in a browser"), Value: url,
	})

	if zone != nil {
		target := awsroute53.RecordTarget_FromAlias(awsroute53targets.NewCloudFrontTarget(g.Distribution))
		awsroute53.NewARecord(g.Stack, jsii.String("SpaA"), &awsroute53.ARecordProps{Zone: zone, RecordName: jsii.String(cfg.Domain), Target: target})
		awsroute53.NewAaaaRecord(g.Stack, jsii.String("SpaAaaa"), &awsroute53.AaaaRecordProps{Zone: zone, RecordName: jsii.String(cfg.Domain), Target: target})
		// One latency record per region for ws.<domain>: Route 53 answers
		// each resolver with the region nearest to it.
		for _, r := range regions {
			awsroute53.NewARecord(g.Stack, jsii.String("Ws-"+r.Region), &awsroute53.ARecordProps{
				Zone:          zone,
				RecordName:    jsii.String(cfg.WebSocketDomain()),
				Region:        jsii.String(r.Region),
				SetIdentifier: jsii.String("veet-" + r.Region),
				Target: awsroute53.RecordTarget_FromAlias(awsroute53targets.NewApiGatewayv2DomainProperties(
					r.domain.RegionalDomainName(), r.domain.RegionalHostedZoneId())),
			})
		}
	}
	return g
}
