package localstack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// TestStackFloodIsShed: a participant sends 1,000 pings as fast as the
// socket takes them. What its bucket holds is answered, one refusal is
// answered, then the flood is shed: one "flooding" error, the socket closed
// with 1000 (what @connections DELETE gives on AWS), its backlog dropped.
// The others see it leave, and nothing else; their pings keep working.
func TestStackFloodIsShed(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1})
	host, code := createMeeting(t, s, "host")
	fl := admitGuest(t, s, host, code, "flooder")
	host.WaitFor(t, "participant_joined")

	const n = 1000
	for i := range n {
		if _, err := fl.Send("ping", map[string]any{"id": "f" + itoa(i)}); err != nil {
			break // closed under us: the rest was not going to be read
		}
	}
	if code := fl.WaitClosed(t); code != 1000 {
		t.Fatalf("flooder closed with %d, want 1000", code)
	}
	count := map[string]int{}
	for _, e := range fl.All() {
		if strings.HasPrefix(e.ID, "f") {
			k := e.Type
			if e.Type == "error" {
				k = e.Code
			}
			count[k]++
		}
	}
	if count["pong"] > 40 || count["pong"] < 30 || count["rate_limited"] != 1 || count["flooding"] != 1 || len(count) != 3 {
		t.Fatalf("answers to the flood: %v", count)
	}
	left := host.WaitFor(t, "participant_left")
	var pl struct{ ParticipantID, Reason string }
	_ = left.Decode(&pl)
	if pl.ParticipantID != string(fl.id) || pl.Reason != "disconnected" {
		t.Fatalf("host saw %s", left)
	}
	if e, ok := host.Next(func(e wsclient.Event) bool { return e.Seq > 0 }, 300*time.Millisecond); ok {
		t.Errorf("host got another presence event: %s", e)
	}
	// The stack is idle at once: nothing of the flood is left to handle.
	deadline := time.Now().Add(2 * time.Second)
	for s.Gateway().Backlog() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b := s.Gateway().Backlog(); b != 0 {
		t.Fatalf("backlog %d two seconds after the flood", b)
	}
	if r := host.WaitReply(t, host.MustSend(t, "ping", nil)); r.Type != "pong" {
		t.Fatalf("host's ping: %s", r)
	}
}
