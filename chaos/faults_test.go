package chaos

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
)

// The fault suite: each fault once, on real processes. What a fault costs is
// a figure for `make chaos` (logged here); the test fails on what must
// never happen: a participant who never gets media back, presence lost, a
// node that exits, a room served by two nodes, a meeting that cannot be
// controlled or rejoined.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite: real processes")
	}
	for _, f := range Faults {
		t.Run(strings.ReplaceAll(f.Name, " ", "_"), func(t *testing.T) {
			r := Run(t, f)
			t.Logf("%s: media back %s, %s %s, participants lost %d, presence lost %d (%d resyncs)",
				f.Name, r.MediaBack.Round(time.Millisecond), f.Back, r.Back.Round(time.Millisecond), r.Lost, r.PresenceLost, r.Gaps)
			if len(r.Problems) > 0 {
				t.Errorf("problems: %v", r.Problems)
			}
			if r.Lost > 0 || r.PresenceLost > 0 {
				t.Errorf("lost %d participants and %d presence entries", r.Lost, r.PresenceLost)
			}
		})
	}
}

// An sfu that cannot sign its pushes refuses to start, and so fails its
// health check, instead of registering and answering nobody.
func TestFaultSFUWithoutCredentialsRefusesToStart(t *testing.T) {
	c := NewCluster(t, 0)
	home := t.TempDir()
	env := []string{"REDIS_URL=redis://" + c.Proxy.Addr, "SFU_NODE_ID=nocreds", "VEET_REGION=local",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=", "HOME=" + home,
		"AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONTAINER_CREDENTIALS_FULL_URI=", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="}
	port := "0"
	p := c.RunNode("nocreds", env, "-public-ip", "127.0.0.1", "-udp-port", "0", "-tcp-port", "0", "-http-port", port)
	if !p.wait(30 * time.Second) {
		t.Fatalf("an sfu without credentials kept running:\n%s", p.tail())
	}
	if p.err == nil {
		t.Fatalf("an sfu without credentials exited 0:\n%s", p.tail())
	}
	if !strings.Contains(p.tail(), "no AWS credentials") {
		t.Errorf("its message does not say why:\n%s", p.tail())
	}
	if n, _ := c.state.Node(t.Context(), events.NodeID("nocreds")); n != nil {
		t.Errorf("it registered: %+v", n)
	}
	// The ECS health check of such a task fails.
	hc := c.RunNode("probe", os.Environ(), "-healthcheck", "-http-port", "1")
	if !hc.wait(10*time.Second) || hc.err == nil {
		t.Error("the health check passed with no node serving")
	}
}
