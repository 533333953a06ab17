package localstack

import (
	"context"
	"log/slog"
	"sync"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/veet-dev/veet/localstack/gateway"
)

// sweeper invokes the "sweep" function on a schedule, as an EventBridge
// rule does on AWS (rate(1 minute) is the smallest rate it allows, hence the
// default). The sweep re-places rooms of dead SFU nodes and forgets what TTLs
// and missed $disconnects left behind.
type sweeper struct {
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
}

func startSweeper(fn gateway.Handler, every time.Duration, log *slog.Logger) *sweeper {
	sw := &sweeper{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sw.done)
		if fn == nil || every <= 0 {
			return
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-sw.stopCh:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			if _, err := fn(ctx, awsevents.APIGatewayWebsocketProxyRequest{}); err != nil {
				log.Error("sweep failed", "err", err)
			}
			cancel()
		}
	}()
	return sw
}

func (sw *sweeper) stop() {
	sw.stopOnce.Do(func() { close(sw.stopCh) })
	<-sw.done
}
