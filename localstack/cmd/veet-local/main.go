// Command veet-local runs the whole of veet on one machine (`make run`):
// Redis (embedded unless -redis or REDIS_URL names one), the signaling
// handlers behind a local API Gateway, SFU nodes and the web app, on one
// HTTP port. Once it serves, it prints exactly one line to stdout,
//
//	veet is running: open http://HOST:PORT/
//
// which scripts and the SPA's browser tests parse; logs go to stderr.
// SIGINT or SIGTERM stops it gracefully: sockets close, SFU nodes drain.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/veet-dev/veet/localstack"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP listen address (port 0 picks a free one)")
	nodes := flag.Int("nodes", 2, "number of SFU nodes")
	spa := flag.String("spa", "", "directory of the built web app (spa/dist)")
	redisURL := flag.String("redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL; empty = embedded Redis)")
	drain := flag.Duration("drain", 5*time.Second, "how long SFU nodes may take to drain on shutdown")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	s, err := localstack.Start(startCtx, localstack.Options{
		Addr:          *addr,
		Nodes:         *nodes,
		SPADir:        *spa,
		RedisURL:      *redisURL,
		EmbeddedRedis: *redisURL == "",
		DrainTimeout:  *drain,
		Log:           log,
	})
	cancel()
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	fmt.Printf("veet is running: open %s/\n", s.URL())

	<-ctx.Done()
	stop() // a second signal kills at once
	log.Info("stopping")
	if err := s.Close(); err != nil {
		log.Error("stopped with errors", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
