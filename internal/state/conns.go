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
	// A connection still refused ShedAfter after its first refusal, or
	// refused ShedCount times, without its bucket having filled up again in
	// between, is a flood: it is closed and what it sends after is dropped.
	// A browser's join burst never comes near; a script that ignores
	// rate_limited is cut off within a fraction of a second at 1,000 msg/s.
	ShedAfter = 2 * time.Second
	ShedCount = 2 * RateBurst
	// closedTTL is how long a closed connection's messages are still
	// recognized and dropped (API Gateway delivers none that late).
	closedTTL = time.Minute
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

// DeleteConn forgets a connection and marks it closed: a message it sent
// that a handler meets only now (API Gateway invokes in no order, and may
// still be delivering a flood's backlog) is dropped, not handled.
func (s *Store) DeleteConn(ctx context.Context, id events.ConnectionID) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, connKey(id))
		p.HSet(ctx, rateKey(id), "closed", 1)
		p.PExpire(ctx, rateKey(id), closedTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: delete conn %s: %w", id, err)
	}
	return nil
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

// Verdict is what the rate limit says of one incoming message.
type Verdict int

const (
	Allowed Verdict = iota
	// Limited: refused; tell the client (rate_limited, retry after).
	Limited
	// LimitedQuiet: refused, and the client was told less than a second
	// ago; dropped without a reply, so a flood costs no reply per message.
	LimitedQuiet
	// Shed: the connection is a flood (ShedAfter, ShedCount): tell it and
	// close it. Answered once; the connection is Closed from then on.
	Shed
	// Closed: the connection was shed, removed or disconnected; drop it.
	Closed
)

// Arrival is the state's answer for one incoming message: the rate limit's
// verdict, how long until the next message would pass, and the connection's
// record (when Allowed, and when Shed so that its seat can be freed; nil
// when it has none).
type Arrival struct {
	Verdict    Verdict
	RetryAfter time.Duration
	Conn       *Conn
}

// Allow takes one message from the connection's token bucket; when it is
// empty it answers false and how long until the next message is allowed.
func (s *Store) Allow(ctx context.Context, id events.ConnectionID) (bool, time.Duration, error) {
	a, err := s.inboundAt(ctx, id, time.Now())
	return a.Verdict == Allowed, a.RetryAfter, err
}

// Inbound is the rate limit and GetConn in one round trip: every client
// message needs both before its action runs. at is when the message arrived
// (API Gateway's requestTimeEpoch; zero = now): the bucket must measure the
// client's pace, not how fast handlers got to its messages, or a flood
// queued behind slow handlers would look like a client within its limit.
func (s *Store) Inbound(ctx context.Context, id events.ConnectionID, at time.Time) (Arrival, error) {
	if at.IsZero() {
		at = time.Now()
	}
	return s.inboundAt(ctx, id, at)
}

// inboundAt is Inbound at the clock reading now (tests pin it).
func (s *Store) inboundAt(ctx context.Context, id events.ConnectionID, now time.Time) (Arrival, error) {
	v, err := rateScript.Run(ctx, s.rdb, []string{rateKey(id), connKey(id)}, now.UnixMilli(),
		RatePerSecond, RateBurst, ShedAfter.Milliseconds(), ShedCount, closedTTL.Milliseconds()).Slice()
	if err != nil {
		return Arrival{}, fmt.Errorf("state: rate %s: %w", id, err)
	}
	if len(v) != 3 {
		return Arrival{}, errors.New("state: rate: bad script answer")
	}
	verdict, _ := v[0].(int64)
	retry, _ := v[1].(int64)
	kv, _ := v[2].([]any)
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		m[k], _ = kv[i+1].(string)
	}
	return Arrival{Verdict: Verdict(verdict), RetryAfter: time.Duration(retry) * time.Millisecond, Conn: connFrom(id, m)}, nil
}

