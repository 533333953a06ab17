package localstack

import (
	"log/slog"
	"time"

	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/token"
	"github.com/veet-dev/veet/lambdas"
	"github.com/veet-dev/veet/localstack/gateway"
)

type handlerDeps struct {
	state       *state.Store
	bus         *bus.Bus
	push        push.Pusher
	tokens      *token.Signer
	callbackURL string
	region      string
	awayGrace   time.Duration
	log         *slog.Logger
}

// newFunctions builds the Lambda handlers once (one "warm container" shared
// by every function, which a handler must tolerate anyway) and exposes them
// by function name to the gateway.
func newFunctions(d handlerDeps) func(string) gateway.Handler {
	h := lambdas.New(lambdas.Deps{
		State:       d.state,
		Bus:         d.bus,
		Push:        d.push,
		Tokens:      d.tokens,
		Region:      d.region,
		CallbackURL: d.callbackURL,
		AwayGrace:   d.awayGrace,
		Log:         d.log,
	})
	return func(name string) gateway.Handler {
		fn := h.Function(name)
		if fn == nil {
			return nil
		}
		return gateway.Handler(fn)
	}
}
