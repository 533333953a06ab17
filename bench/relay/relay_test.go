package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// The relay re-runs its own binary as the child; under go test that is
// the test binary, so TestMain plays the child when asked to.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-role" && os.Args[2] == "relay" {
		relay(len(os.Args) < 4 || os.Args[3] != "-raw=false")
		return
	}
	os.Exit(m.Run())
}

// TestRelayForwardsEveryCopy runs one short window of each room shape,
// for both send paths: each copy must reach its listener's socket (and a
// mesh participant's own packets must not come back) and the relay must have reported its CPU at both edges of
// the window (run fails otherwise). The CPU figure itself is not checked: a
// second of this little traffic is under one clock tick of /proc accounting.
func TestRelayForwardsEveryCopy(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("needs taskset (util-linux)")
	}
	for _, c := range []struct {
		rm   room
		want float64 // copies a second
	}{
		// 0.5 Mbit/s at 30 frames a second is 2 packets a frame: 60 a
		// second, to each of 3 subscribers.
		{fanout(3), 180},
		// 3 participants: 60 camera and 50 microphone packets a second
		// each, to 2 others.
		{room{senders: 3, listeners: 3, mesh: true, audio: true}, 660},
	} {
		for _, raw := range []bool{true, false} {
			r, err := run(c.rm, 0.5, time.Second, raw)
			if err != nil {
				t.Fatalf("%s raw=%v: %v", c.rm, raw, err)
			}
			if r.copiesPerSec < 0.7*c.want || r.copiesPerSec > 1.2*c.want {
				t.Errorf("%s raw=%v: %.0f copies/s, want about %.0f", c.rm, raw, r.copiesPerSec, c.want)
			}
			// What arrived, not what was due: a mesh whose participants got
			// their own packets back would read 1.5× the copies.
			if r.arrivedPerSec < 0.7*c.want || r.arrivedPerSec > 1.2*c.want {
				t.Errorf("%s raw=%v: %.0f copies/s arrived, want about %.0f", c.rm, raw, r.arrivedPerSec, c.want)
			}
			if r.lossPct > 5 {
				t.Errorf("%s raw=%v: %.1f %% of copies lost on loopback", c.rm, raw, r.lossPct)
			}
		}
	}
}
