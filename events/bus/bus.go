// Package bus is the per-node command channel: one Redis Stream per SFU node,
// read through a consumer group so that a command stays pending until the
// node has handled it.
//
// Delivery is at-least-once and in order per node:
//   - Send returns an error when the command was not appended; nothing is
//     dropped silently on the sending side.
//   - Consume acknowledges a command only after its handler returned. A node
//     that dies (or whose context ends) mid-command gets it again, first, the
//     next time it consumes. (A node's handler may queue work and return;
//     what it queued dies with it, and its rooms move anyway.)
//   - Redis being unreachable stops nothing: Consume waits and resumes.
//   - A handler error is logged with the command and then acknowledged: the
//     command was looked at and refused, and redelivering it would only loop a
//     poison command forever and block every command behind it. The handler
//     owns telling the client (an error event) when a refusal matters to them.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

const (
	// group is the stream's consumer group; one node process consumes its own
	// stream, under the consumer name of its node id.
	group = "sfu"
	// maxLen caps a stream (approximately, so trimming stays O(1)). Commands are
	// handled in milliseconds; 10,000 unread ones mean the node is dead, and a
	// media command that old is worthless anyway.
	maxLen = 10_000
	// streamTTL forgets the stream of a node that went away for good.
	streamTTL = 24 * time.Hour
	// block bounds one XREADGROUP, and so how long Consume takes to notice
	// that its context ended (go-redis does not interrupt a blocked read on
	// cancel). Half a second keeps node stops quick; two idle reads a second
	// per node cost Redis nothing measurable.
	block = 500 * time.Millisecond
	batch = 32
	field = "c"
)

// Bus sends commands to nodes and consumes a node's own commands.
type Bus struct {
	rdb redis.UniversalClient
	log *slog.Logger
}

// New returns a Bus over rdb; log may be nil.
func New(rdb redis.UniversalClient, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	return &Bus{rdb: rdb, log: log}
}

// StreamKey is the node's stream; the hash tag keeps it in the node's slot.
func StreamKey(node events.NodeID) string { return "node:{" + string(node) + "}:cmds" }

// Send appends cmd to node's stream. An error means the command was not queued.
func (b *Bus) Send(ctx context.Context, node events.NodeID, cmd events.Command) error {
	if node == "" {
		return errors.New("bus: send to an empty node id")
	}
	if cmd.SentAt == 0 {
		cmd.SentAt = time.Now().UnixMilli()
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("bus: marshal %s: %w", cmd.Type, err)
	}
	key := StreamKey(node)
	_, err = b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: maxLen, Approx: true, Values: []any{field, data}})
		p.Expire(ctx, key, streamTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("bus: send %s to %s: %w", cmd.Type, node, err)
	}
	return nil
}

// Consume delivers node's commands in order until ctx ends; a command is
// acknowledged only after handle returns (a crash re-delivers it on restart).
// Redis being unreachable never ends it, however long: it retries with a
// capped backoff and picks up where it was (re-creating the stream's group
// if Redis lost it). It returns ctx's error.
func (b *Bus) Consume(ctx context.Context, node events.NodeID, handle func(context.Context, events.Command) error) error {
	key := StreamKey(node)
	failures := 0
	// retry logs the first failure of a run and every 50th, and waits.
	retry := func(what string, err error) {
		failures++
		if failures == 1 || failures%50 == 0 {
			b.log.Warn("bus: "+what+" failed; retrying", "node", node, "failures", failures, "err", err)
		}
		sleep(ctx, min(time.Duration(failures)*100*time.Millisecond, time.Second))
	}
	ready := false
	start := "0"
	for ctx.Err() == nil {
		if !ready {
			// First what an earlier life of this node read but never
			// acknowledged, then new commands.
			if err := b.ensureGroup(ctx, key); err != nil {
				retry("create group", err)
				continue
			}
			if err := b.claimOrphans(ctx, key, string(node)); err != nil {
				retry("claim pending", err)
				continue
			}
			ready, start = true, "0"
		}
		res, err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: string(node), Streams: []string{key, start},
			Count: batch, Block: block,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && strings.HasPrefix(err.Error(), "NOGROUP"):
			// The stream expired while the node was idle, or Redis lost it:
			// start it again.
			ready = false
			continue
		case err != nil:
			retry("read", err)
			continue
		}
		if failures > 0 {
			b.log.Info("bus: reading again", "node", node, "after_failures", failures)
			failures = 0
		}
		var msgs []redis.XMessage
		if len(res) > 0 {
			msgs = res[0].Messages
		}
		if start == "0" && len(msgs) == 0 {
			start = ">" // own pending list drained
			continue
		}
		for _, m := range msgs {
			if err := b.deliver(ctx, key, node, m, handle); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// A lost ack: the command may come again after a restart,
				// which a node tolerates (commands are idempotent).
				retry("ack", err)
			}
		}
	}
	return ctx.Err()
}

// deliver runs handle for one message and acknowledges it unless ctx ended
// first (then the command stays pending for the next consumer).
func (b *Bus) deliver(ctx context.Context, key string, node events.NodeID, m redis.XMessage, handle func(context.Context, events.Command) error) error {
	raw, _ := m.Values[field].(string)
	cmd, err := events.DecodeCommand([]byte(raw))
	if err != nil {
		b.log.Error("bus: undecodable command dropped", "node", node, "id", m.ID, "err", err, "data", truncate(raw, 256))
	} else if err := handle(ctx, cmd); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.log.Error("bus: command failed; acknowledged so it does not loop", "node", node, "id", m.ID,
			"type", cmd.Type, "room", cmd.Room, "participant", cmd.Participant, "err", err)
	}
	// Ack with a fresh context: once handled, the ack must not be lost to the
	// caller's context ending a moment later.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := b.rdb.XAck(actx, key, group, m.ID).Err(); err != nil {
		return fmt.Errorf("bus: ack %s %s: %w", key, m.ID, err)
	}
	return nil
}

func (b *Bus) ensureGroup(ctx context.Context, key string) error {
	// "0": commands sent before the node's first read are delivered too.
	err := b.rdb.XGroupCreateMkStream(ctx, key, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("bus: create group on %s: %w", key, err)
	}
	return nil
}

// claimOrphans moves entries pending under any other consumer name to this
// one, so they are re-read (in stream order) with this consumer's own pending
// list. Only one process consumes a node's stream, so nothing is stolen from
// a live consumer.
func (b *Bus) claimOrphans(ctx context.Context, key, consumer string) error {
	cursor := "0-0"
	for range 1000 {
		_, next, err := b.rdb.XAutoClaimJustID(ctx, &redis.XAutoClaimArgs{
			Stream: key, Group: group, Consumer: consumer, MinIdle: 0, Start: cursor, Count: 100,
		}).Result()
		if err != nil {
			return fmt.Errorf("bus: claim pending on %s: %w", key, err)
		}
		if next == "0-0" || next == "" {
			return nil
		}
		cursor = next
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
