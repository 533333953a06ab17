package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// maxAZs is 2: enough for a multi-AZ Redis and for the SFU service to
// survive an AZ, without paying for a third NAT gateway option.
const maxAZs = 2

// network is one region's VPC and the security groups its workloads use.
type network struct {
	vpc      awsec2.Vpc
	lambdaSG awsec2.SecurityGroup // signaling Lambdas (private subnets)
	sfuSG    awsec2.SecurityGroup // SFU tasks (public subnets, public IPs)
}

// newNetwork builds the VPC: public subnets for the SFU tasks, which need
// their own public IP for WebRTC; private subnets for the Lambdas and Redis.
//
// What the Lambdas reach, and how:
//   - Redis: inside the VPC (or over the peering).
//   - Secrets Manager, at every cold start: an interface endpoint in the
//     private subnets, so a NAT or internet outage cannot stop a cold start.
//   - @connections (execute-api): through NAT, one per AZ by default. An
//     execute-api interface endpoint cannot carry it: it serves only private
//     REST APIs, and with private DNS on it would capture every
//     *.execute-api name in the VPC and answer 403 to public WebSocket APIs.
//   - CloudWatch Logs: not from the VPC at all; Lambda ships its functions'
//     logs itself.
//
// The SFU tasks sit in public subnets and reach ECR, CloudWatch Logs, the
// EC2 API (their own public IP) and @connections through the internet
// gateway, which is regional and has no single point; ECS fetches their
// Redis password through the Secrets Manager endpoint.
func newNetwork(scope constructs.Construct, cfg Config, regionIndex int) *network {
	vpc := awsec2.NewVpc(scope, jsii.String("Vpc"), &awsec2.VpcProps{
		IpAddresses:       awsec2.IpAddresses_Cidr(jsii.String(cfg.VPCCIDR(regionIndex))),
		AvailabilityZones: deployTimeAZs(),
		NatGateways:       jsii.Number(float64(cfg.NATGateways)),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(20)},
			{Name: jsii.String("private"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(20)},
		},
	})
	// Rejected flows only: media traffic would make an ALL flow log the
	// largest line of the bill, and rejects are what an investigation needs.
	flowLogs := newLogGroup(scope, "VpcFlowLogs", nil, logRetention)
	vpc.AddFlowLog(jsii.String("RejectedFlows"), &awsec2.FlowLogOptions{
		Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
		TrafficType: awsec2.FlowLogTrafficType_REJECT,
	})

	lambdaSG := awsec2.NewSecurityGroup(scope, jsii.String("LambdaSg"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("veet signaling Lambdas: no inbound; outbound to Redis, Secrets Manager, @connections"),
		AllowAllOutbound: jsii.Bool(true),
	})
	sfuSG := awsec2.NewSecurityGroup(scope, jsii.String("SfuSg"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("veet SFU: WebRTC media from anywhere on one UDP and one TCP port"),
		AllowAllOutbound: jsii.Bool(true), // STUN, Redis, @connections, ECR, logs
	})
	sfuSG.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Udp(jsii.Number(SFUMediaPort)),
		jsii.String("WebRTC media, ICE UDP mux"), nil)
	sfuSG.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(SFUMediaPort)),
		jsii.String("WebRTC media, ICE-TCP fallback"), nil)
	// The health port (8080) stays closed: ECS checks it from inside the task.

	n := &network{vpc: vpc, lambdaSG: lambdaSG, sfuSG: sfuSG}
	n.secretsEndpoint(scope)
	return n
}

// secretsEndpoint puts Secrets Manager inside the VPC (private DNS: the
// SDK's usual endpoint name resolves to it), open on 443 to the Lambdas and
// the SFU tasks only.
func (n *network) secretsEndpoint(scope constructs.Construct) {
	sg := awsec2.NewSecurityGroup(scope, jsii.String("SecretsEndpointSg"), &awsec2.SecurityGroupProps{
		Vpc:              n.vpc,
		Description:      jsii.String("veet Secrets Manager endpoint: 443 from the Lambdas and the SFU tasks"),
		AllowAllOutbound: jsii.Bool(false),
	})
	https := awsec2.Port_Tcp(jsii.Number(443))
	sg.AddIngressRule(n.lambdaSG, https, jsii.String("signaling Lambdas read their secrets at cold start"), nil)
	sg.AddIngressRule(n.sfuSG, https, jsii.String("ECS reads the SFU's Redis password at task start"), nil)
	awsec2.NewInterfaceVpcEndpoint(scope, jsii.String("SecretsManagerEndpoint"), &awsec2.InterfaceVpcEndpointProps{
		Vpc:               n.vpc,
		Service:           awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER(),
		Subnets:           n.privateSubnets(),
		PrivateDnsEnabled: jsii.Bool(true),
		SecurityGroups:    &[]awsec2.ISecurityGroup{sg},
		Open:              jsii.Bool(false),
	})
}

// deployTimeAZs names the region's first maxAZs availability zones with
// Fn::GetAZs, resolved by CloudFormation at deploy time. Without it a stack
// with a known account has CDK look the zones up at synthesis (credentials
// needed, the answer frozen in cdk.context.json, and literal zone names in
// the template: cfn-lint W3010).
func deployTimeAZs() *[]*string {
	var azs []*string
	for i := range maxAZs {
		azs = append(azs, awscdk.Fn_Select(jsii.Number(float64(i)), awscdk.Fn_GetAzs(jsii.String(""))))
	}
	return &azs
}

// privateSubnets is where the Lambdas and Redis live.
func (n *network) privateSubnets() *awsec2.SubnetSelection {
	return &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
}

// routeTableIDs lists the route tables of the selected subnets, so routes to
// a peered VPC can be added to each.
func routeTableIDs(subnets *[]awsec2.ISubnet) []*string {
	var ids []*string
	for _, s := range *subnets {
		ids = append(ids, s.RouteTable().RouteTableId())
	}
	return ids
}
