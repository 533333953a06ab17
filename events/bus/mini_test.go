package bus

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The local stack runs on miniredis by default.
func TestMiniredisBus(t *testing.T) {
	m := miniredis.RunT(t)
	b := New(redis.NewClient(&redis.Options{Addr: m.Addr()}), nil)
	for i := range 5 {
		if err := b.Send(context.Background(), "n1", cmd(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, b, "n1", 5, nil)
	for i, c := range got {
		if c.RequestID != string(rune('0'+i)) {
			t.Fatalf("order: %v", got)
		}
	}
}
