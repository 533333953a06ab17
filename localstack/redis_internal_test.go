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
	if err := r.client.Set(ctx, "k", "v", 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.client.Exists(ctx, "k").Result(); n != 1 {
		t.Fatalf("key missing at once")
	}
	time.Sleep(250 * time.Millisecond)
	if n, _ := r.client.Exists(ctx, "k").Result(); n != 0 {
		t.Errorf("key still there after its TTL")
	}
}
