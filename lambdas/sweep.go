package lambdas

import (
	"context"

	awsevents "github.com/aws/aws-lambda-go/events"
)

// sweepHandler is the "sweep" function (a scheduled invocation, no route).
func (h *Handlers) sweepHandler(ctx context.Context, _ awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
	return ok, nil
}
