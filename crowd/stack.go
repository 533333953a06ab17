// Package crowd is the large-meeting benchmark (`make bench`): up to a
// thousand signaling clients (internal/peer, without media) in one meeting,
// joining in a paced wave and then churning, against the whole local stack
// run as a process of its own (veet-local with one SFU node in it) on a
// real redis-server, so that the stack's CPU and memory can be read apart
// from the clients'. It prints what a user of the meeting would notice
// (join time, how long a change takes to reach everyone, whether any was
// lost) and what it cost (Redis commands, CPU, RSS, the largest message).
package crowd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/internal/token"
)

// Stack is veet-local (one SFU node in it) and its redis-server, each a
// process of its own.
type Stack struct {
	URL, WSURL string
	cmd        *exec.Cmd
	logPath    string
	redis      *testenv.Redis
	rdb        *redis.Client
	tokens     *token.Signer
}

var runningLine = regexp.MustCompile(`^veet is running: open (http://[0-9.:]+)/$`)

// Start builds veet-local and runs it on a fresh redis-server; both stop at
// the test's end.
func Start(tb testing.TB) *Stack {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "veet-local")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/veet-dev/veet/localstack/cmd/veet-local").CombinedOutput(); err != nil {
		tb.Fatalf("build veet-local: %v\n%s", err, out)
	}
	s := &Stack{redis: testenv.StartRedis(tb), logPath: filepath.Join(dir, "veet-local.log")}
	s.rdb = s.redis.Client(tb)
	key := []byte("crowd-bench-token-key-0123456789")
	var err error
	if s.tokens, err = token.New(key); err != nil {
		tb.Fatal(err)
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	out := &syncWriter{}
	args := []string{"-addr", "127.0.0.1:0", "-nodes", "1", "-redis", s.redis.URL, "-token-key", hex.EncodeToString(key)}
	if prof := os.Getenv("CROWD_CPUPROFILE"); prof != "" {
		// The stack's own profile (go tool pprof then reads it with the
		// binary, kept beside it as prof + ".bin").
		args = append(args, "-cpuprofile", prof)
		_ = exec.Command("cp", bin, prof+".bin").Run()
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = out, logf
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if m := runningLine.FindStringSubmatch(sc.Text()); m != nil {
				s.URL = m[1]
				s.WSURL = "ws" + s.URL[len("http"):] + "/ws"
				return s
			}
		}
	}
	tb.Fatalf("veet-local did not start:\n%s", s.logTail())
	return nil
}

// syncWriter is a buffer written by the child's output copier and read by
// Start.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (s *Stack) logTail() string {
	data, _ := os.ReadFile(s.logPath)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// Token signs a token of role for the meeting.
func (s *Stack) Token(tb testing.TB, code events.RoomCode, role events.Role) string {
	tok, err := s.tokens.Sign(token.Claims{Room: code, Participant: events.NewParticipantID(), Role: role}, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// Usage is what the stack's processes used so far.
type Usage struct {
	CPU          time.Duration // veet-local and redis-server, user + system
	StackRSS     float64       // MB, veet-local
	RedisRSS     float64       // MB
	RedisCmds    int64         // commands Redis processed (those inside scripts too)
	CommandLag   int64         // the node's longest command wait so far (ms)
	HealthySince int64         // the node's unbroken run of heartbeats began (Unix ms)
}

// Usage reads the processes' CPU and RSS, Redis's command count and the
// node's registry entry.
func (s *Stack) Usage() Usage {
	var u Usage
	for i, pid := range []int{s.cmd.Process.Pid, s.redis.Pid()} {
		cpu, rss := procStat(pid)
		u.CPU += cpu
		if i == 0 {
			u.StackRSS = rss
		} else {
			u.RedisRSS = rss
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, l := range strings.Split(s.rdb.Info(ctx, "stats").Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
			u.RedisCmds, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if data, err := s.rdb.Get(ctx, "node:{local-1}").Bytes(); err == nil {
		var n events.NodeInfo
		if json.Unmarshal(data, &n) == nil {
			u.CommandLag, u.HealthySince = n.Load.CommandLagMs, n.HealthySince
		}
	}
	return u
}

// procStat is a process's CPU (user + system) and resident memory (MB).
func procStat(pid int) (time.Duration, float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 22 {
		return 0, 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	const hz = 100 // USER_HZ
	return time.Duration(ut+st) * time.Second / hz, float64(pages*int64(os.Getpagesize())) / (1 << 20)
}

// LogCount is how many lines of the stack's log contain substr.
func (s *Stack) LogCount(substr string) int {
	data, _ := os.ReadFile(s.logPath)
	return bytes.Count(data, []byte(substr))
}
