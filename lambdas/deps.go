package lambdas

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/veet-dev/veet/events/bus"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/config"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/token"
)

// DepsFromEnv builds Deps from the environment (internal/config) for a
// deployed Lambda: JSON logs to stderr, the AWS SDK pusher.
func DepsFromEnv(ctx context.Context) (Deps, error) {
	cfg, err := config.Load(ctx)
	if err != nil {
		return Deps{}, err
	}
	signer, err := token.New(cfg.TokenSecret, cfg.TokenAccepted...)
	if err != nil {
		return Deps{}, err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	signing, accepted := signer.KeyIDs()
	log.Info("token keys", "signing", signing, "accepted", accepted) // a rotation is followed by these
	return Deps{
		State:       state.New(cfg.Redis),
		Bus:         bus.New(cfg.Redis, log),
		Push:        push.NewAPIGateway(cfg.AWS),
		Tokens:      signer,
		Region:      cfg.Region,
		CallbackURL: cfg.CallbackURL,
		Log:         log,
	}, nil
}

func logLevel() slog.Level {
	if os.Getenv("VEET_DEBUG") == "1" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// Main is the whole of a function's main: build the dependencies at cold
// start and serve one function.
func Main(name string) {
	ctx := context.Background()
	d, err := DepsFromEnv(ctx)
	if err != nil {
		slog.Error("cold start failed", "function", name, "err", err)
		os.Exit(1)
	}
	lambda.Start(New(d).Function(name))
}
