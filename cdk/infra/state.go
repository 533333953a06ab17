package infra

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticache"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// sharedState is how one region's workloads find the state every region
// shares: the primary's Redis and the two secrets. In the primary these are
// the resources' own attributes; in a secondary they are cross-region
// references to the primary stack (and the secrets' replicas in the region).
type sharedState struct {
	redisAddr          *string // host:port of the primary endpoint
	redisAuthSecretArn *string // in this region
	tokenSecretArn     *string // in this region
}

// primaryState is what the primary region creates.
type primaryState struct {
	stack     awscdk.Stack
	redisAuth awssecretsmanager.Secret
	token     awssecretsmanager.Secret
	group     awselasticache.CfnReplicationGroup
	redisSG   awsec2.SecurityGroup
	addr      *string
}

func (p *primaryState) local() sharedState {
	return sharedState{redisAddr: p.addr, redisAuthSecretArn: p.redisAuth.SecretArn(), tokenSecretArn: p.token.SecretArn()}
}

// forRegion is the view a secondary region gets: the same Redis address and
// the ARNs of the secrets' replicas in that region (Secrets Manager keeps the
// name and suffix of a replica, only the region in its ARN differs). Reading a
// replica keeps secondaries working on their own region's endpoint.
//
// The replica ARNs are computed in the primary stack and published as its
// outputs; the secondary reads each with a bare Fn::GetStackOutput. Letting
// CDK carry the primary's ARN across and splitting it in the secondary would
// put Fn::GetStackOutput inside Fn::Split, which CloudFormation rejects
// (cfn-lint E1022) — in every environment variable, IAM statement and ECS
// secret that uses the ARN.
func (p *primaryState) forRegion(region string) sharedState {
	return sharedState{
		redisAddr:          p.addr,
		redisAuthSecretArn: p.replicaOutput(p.redisAuth, region),
		tokenSecretArn:     p.replicaOutput(p.token, region),
	}
}

// replicaOutput publishes secret's replica ARN in region as an output of the
// primary stack and returns the consumer's reference to it.
func (p *primaryState) replicaOutput(secret awssecretsmanager.Secret, region string) *string {
	name := *secret.Node().Id() + "Arn" + alnum(region) // e.g. RedisAuthTokenArneuwest1
	awscdk.NewCfnOutput(p.stack, jsii.String(name), &awscdk.CfnOutputProps{
		Description: jsii.String(fmt.Sprintf("ARN of the %s replica in %s", *secret.Node().Id(), region)),
		Value:       replicaSecretArn(secret.SecretArn(), region),
	})
	return awscdk.Fn_GetStackOutput(p.stack.StackName(), jsii.String(name), p.stack.Region(), nil)
}

// alnum keeps the letters and digits of s: CloudFormation logical ids allow
// nothing else.
func alnum(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// replicaSecretArn rewrites arn:<p>:secretsmanager:<r>:<acct>:secret:<name-suffix>
// for another region. It is resolved by CloudFormation in the primary stack
// because the suffix is only known once the secret exists.
func replicaSecretArn(primaryArn *string, region string) *string {
	nameWithSuffix := awscdk.Fn_Select(jsii.Number(6), awscdk.Fn_Split(jsii.String(":"), primaryArn, nil))
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":secretsmanager:" + region + ":"),
		awscdk.Aws_ACCOUNT_ID(), jsii.String(":secret:"), nameWithSuffix,
	})
}

