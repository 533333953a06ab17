package infra

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Every log group of the deployment has a retention, including those a
// service would otherwise create on first use with none ("never expire"):
// the API's execution logs, Container Insights' performance events and the
// logs of CDK's own custom-resource handlers. A group that a service writes
// by a fixed name is created here first, with that name, before the
// service is allowed to write.
const (
	logRetention = awslogs.RetentionDays_ONE_MONTH
	// Container Insights' performance events only feed its metrics, which
	// CloudWatch extracts as they arrive.
	performanceLogRetention = awslogs.RetentionDays_ONE_WEEK
)

func newLogGroup(scope constructs.Construct, id string, name *string, retention awslogs.RetentionDays) awslogs.LogGroup {
	return awslogs.NewLogGroup(scope, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName:  name,
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
}

// logProviderHandlers gives the Lambda handlers of CDK's custom-resource
// providers in stack (the VPC's default security group lockdown, the S3
// auto-delete) a log group with retention: CDK writes them as raw
// resources that would log to an unmanaged /aws/lambda/<name> group.
func logProviderHandlers(stack awscdk.Stack) {
	for _, c := range *stack.Node().Children() {
		id := *c.Node().Id()
		if !strings.HasPrefix(id, "Custom::") || !strings.HasSuffix(id, "CustomResourceProvider") {
			continue
		}
		handler, ok := c.Node().TryFindChild(jsii.String("Handler")).(awscdk.CfnResource)
		if !ok || *handler.CfnResourceType() != "AWS::Lambda::Function" {
			continue
		}
		logs := newLogGroup(stack, alnum(strings.TrimPrefix(id, "Custom::"))+"Logs", nil, logRetention)
		handler.AddPropertyOverride(jsii.String("LoggingConfig"), map[string]interface{}{"LogGroup": logs.LogGroupName()})
	}
}
