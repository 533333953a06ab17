package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

const (
	// ConnTTL outlives API Gateway's 2 h connection limit; ping refreshes it,
	// so a connection whose $disconnect never came is forgotten anyway.
	ConnTTL = 3 * time.Hour
	// RatePerSecond and RateBurst bound each connection's messages: a browser
	// sends a burst of ICE candidates and presence updates when it joins
	// (well under 40), then a few per minute; a script or a stuck loop is cut
	// off at 20 per second.
	RatePerSecond = 20
	RateBurst     = 40
)

// Conn is what the state knows of one WebSocket connection.
type Conn struct {
	ID       events.ConnectionID
	Endpoint string
	// Token is the token given at $connect (query string), "" for guests.
	Token string
	// Room and Participant are set once the connection joined or knocked.
	Room        events.RoomCode
	Participant events.ParticipantID
}

// Ref is where to push to the connection.
func (c *Conn) Ref() events.ConnRef {
	return events.ConnRef{ConnectionID: c.ID, Endpoint: c.Endpoint}
}

// PutConn records a new connection ($connect).
func (s *Store) PutConn(ctx context.Context, c Conn) error {
	k := connKey(c.ID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "endpoint", c.Endpoint, "token", c.Token, "room", string(c.Room), "participant", string(c.Participant))
		p.Expire(ctx, k, ConnTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: put conn %s: %w", c.ID, err)
	}
	return nil
}

// GetConn returns a connection, or nil when it is unknown (never connected
// through $connect, or expired).
func (s *Store) GetConn(ctx context.Context, id events.ConnectionID) (*Conn, error) {
	m, err := s.rdb.HGetAll(ctx, connKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("state: conn %s: %w", id, err)
	}
	return connFrom(id, m), nil
}

// connFrom is the Conn a conn:{id} hash holds, nil for an empty one.
func connFrom(id events.ConnectionID, m map[string]string) *Conn {
	if len(m) == 0 {
		return nil
	}
	return &Conn{ID: id, Endpoint: m["endpoint"], Token: m["token"],
		Room: events.RoomCode(m["room"]), Participant: events.ParticipantID(m["participant"])}
}

// BindConn records which room and participant a connection now speaks for.
func (s *Store) BindConn(ctx context.Context, id events.ConnectionID, room events.RoomCode, pid events.ParticipantID) error {
	k := connKey(id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "room", string(room), "participant", string(pid))
		p.Expire(ctx, k, ConnTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: bind conn %s: %w", id, err)
	}
	return nil
}

// DeleteConn forgets a connection.
func (s *Store) DeleteConn(ctx context.Context, id events.ConnectionID) error {
	return s.rdb.Del(ctx, connKey(id), rateKey(id)).Err()
}

// Touch refreshes a connection's TTL and its room's (ping).
func (s *Store) Touch(ctx context.Context, id events.ConnectionID, room events.RoomCode) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Expire(ctx, connKey(id), ConnTTL)
		if room != "" {
			for _, k := range roomKeys(room) {
				p.Expire(ctx, k, RoomTTL)
			}
		}
		return nil
	})
	return err
}

// Allow takes one message from the connection's token bucket; when it is
// empty it answers false and how long until the next message is allowed.
func (s *Store) Allow(ctx context.Context, id events.ConnectionID) (bool, time.Duration, error) {
	_, ok, retry, err := s.inboundAt(ctx, id, time.Now())
	return ok, retry, err
}

// Inbound is Allow and GetConn in one round trip: every client message needs
// both before its action runs.
func (s *Store) Inbound(ctx context.Context, id events.ConnectionID) (conn *Conn, allowed bool, retry time.Duration, err error) {
	return s.inboundAt(ctx, id, time.Now())
}

// inboundAt is Inbound at the clock reading now (tests pin it).
func (s *Store) inboundAt(ctx context.Context, id events.ConnectionID, now time.Time) (*Conn, bool, time.Duration, error) {
	v, err := rateScript.Run(ctx, s.rdb, []string{rateKey(id), connKey(id)}, now.UnixMilli(), RatePerSecond, RateBurst).Slice()
	if err != nil {
		return nil, false, 0, fmt.Errorf("state: rate %s: %w", id, err)
	}
	if len(v) != 3 {
		return nil, false, 0, errors.New("state: rate: bad script answer")
	}
	ok, _ := v[0].(int64)
	retry, _ := v[1].(int64)
	kv, _ := v[2].([]any)
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		m[k], _ = kv[i+1].(string)
	}
	return connFrom(id, m), ok == 1, time.Duration(retry) * time.Millisecond, nil
}

// Seat checks that conn holds pid's seat in room and returns the room's node
// (media signaling goes there) and placement epoch. Two reads of one slot, no
// script: a seat lost a moment later only means the node gets a message for a
// participant it already dropped, which it refuses.
func (s *Store) Seat(ctx context.Context, room events.RoomCode, pid events.ParticipantID, conn events.ConnectionID) (events.NodeID, uint64, error) {
	var held *redis.StringCmd
	var r *redis.SliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		held = p.HGet(ctx, connsKey(room), string(pid))
		r = p.HMGet(ctx, roomKey(room), "node", "ended", "epoch")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", 0, fmt.Errorf("state: seat %s: %w", room, err)
	}
	v := r.Val()
	if len(v) == 3 && v[1] == "1" {
		return "", 0, &Refused{Err: events.Errorf(events.CodeEnded, "the meeting is over")}
	}
	ref, ok := connRef(held.Val())
	if !ok || ref.ConnectionID != conn {
		return "", 0, &Refused{Err: events.Errorf(events.CodeNotJoined, "join the meeting first")}
	}
	node, _ := v[0].(string)
	if node == "" {
		return "", 0, &Refused{Err: events.Errorf(events.CodeUnavailable, "the meeting has no media server now; join again")}
	}
	return events.NodeID(node), parseUint(v[2]), nil
}

func parseUint(v any) uint64 {
	s, _ := v.(string)
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}
