package localstack_test

import (
	"testing"
	"time"

	"github.com/veet-dev/veet/localstack"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// BenchmarkStackPingRoundTrip is the signaling round trip a client sees:
// WebSocket frame → gateway → ping handler (rate limit and TTL refresh in
// Redis) → push through the AWS SDK to @connections → frame back. Messages
// are paced under the per-connection rate limit by using a fresh socket
// every 30 pings.
func BenchmarkStackPingRoundTrip(b *testing.B) {
	s := startStackB(b)
	var c *wsclient.Client
	b.ResetTimer()
	for i := range b.N {
		if i%30 == 0 {
			b.StopTimer()
			if c != nil {
				c.Close()
			}
			c = wsclient.Dial(b, s.WSURL(), wsclient.Options{})
			b.StartTimer()
		}
		id, err := c.Send("ping", nil)
		if err != nil {
			b.Fatal(err)
		}
		if e, ok := c.Next(func(e wsclient.Event) bool { return e.ID == id }, 5*time.Second); !ok || e.Type != "pong" {
			b.Fatalf("ping %d: %v %s", i, ok, e)
		}
	}
}

// BenchmarkStackCreateAndJoin is a host's path into a new meeting: create,
// then join with the host token (room placed on an SFU node, node told).
func BenchmarkStackCreateAndJoin(b *testing.B) {
	s := startStackB(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		c := wsclient.Dial(b, s.WSURL(), wsclient.Options{})
		b.StartTimer()
		e := c.WaitReply(b, c.MustSend(b, "create", nil))
		var created struct{ Code, HostToken string }
		_ = e.Decode(&created)
		j := c.WaitReply(b, c.MustSend(b, "join", map[string]any{"code": created.Code, "name": "host", "token": created.HostToken}))
		if j.Type != "joined" {
			b.Fatalf("join: %s", j)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

func startStackB(b *testing.B) *localstack.Stack {
	return startStack(b, localstack.Options{Nodes: 1})
}
