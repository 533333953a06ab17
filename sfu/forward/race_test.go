//go:build race

package forward

// raceEnabled: the race detector allocates (and sync.Pool drops items) on
// its own, so allocation counts mean nothing under it.
const raceEnabled = true
