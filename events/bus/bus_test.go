package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/testenv"
)

func cmd(i int) events.Command {
	return events.Command{Type: events.CmdLeave, Room: "abc-defg-hij", Participant: "p_000000000000", RequestID: fmt.Sprint(i)}
}

// collect consumes until n commands arrived or the deadline passed.
func collect(t *testing.T, b *Bus, node events.NodeID, n int, handle func(events.Command) error) []events.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []events.Command
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(ctx, node, func(_ context.Context, c events.Command) error {
			mu.Lock()
			got = append(got, c)
			if len(got) == n {
				cancel()
			}
			mu.Unlock()
			if handle != nil {
				return handle(c)
			}
			return nil
		})
	}()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume returned %v, want context.Canceled (got %d of %d commands)", err, len(got), n)
	}
	return got
}

func TestRedisBusOrderAndAck(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	b := New(rdb, nil)
	ctx := context.Background()
	for i := range 50 {
		if err := b.Send(ctx, "n1", cmd(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, b, "n1", 50, nil)
	for i, c := range got {
		if c.RequestID != fmt.Sprint(i) {
			t.Fatalf("command %d has request id %s: out of order", i, c.RequestID)
		}
		if c.SentAt == 0 {
			t.Fatalf("SentAt not stamped")
		}
	}
	// Everything was acknowledged: nothing pending.
	p, err := rdb.XPending(ctx, StreamKey("n1"), group).Result()
	if err != nil || p.Count != 0 {
		t.Fatalf("pending after handling: %+v %v", p, err)
	}
	// Another node's stream is untouched.
	if n, _ := rdb.XLen(ctx, StreamKey("n2")).Result(); n != 0 {
		t.Fatalf("n2 has %d commands", n)
	}
}

func TestRedisBusRedeliversAfterConsumerDies(t *testing.T) {
	r := testenv.StartRedis(t)
	b := New(r.Client(t), nil)
	ctx := context.Background()
	for i := range 3 {
		if err := b.Send(ctx, "n1", cmd(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The first consumer handles command 0, then "dies" while handling 1: its
	// context ends before the handler returns.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(cctx, "n1", func(hctx context.Context, c events.Command) error {
			if c.RequestID == "1" {
				cancel()
				<-hctx.Done()
				return hctx.Err()
			}
			return nil
		})
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("first consumer: %v", err)
	}
	// A new consumer (the restarted node) gets 1 and 2, in order, and not 0.
	got := collect(t, New(r.Client(t), nil), "n1", 2, nil)
	if got[0].RequestID != "1" || got[1].RequestID != "2" {
		t.Fatalf("redelivered %s,%s; want 1,2", got[0].RequestID, got[1].RequestID)
	}
}

func TestRedisBusPoisonCommandIsAckedNotLooped(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	b := New(rdb, nil)
	ctx := context.Background()
	_ = b.Send(ctx, "n1", cmd(0))
	_ = b.Send(ctx, "n1", cmd(1))
	calls := 0
	got := collect(t, b, "n1", 2, func(c events.Command) error {
		calls++
		if c.RequestID == "0" {
			return errors.New("refused")
		}
		return nil
	})
	if calls != 2 || got[1].RequestID != "1" {
		t.Fatalf("calls=%d got=%v", calls, got)
	}
	if p, _ := rdb.XPending(ctx, StreamKey("n1"), group).Result(); p.Count != 0 {
		t.Fatalf("%d pending", p.Count)
	}
}

func TestRedisBusConcurrentSenders(t *testing.T) {
	r := testenv.StartRedis(t)
	b := New(r.Client(t), nil)
	const senders, each = 8, 25
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := b.Send(context.Background(), "n1", cmd(s*1000+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got := collect(t, b, "n1", senders*each, nil)
	seen := map[string]bool{}
	last := map[int]int{}
	for _, c := range got {
		if seen[c.RequestID] {
			t.Fatalf("duplicate %s", c.RequestID)
		}
		seen[c.RequestID] = true
		var v int
		fmt.Sscan(c.RequestID, &v)
		// Each sender's commands arrive in the order it sent them.
		if prev, ok := last[v/1000]; ok && v%1000 <= prev {
			t.Fatalf("sender %d out of order: %d after %d", v/1000, v%1000, prev)
		}
		last[v/1000] = v % 1000
	}
	if len(seen) != senders*each {
		t.Fatalf("got %d distinct commands, want %d", len(seen), senders*each)
	}
}

func TestRedisBusSendFailsLoudly(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := r.Client(t)
	b := New(rdb, nil)
	_ = rdb.Close()
	if err := b.Send(context.Background(), "n1", cmd(0)); err == nil {
		t.Fatal("Send on a closed client returned nil")
	}
}
