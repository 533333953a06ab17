package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// hostedZone imports the configured public zone; it is looked up by id, so
// synthesis needs no AWS credentials.
func hostedZone(scope constructs.Construct, cfg Config) awsroute53.IHostedZone {
	return awsroute53.HostedZone_FromHostedZoneAttributes(scope, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String(cfg.HostedZoneID),
		ZoneName:     jsii.String(cfg.HostedZoneName),
	})
}

// newRegionalDomain gives this region's API the shared name ws.<domain>.
// Every region has a custom domain of the same name with its own regional
// certificate; the global stack's latency records choose among them.
func newRegionalDomain(scope constructs.Construct, cfg Config) awsapigatewayv2.DomainName {
	name := jsii.String(cfg.WebSocketDomain())
	cert := awscertificatemanager.NewCertificate(scope, jsii.String("WsCertificate"), &awscertificatemanager.CertificateProps{
		DomainName: name,
		Validation: awscertificatemanager.CertificateValidation_FromDns(hostedZone(scope, cfg)),
	})
	return awsapigatewayv2.NewDomainName(scope, jsii.String("WsDomain"), &awsapigatewayv2.DomainNameProps{
		DomainName:     name,
		Certificate:    cert,
		EndpointType:   awsapigatewayv2.EndpointType_REGIONAL,
		SecurityPolicy: awsapigatewayv2.SecurityPolicy_TLS_1_2,
	})
}
