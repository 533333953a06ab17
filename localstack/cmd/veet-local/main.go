// Command veet-local runs the whole of veet on one machine (`make run`):
// Redis (embedded unless -redis or REDIS_URL names one), the signaling
// handlers behind a local API Gateway, SFU nodes and the web app, on one
// HTTP port. Once it serves, it prints exactly one line to stdout,
//
//	veet is running: open http://HOST:PORT/
//
// which scripts and the SPA's browser tests parse; logs go to stderr.
// SIGINT or SIGTERM stops it gracefully: sockets close, SFU nodes drain.
//
// The key that signs meeting tokens comes from -token-key (hex), else
// $VEET_TOKEN_KEY, else -token-key-file (created, 0600, with a random key if
// missing: `make run` keeps one in build/), else a random one for this run
// only. A restart with the same key keeps every token valid: hosts stay
// hosts.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/veet-dev/veet/localstack"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP listen address (port 0 picks a free one)")
	nodes := flag.Int("nodes", 2, "number of SFU nodes (per region)")
	regions := flag.Int("regions", 1, "number of regions: each gets its own gateway (the ports after -addr's), handlers and SFU nodes, all on one Redis")
	spa := flag.String("spa", "", "directory of the built web app (spa/dist)")
	redisURL := flag.String("redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL; empty = embedded Redis)")
	drain := flag.Duration("drain", 5*time.Second, "how long SFU nodes may take to drain on shutdown")
	keyHex := flag.String("token-key", os.Getenv("VEET_TOKEN_KEY"), "token signing key, hex (default $VEET_TOKEN_KEY)")
	keyFile := flag.String("token-key-file", "", "file holding the token signing key (created if missing)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	key, err := tokenKey(*keyHex, *keyFile)
	if err != nil {
		log.Error("token key", "err", err)
		os.Exit(2)
	}
	if key == nil {
		log.Warn("no token key given: tokens are valid for this run only (use -token-key-file)")
	}

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	s, err := localstack.Start(startCtx, localstack.Options{
		Regions:       regionNames(*regions),
		TokenSecret:   key,
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
	for _, r := range s.RegionURLs()[1:] {
		log.Info("another region", "region", r[0], "url", r[1]+"/")
	}

	<-ctx.Done()
	stop() // a second signal kills at once
	log.Info("stopping")
	if err := s.Close(); err != nil {
		log.Error("stopped with errors", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

// tokenKey is the token signing key from the flag's hex, or the file's
// (written with a fresh random key when missing); nil when neither is given.
func tokenKey(hexKey, file string) ([]byte, error) {
	if hexKey != "" {
		k, err := hex.DecodeString(strings.TrimSpace(hexKey))
		if err != nil || len(k) < 16 {
			return nil, fmt.Errorf("-token-key must be at least 16 bytes of hex")
		}
		return k, nil
	}
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(file, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	return tokenKey(string(data), "")
}

// regionNames are n local regions: "local", then "local-b", "local-c", …
func regionNames(n int) []string {
	out := []string{localstack.Region}
	for i := 1; i < n && i < 26; i++ {
		out = append(out, fmt.Sprintf("%s-%c", localstack.Region, 'a'+i))
	}
	return out
}
