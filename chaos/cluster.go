// Package chaos is veet's fault suite: the real pieces as separate processes
// (one redis-server behind a proxy that can cut it, the local stack with no
// SFU nodes of its own, several `sfu` binaries) and participants driven
// through the WebSocket signaling the way the SPA drives it (internal/peer,
// real pion media), with a fault injected — a node killed, stopped, drained,
// Redis cut off or emptied, the stack restarted — and what it cost measured:
// how long until everyone receives everyone again, who was lost, what
// presence was lost. `go test ./chaos` runs each fault once and checks the
// outcome; `make chaos` runs each several times and prints the table.
package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/testenv"
	"github.com/veet-dev/veet/internal/token"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds veet-local and sfu once per test process.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "veet-chaos-bin-")
		if buildErr != nil {
			return
		}
		for name, pkg := range map[string]string{"veet-local": "../localstack/cmd/veet-local", "sfu": "../sfu/cmd/sfu"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// proc is one process of the cluster, its output kept in a file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// exited reports whether the process ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// tail is the end of the process's output, for failure messages.
func (p *proc) tail() string {
	data, _ := os.ReadFile(p.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// Cluster is one region of veet as separate processes.
type Cluster struct {
	t      testing.TB
	dir    string
	Redis  *testenv.Redis
	Proxy  *testenv.Proxy // everyone reaches Redis through it
	rdb    *redis.Client  // straight to Redis, for the harness's own looks
	state  *state.Store
	key    []byte
	tokens *token.Signer
	stack  *proc
	URL    string
	WSURL  string
	addr   string
	nodes  map[events.NodeID]*sfuProc
	count  int
}

type sfuProc struct {
	*proc
	id   events.NodeID
	http int
	// expectedExit: the fault stops this node on purpose.
	expectedExit bool
}

// NewCluster starts redis-server (behind a proxy), the local stack with no
// nodes of its own, and n sfu processes, and waits until all serve.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := binaries(t)
	c := &Cluster{t: t, dir: t.TempDir(), nodes: map[events.NodeID]*sfuProc{}}
	c.Redis = testenv.StartRedis(t)
	c.Proxy = testenv.StartProxy(t, c.Redis.Addr)
	c.rdb = c.Redis.Client(t)
	c.state = state.New(c.rdb)
	c.key = []byte("chaos-token-key-0123456789abcdef")
	var err error
	if c.tokens, err = token.New(c.key); err != nil {
		t.Fatal(err)
	}
	c.addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	c.startStack(bin)
	for range n {
		c.AddNode()
	}
	t.Cleanup(c.stop)
	return c
}

var runningLine = regexp.MustCompile(`^veet is running: open (http://[0-9.:]+)/$`)

func (c *Cluster) startStack(bin string) {
	c.t.Helper()
	p := c.start("veet-local", filepath.Join(bin, "veet-local"), nil,
		"-addr", c.addr, "-nodes", "0", "-redis", "redis://"+c.Proxy.Addr, "-token-key", hex.EncodeToString(c.key))
	c.stack = p
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(p.log + ".out")
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if m := runningLine.FindStringSubmatch(sc.Text()); m != nil {
				c.URL = m[1]
				c.WSURL = "ws" + c.URL[len("http"):] + "/ws"
				return
			}
		}
		if p.exited() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("veet-local did not start:\n%s", p.tail())
}

// RestartStack kills the local stack (SIGKILL) and starts it again on the
// same address with the same token key.
func (c *Cluster) RestartStack() {
	c.t.Helper()
	c.stack.signal(syscall.SIGKILL)
	c.stack.wait(10 * time.Second)
	c.startStack(binaries(c.t))
}

// start runs a process with its output in a file of the cluster's dir.
func (c *Cluster) start(name, bin string, env []string, args ...string) *proc {
	c.t.Helper()
	c.count++
	logPath := filepath.Join(c.dir, fmt.Sprintf("%02d-%s.log", c.count, name))
	logf, err := os.Create(logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	outf, err := os.Create(logPath + ".out")
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = outf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		outf.Close()
		close(p.done)
	}()
	return p
}

// nodeEnv is what an sfu process needs to join the cluster; a test may
// take the credentials away.
func (c *Cluster) nodeEnv(id events.NodeID) []string {
	return []string{"REDIS_URL=redis://" + c.Proxy.Addr, "SFU_NODE_ID=" + string(id), "VEET_REGION=local",
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1", "LOG_LEVEL=info"}
}

// AddNode starts one more sfu process and waits until it is registered.
func (c *Cluster) AddNode() *sfuProc {
	c.t.Helper()
	id := events.NodeID(fmt.Sprintf("node-%d", len(c.nodes)+1))
	port := testenv.FreePort(c.t)
	p := c.start(string(id), filepath.Join(binaries(c.t), "sfu"), c.nodeEnv(id),
		"-public-ip", "127.0.0.1", "-udp-port", "0", "-tcp-port", "0", "-http-port", strconv.Itoa(port), "-drain-timeout", "30s")
	sp := &sfuProc{proc: p, id: id, http: port}
	c.nodes[id] = sp
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := c.state.Node(context.Background(), id); n != nil {
			return sp
		}
		if p.exited() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("sfu %s did not register:\n%s", id, p.tail())
	return nil
}

// RunNode runs an sfu process with env as given (not waiting for it), for
// tests of how it refuses to start.
func (c *Cluster) RunNode(id events.NodeID, env []string, args ...string) *proc {
	c.t.Helper()
	return c.start(string(id), filepath.Join(binaries(c.t), "sfu"), env, args...)
}

// Node returns the sfu process of id.
func (c *Cluster) Node(id events.NodeID) *sfuProc { return c.nodes[id] }

// Rooms is how many rooms a node says it serves (its /metrics).
func (n *sfuProc) Rooms() (int, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", n.http))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var info events.NodeInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil {
		return 0, err
	}
	return info.Load.Rooms, nil
}

// Placement is where Redis has a room's media now.
func (c *Cluster) Placement(code events.RoomCode) state.RoomPlacement {
	p, err := c.state.Placements(context.Background(), []events.RoomCode{code})
	if err != nil {
		return state.RoomPlacement{}
	}
	return p[code]
}

// Token mints a token for a new participant of code with role.
func (c *Cluster) Token(code events.RoomCode, role events.Role) string {
	tok, err := c.tokens.Sign(token.Claims{Room: code, Participant: events.NewParticipantID(), Role: role}, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// Logs is the tail of every process's output, for a failing test.
func (c *Cluster) Logs() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "--- veet-local\n%s\n", c.stack.tail())
	for id, n := range c.nodes {
		fmt.Fprintf(&b, "--- %s (exited %v)\n%s\n", id, n.exited(), n.tail())
	}
	return b.String()
}

func (c *Cluster) stop() {
	for _, n := range c.nodes {
		n.signal(syscall.SIGKILL)
	}
	c.stack.signal(syscall.SIGKILL)
	for _, n := range c.nodes {
		n.wait(5 * time.Second)
	}
	c.stack.wait(5 * time.Second)
}
