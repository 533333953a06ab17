package state

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

// A room's log (keys.go) is how its changes reach the people in it: the
// scripts append each change as they make it, and the room's node reads
// what is new and pushes it in batches. A node that dies loses nothing: the
// log is in Redis, and the participants joining the room's next node get a
// snapshot at a log position and the log after it.

// logCap bounds a room's log. The node reads it at least every second, so
// only a node behind by this many changes loses any; its clients then see
// a seq gap and resync.
const logCap = 2000

// LogID is a position in a room's log: a Redis stream id, ms-seq.
type LogID struct{ MS, Seq uint64 }

// ParseLogID reads a stream id; "" is the start of the log.
func ParseLogID(s string) (LogID, error) {
	if s == "" {
		return LogID{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return LogID{}, fmt.Errorf("state: bad log id %q", s)
	}
	return LogID{ms, seq}, nil
}

func (l LogID) String() string {
	return strconv.FormatUint(l.MS, 10) + "-" + strconv.FormatUint(l.Seq, 10)
}

// After reports whether l comes after m in the log.
func (l LogID) After(m LogID) bool { return l.MS > m.MS || (l.MS == m.MS && l.Seq > m.Seq) }

// LogEntry is one change of a room's log.
type LogEntry struct {
	ID LogID
	// Event is the change; nil for an entry that does not decode (then
	// Change is nil too, and the entry is only a position).
	Event events.Event
	// Change is Event's JSON as the server sends it (encoding/json's, which
	// PROTOCOL.md's byte counts are in; the scripts' cjson differs).
	Change []byte
}

// ReadLog returns up to count entries of code's log after the position
// after, oldest first.
func (s *Store) ReadLog(ctx context.Context, code events.RoomCode, after LogID, count int64) ([]LogEntry, error) {
	start := "-"
	if after != (LogID{}) {
		start = "(" + after.String()
	}
	msgs, err := s.rdb.XRangeN(ctx, logKey(code), start, "+", count).Result()
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("state: log of %s: %w", code, err)
	}
	out := make([]LogEntry, 0, len(msgs))
	for _, m := range msgs {
		id, err := ParseLogID(m.ID)
		if err != nil {
			return nil, err
		}
		raw, _ := m.Values["e"].(string)
		e := LogEntry{ID: id}
		if ev, err := events.DecodeChange([]byte(raw)); err == nil {
			e.Event = ev
			e.Change, _ = events.Marshal(ev)
		}
		out = append(out, e)
	}
	return out, nil
}
