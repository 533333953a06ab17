package localstack

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
)

func TestSweeperRunsOnScheduleUntilStopped(t *testing.T) {
	var n atomic.Int32
	fn := func(context.Context, awsevents.APIGatewayWebsocketProxyRequest) (awsevents.APIGatewayProxyResponse, error) {
		n.Add(1)
		return awsevents.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	sw := startSweeper(fn, 20*time.Millisecond, slog.Default())
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	sw.stop()
	got := n.Load()
	if got < 3 {
		t.Fatalf("sweep ran %d times", got)
	}
	time.Sleep(60 * time.Millisecond)
	if n.Load() != got {
		t.Errorf("sweep ran after stop")
	}
}
