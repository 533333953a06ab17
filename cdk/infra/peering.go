package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Multi-region state: secondary regions use the primary region's Redis over
// an inter-region VPC peering (DESIGN.md's "one primary Redis"). Both ends
// need routes, and each end can only be written by a stack in its region:
//
//   - the secondary stack requests the peering (same account: accepted by
//     CloudFormation) and routes the primary's CIDR into it;
//   - a small "peering routes" stack in the primary region routes the
//     secondary's CIDR back, once the peering exists.
//
// Splitting it this way keeps the dependencies one-way: primary → secondary
// → peering routes. Doing the return routes in the primary stack would need
// the peering id before the secondary exists, a cycle.

// peerWithPrimary connects a secondary region's VPC to the primary's and
// routes the primary's range from every subnet (Lambdas in private subnets,
// SFU tasks in public ones both talk to Redis).
func peerWithPrimary(scope constructs.Construct, net *network, primaryVpcID *string, primaryRegion, primaryCIDR string) awsec2.CfnVPCPeeringConnection {
	peering := awsec2.NewCfnVPCPeeringConnection(scope, jsii.String("PeeringToPrimary"), &awsec2.CfnVPCPeeringConnectionProps{
		VpcId:      net.vpc.VpcId(),
		PeerVpcId:  primaryVpcID,
		PeerRegion: jsii.String(primaryRegion),
	})
	subnets := append(append([]awsec2.ISubnet{}, *net.vpc.PrivateSubnets()...), *net.vpc.PublicSubnets()...)
	for i, rt := range routeTableIDs(&subnets) {
		awsec2.NewCfnRoute(scope, jsii.String(fmt.Sprintf("RouteToPrimary%d", i)), &awsec2.CfnRouteProps{
			RouteTableId:           rt,
			DestinationCidrBlock:   jsii.String(primaryCIDR),
			VpcPeeringConnectionId: peering.Ref(),
		})
	}
	return peering
}

// PeeringRoutesStack is the primary-region half of one peering: the routes
// from the primary's private subnets (where Redis answers from) back to a
// secondary region's VPC.
type PeeringRoutesStack struct {
	awscdk.Stack
	Secondary string
}

func newPeeringRoutesStack(app constructs.Construct, cfg Config, primary, secondary *RegionStack) *PeeringRoutesStack {
	s := &PeeringRoutesStack{Secondary: secondary.Region}
	s.Stack = newStack(app, StackName("peering-"+secondary.Region), &awscdk.StackProps{
		Env:         stackEnv(cfg, primary.Region),
		Description: jsii.String(fmt.Sprintf("veet: routes from %s back to %s over VPC peering", primary.Region, secondary.Region)),
	})
	for i, rt := range routeTableIDs(primary.net.vpc.PrivateSubnets()) {
		awsec2.NewCfnRoute(s.Stack, jsii.String(fmt.Sprintf("RouteTo%d", i)), &awsec2.CfnRouteProps{
			RouteTableId:           rt,
			DestinationCidrBlock:   jsii.String(secondary.CIDR),
			VpcPeeringConnectionId: secondary.peering.Ref(),
		})
	}
	s.AddStackDependency(primary.Stack, jsii.String("routes go into the primary VPC"))
	s.AddStackDependency(secondary.Stack, jsii.String("the peering is created by the secondary stack"))
	return s
}