// newPrimaryState creates, in the primary region, the Redis AUTH token and
// the meeting-token HMAC key (both replicated to the other regions: tokens
// minted in one region must verify in every other), and the ElastiCache
// replication group. peerCIDRs are the secondary VPCs that reach Redis over
// VPC peering.
func newPrimaryState(scope constructs.Construct, cfg Config, net *network, replicaRegions, peerCIDRs []string) *primaryState {
	var replicas []*awssecretsmanager.ReplicaRegion
	for _, r := range replicaRegions {
		replicas = append(replicas, &awssecretsmanager.ReplicaRegion{Region: jsii.String(r)})
	}
	secret := func(id, what string) awssecretsmanager.Secret {
		return awssecretsmanager.NewSecret(scope, jsii.String(id), &awssecretsmanager.SecretProps{
			Description: jsii.String(what),
			// Alphanumeric only: ElastiCache rejects some punctuation in AUTH
			// tokens, and 64 such characters carry ~380 bits.
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
			},
			ReplicaRegions: &replicas,
			RemovalPolicy:  awscdk.RemovalPolicy_DESTROY,
		})
	}
	p := &primaryState{
		stack:     awscdk.Stack_Of(scope),
		redisAuth: secret("RedisAuthToken", "veet: ElastiCache Redis AUTH token"),
		token:     secret("MeetingTokenKey", "veet: HMAC key that signs meeting tokens"),
	}

	p.redisSG = awsec2.NewSecurityGroup(scope, jsii.String("RedisSg"), &awsec2.SecurityGroupProps{
		Vpc:              net.vpc,
		Description:      jsii.String("veet Redis: 6379 from the Lambdas, the SFU tasks and the peered regions"),
		AllowAllOutbound: jsii.Bool(false),
	})
	port := awsec2.Port_Tcp(jsii.Number(RedisPort))
	p.redisSG.AddIngressRule(net.lambdaSG, port, jsii.String("signaling Lambdas"), nil)
	p.redisSG.AddIngressRule(net.sfuSG, port, jsii.String("SFU tasks"), nil)
	for _, cidr := range peerCIDRs {
		// Security-group references do not cross an inter-region peering,
		// so a peered region is allowed by its VPC range.
		p.redisSG.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(cidr)), port,
			jsii.String(fmt.Sprintf("peered region VPC %s", cidr)), nil)
	}

	var subnetIDs []interface{}
	for _, id := range *net.vpc.SelectSubnets(net.privateSubnets()).SubnetIds {
		subnetIDs = append(subnetIDs, id)
	}
	subnetGroup := awselasticache.NewCfnSubnetGroup(scope, jsii.String("RedisSubnets"), &awselasticache.CfnSubnetGroupProps{
		Description: jsii.String("veet Redis: private subnets"),
		SubnetIds:   &subnetIDs,
	})
	p.group = awselasticache.NewCfnReplicationGroup(scope, jsii.String("Redis"), &awselasticache.CfnReplicationGroupProps{
		ReplicationGroupDescription: jsii.String("veet room state and SFU command streams"),
		Engine:                      jsii.String("redis"),
		EngineVersion:               jsii.String("7.1"),
		CacheNodeType:               jsii.String(cfg.Redis.NodeType),
		// Cluster mode off: one shard, a primary and its replicas. The keys
		// carry {code} hash tags, so moving to cluster mode needs no key change.
		NumCacheClusters:         jsii.Number(float64(1 + cfg.Redis.Replicas)),
		AutomaticFailoverEnabled: jsii.Bool(true),
		MultiAzEnabled:           jsii.Bool(true),
		AtRestEncryptionEnabled:  jsii.Bool(true),
		TransitEncryptionEnabled: jsii.Bool(true),
		TransitEncryptionMode:    jsii.String("required"),
		AuthToken:                p.redisAuth.SecretValue().UnsafeUnwrap(), // a {{resolve:secretsmanager}} reference, never plain text
		Port:                     jsii.Number(RedisPort),
		CacheSubnetGroupName:     subnetGroup.Ref(),
		SecurityGroupIds:         &[]*string{p.redisSG.SecurityGroupId()},
		AutoMinorVersionUpgrade:  jsii.Bool(true),
		// Meetings are short-lived; a daily snapshot still helps after an
		// operator mistake, and one day of retention is free of charge.
		SnapshotRetentionLimit: jsii.Number(1),
	})
	p.addr = awscdk.Fn_Join(jsii.String(":"), &[]*string{
		p.group.AttrPrimaryEndPointAddress(), p.group.AttrPrimaryEndPointPort(),
	})
	return p
}
