package main

import (
	"testing"
	"time"
)

func TestDurationEnv(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 7 * time.Second, "off": 0, "0": 0, "45s": 45 * time.Second, "2h": 2 * time.Hour} {
		t.Setenv("SFU_TEST_DURATION", v)
		if got, err := durationEnv("SFU_TEST_DURATION", 7*time.Second); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, err, want)
		}
	}
	for _, bad := range []string{"30", "soon", "-1s"} {
		t.Setenv("SFU_TEST_DURATION", bad)
		if _, err := durationEnv("SFU_TEST_DURATION", 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
