package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
)

// startRedis starts a private redis-server when one is installed, else an
// in-process miniredis; stop ends it.
func startRedis() (addr, kind string, stop func(), err error) {
	bin, lookErr := exec.LookPath("redis-server")
	if lookErr != nil {
		m, err := miniredis.Run()
		if err != nil {
			return "", "", nil, err
		}
		return m.Addr(), "miniredis", m.Close, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "loadgen-redis")
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return "", "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return addr, "redis-server", stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", "", nil, fmt.Errorf("redis-server did not start: %w", err)
		}
	}
}

// connectionsServer is a stand-in for API Gateway's `@connections`
// endpoint: the node's real push client (AWS SDK) posts here, and each post
// goes to the simulated participant holding that connection.
func connectionsServer(p *simpeer.Pusher) (endpoint string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/@connections/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		id, _ := url.PathUnescape(rest)
		to := events.ConnRef{ConnectionID: events.ConnectionID(id)}
		var err error
		switch r.Method {
		case http.MethodPost:
			data, _ := io.ReadAll(io.LimitReader(r.Body, 256<<10))
			err = p.Post(r.Context(), to, data)
		case http.MethodDelete:
			err = p.Delete(r.Context(), to)
		}
		if err != nil {
			w.Header().Set("X-Amzn-Errortype", "GoneException")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGone)
			_, _ = w.Write([]byte(`{"message":"gone"}`))
		}
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}
