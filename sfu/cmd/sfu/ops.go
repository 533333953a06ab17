package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/veet-dev/veet/sfu"
)

// startOperations starts what a deployed node does beside serving: its
// metrics line (metrics.go) and ECS scale-in protection (protection.go).
// Metrics are off unless SFU_METRICS_INTERVAL is set; protection is on
// wherever the ECS agent is (ECS_AGENT_URI), unless turned off.
func startOperations(ctx context.Context, node *sfu.Node, log *slog.Logger) error {
	every, err := durationEnv("SFU_METRICS_INTERVAL", 0)
	if err != nil {
		return err
	}
	hold, err := durationEnv("SFU_SCALE_IN_PROTECTION", defaultHold)
	if err != nil {
		return err
	}
	if every > 0 {
		// Until the process exits: a draining node's figures matter too.
		go publishMetrics(context.WithoutCancel(ctx), node, os.Stdout, every, log)
	}
	if agent := os.Getenv("ECS_AGENT_URI"); agent != "" && hold > 0 {
		go newProtector(agent, hold, log).protect(ctx, node, protectionCheck)
	}
	return nil
}

// durationEnv reads a duration variable: unset is def, "off" or "0" is 0.
func durationEnv(name string, def time.Duration) (time.Duration, error) {
	switch v := os.Getenv(name); v {
	case "":
		return def, nil
	case "off", "0":
		return 0, nil
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%s=%q: want a duration such as 30s, or off", name, v)
		}
		return d, nil
	}
}
