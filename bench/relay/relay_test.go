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

// TestRelayForwardsEveryCopy runs one short window with three subscribers,
// for both send paths: each copy must reach its subscriber's socket and the
// relay must have reported its CPU at both edges of the window (run fails
// otherwise). The CPU figure itself is not checked: a second of this
// little traffic is under one clock tick of /proc accounting.
func TestRelayForwardsEveryCopy(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("needs taskset (util-linux)")
	}
	for _, raw := range []bool{true, false} {
		r, err := run(3, 0.5, time.Second, raw)
		if err != nil {
			t.Fatalf("raw=%v: %v", raw, err)
		}
		// 0.5 Mbit/s of 1200-byte packets is 52 a second: 156 copies/s.
		if r.copiesPerSec < 100 || r.copiesPerSec > 200 {
			t.Errorf("raw=%v: %.0f copies/s, want about 156", raw, r.copiesPerSec)
		}
		if r.lossPct > 5 {
			t.Errorf("raw=%v: %.1f %% of copies lost on loopback", raw, r.lossPct)
		}
	}
}
