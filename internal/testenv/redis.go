// Package testenv is the one harness integration tests share: it starts real
// servers (redis-server today) on free loopback ports and stops them when the
// test ends. Tests that use it say so in their names (TestRedis…, TestStack…).
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server process owned by one test.
type Redis struct {
	Addr string
	URL  string
	cmd  *exec.Cmd
	args []string
	bin  string
	mu   sync.Mutex
}

// StartRedis starts a private redis-server with persistence off on a free
// loopback port, waits until it answers, and stops it by pid at cleanup.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found: run `apt-get install -y redis-server` (make test does this)")
	}
	port := FreePort(t)
	dir := t.TempDir()
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), bin: bin,
		args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}}
	r.URL = "redis://" + r.Addr
	if err := r.start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(r.kill)
	if err := r.waitUp(10 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		t.Fatalf("redis-server on %s did not answer: %v\n%s", r.Addr, err, log)
	}
	return r
}

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command(r.bin, r.args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	r.cmd = cmd
	return nil
}

func (r *Redis) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *Redis) waitUp(within time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (its data is gone: persistence is off); Start
// brings up an empty one on the same port.
func (r *Redis) Stop() { r.kill() }

// Start starts the server again after Stop, empty, and waits until it
// answers.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	if err := r.start(); err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
	if err := r.waitUp(10 * time.Second); err != nil {
		t.Fatalf("restarted redis-server did not answer: %v", err)
	}
}

// Pause stops the server process (SIGSTOP): connections hang rather than
// fail, as with a Redis that stopped answering; Resume continues it with
// its data.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}

// Client returns a go-redis client for the server, closed at cleanup.
func (r *Redis) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
