package localstack

import (
	"context"
	"testing"
	"time"
)

// TestEmbeddedRedisExpiresKeys: the embedded server's TTLs run on the wall
// clock (miniredis freezes them unless told otherwise), so connection and
// room keys expire locally as they would in Redis.
func TestEmbeddedRedisExpiresKeys(t *testing.T) {
	ctx := context.Background()
	r, err := openRedis(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	set := time.Now()
	if err := r.client.Set(ctx, "k", "v", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.client.Exists(ctx, "k").Result(); n != 1 && time.Since(set) < 300*time.Millisecond {
		t.Fatalf("key missing at once")
	}
	// Poll: with frozen TTLs the key would stay for ever.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := r.client.Exists(ctx, "k").Result()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key still there %s after its 300 ms TTL", time.Since(set).Round(time.Millisecond))
		}
	}
	if el := time.Since(set); el < 300*time.Millisecond {
		t.Errorf("key gone after %s, before its TTL", el)
	}
}