// rateScript is a token bucket per connection, in thousandths of a token so
// that Redis stores integers, with the flood detector of ShedAfter and
// ShedCount. KEYS[1] rate key, KEYS[2] the connection's key (same slot);
// ARGV now (ms), rate (per s), burst, shed after (ms), shed count, closed
// TTL (ms). The rate key's fields: m, ts (the bucket), over (ms of the first
// refusal since the bucket was last full), n (refusals since), told (ms
// until which refusals get no reply), closed. Answers {verdict, retry after
// (ms), the connection's hash when allowed or shed}.
var rateScript = redis.NewScript(`
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]) * 1000
local shedAfter, shedCount = tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('HMGET', KEYS[1], 'm', 'ts', 'over', 'n', 'told', 'closed')
if t[6] then return {4, 0, {}} end
local m, ts = tonumber(t[1]) or burst, tonumber(t[2]) or now
local over, n, told = tonumber(t[3]), tonumber(t[4]) or 0, tonumber(t[5]) or 0
if now > ts then m = math.min(burst, m + (now - ts) * rate) end
if m >= burst then over = nil; n = 0 end
local verdict, retry = 0, 0
if m >= 1000 then
  m = m - 1000
else
  retry = math.ceil((1000 - m) / rate)
  over = over or now
  n = n + 1
  if now - over >= shedAfter or n >= shedCount then verdict = 3
  elseif now < told then verdict = 2
  else verdict = 1; told = now + 1000 end
end
redis.call('HSET', KEYS[1], 'm', math.floor(m), 'ts', math.max(now, ts), 'n', n, 'told', told)
if over then redis.call('HSET', KEYS[1], 'over', over) else redis.call('HDEL', KEYS[1], 'over') end
if verdict == 3 then
  redis.call('HSET', KEYS[1], 'closed', 1)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6]))
  return {3, retry, redis.call('HGETALL', KEYS[2])}
end
redis.call('PEXPIRE', KEYS[1], 60000)
if verdict ~= 0 then return {verdict, retry, {}} end
return {0, 0, redis.call('HGETALL', KEYS[2])}
`)

// Limit is a token bucket: Burst at once, refilled at PerSecond.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Per-source limits. A source is an address (IPv4, or an IPv6 /64), so
// people behind one NAT share it: the bounds are far above what an office
// does and far below what a script does. Issue 11 saw one address create
// 1,148 meetings in 5 s, each kept 24 h; now it gets ten, then one per six
// seconds.
var (
	ConnectLimit = Limit{PerSecond: 10, Burst: 100}
	CreateLimit  = Limit{PerSecond: 1.0 / 6, Burst: 10}
)

// AllowSource takes one from source's bucket for kind ("connect",
// "create"); when it is empty it answers false and how long until the next
// is allowed. An empty source (loopback: the local stack) is not limited.
func (s *Store) AllowSource(ctx context.Context, kind, source string, l Limit) (bool, time.Duration, error) {
	if source == "" {
		return true, 0, nil
	}
	return s.allowSourceAt(ctx, kind, source, l, time.Now())
}

func (s *Store) allowSourceAt(ctx context.Context, kind, source string, l Limit, now time.Time) (bool, time.Duration, error) {
	fill := time.Duration(float64(l.Burst)/l.PerSecond*float64(time.Second)) + time.Second
	v, err := bucketScript.Run(ctx, s.rdb, []string{sourceKey(kind, source)}, now.UnixMilli(), l.PerSecond, l.Burst, fill.Milliseconds()).Slice()
	if err != nil {
		return false, 0, fmt.Errorf("state: %s limit of %s: %w", kind, source, err)
	}
	if len(v) != 2 {
		return false, 0, errors.New("state: source limit: bad script answer")
	}
	ok, _ := v[0].(int64)
	retry, _ := v[1].(int64)
	return ok == 1, time.Duration(retry) * time.Millisecond, nil
}

// sourceKey is the bucket of one source for one kind of request; the whole
// key is its own hash tag.
func sourceKey(kind, source string) string { return "src:{" + kind + ":" + source + "}" }

// bucketScript is a plain token bucket in thousandths of a token, kept
// fractional (a rate of one per six seconds refills 0.17 per ms). KEYS[1]
// the bucket; ARGV now (ms), rate (per s), burst, TTL (ms: the time to fill
// up, after which a missing key means the same as a full one). Answers
// {allowed (1/0), retry after (ms)}.
var bucketScript = redis.NewScript(`
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]) * 1000
local t = redis.call('HMGET', KEYS[1], 'm', 'ts')
local m, ts = tonumber(t[1]) or burst, tonumber(t[2]) or now
if now > ts then m = math.min(burst, m + (now - ts) * rate) end
local ok, retry = 0, 0
if m >= 1000 then m = m - 1000; ok = 1 else retry = math.ceil((1000 - m) / rate) end
redis.call('HSET', KEYS[1], 'm', m, 'ts', math.max(now, ts))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return {ok, retry}
`)

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
