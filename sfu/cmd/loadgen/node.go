package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/sfu"
)

// runNode is the child process: one SFU node, exactly as in production but
// for the `@connections` endpoint, which the participants' ConnRefs name.
func runNode(redisAddr, nodeID string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	node, err := sfu.New(sfu.Config{
		NodeID: events.NodeID(nodeID), Region: "bench", Redis: rdb, Push: push.NewAPIGateway(awsCfg),
		Log: log, PublicIPs: []string{"127.0.0.1"}, DrainTimeout: time.Second,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go serveControl(os.Stdin, os.Stdout)
	return node.Run(ctx)
}
