package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/veet-dev/veet/events"
)

// Chat, reactions and the hosts' hand and chat controls. Chat messages and
// reactions are not presence: they move no seq. A message's id is the
// room's chatseq, which starts at the first message's time in ms (then +1
// per message), so that ids keep growing even across a Redis that lost the
// meeting and a node that rebuilt it: a client never takes a new message
// for one it has.

const (
	// ChatHistory is how many messages a meeting keeps for late joiners.
	ChatHistory = 100
)

// Limits on chat and reactions: each participant's, and the meeting's as
// a whole (a message or a reaction is a push to everyone, so a meeting of
// 1,000 must not let 1,000 people each send their own share at once).
var (
	ChatPerPerson  = Limit{PerSecond: 1, Burst: 5}
	ChatPerRoom    = Limit{PerSecond: 5, Burst: 20}
	ReactPerPerson = Limit{PerSecond: 1, Burst: 3}
	ReactPerRoom   = Limit{PerSecond: 10, Burst: 20}
)

// bucketLua: token buckets in the room's limits hash (LIM), in thousandths
// of a token (so a rate per second is thousandths per ms), each field
// "thousandths:ms". limit() takes one token from the
// participant's bucket and one from the room's, or from neither: it answers
// 0, or the ms until both would have one.
const bucketLua = `
local function level(field, burst, rate, now)
  local m, ts = burst * 1000, now
  local v = redis.call('HGET', LIM, field)
  if v then
    local a, b = string.match(v, '^(%d+):(%d+)$')
    if a then m, ts = tonumber(a), tonumber(b) end
  end
  if now > ts then m = math.min(burst * 1000, m + (now - ts) * rate) end
  return m, math.max(now, ts)
end
local function limit(mine, pb, pr, room, rb, rr, now)
  local m1, t1 = level(mine, pb, pr, now)
  local m2, t2 = level(room, rb, rr, now)
  local wait = 0
  if m1 < 1000 then wait = math.ceil((1000 - m1) / pr) end
  if m2 < 1000 then wait = math.max(wait, math.ceil((1000 - m2) / rr)) end
  if wait > 0 then return wait end
  redis.call('HSET', LIM, mine, math.floor(m1 - 1000) .. ':' .. t1, room, math.floor(m2 - 1000) .. ':' .. t2)
  return 0
end
`

func limitArgs(person, room Limit) []any {
	return []any{person.Burst, person.PerSecond, room.Burst, room.PerSecond}
}

// ARGV: pid, connection id, text, now (ms), history to keep, person burst,
// rate (per s), room burst, rate.
var chatScript = script(bucketLua + `
local me, e = actor(ARGV[1], ARGV[2]); if not me then return e end
if redis.call('HGET', R, 'chatoff') == '1' and not isMod(me) then
  return fail('forbidden', 'a host turned chat off: only hosts and co-hosts can send messages')
end
local now = tonumber(ARGV[4])
local wait = limit('chat:' .. me.id, tonumber(ARGV[6]), tonumber(ARGV[7]), 'chat', tonumber(ARGV[8]), tonumber(ARGV[9]), now)
if wait > 0 then return fail('rate_limited', 'too many chat messages; wait a moment', wait) end
local id
if redis.call('HEXISTS', R, 'chatseq') == 1 then id = redis.call('HINCRBY', R, 'chatseq', 1)
else id = now; redis.call('HSET', R, 'chatseq', id) end
local msg = cjson.encode({id = id, from = me.id, name = me.name, text = ARGV[3], at = now})
redis.call('RPUSH', CH, msg)
redis.call('LTRIM', CH, -tonumber(ARGV[5]), -1)
touch()
return cjson.encode({chat = msg, conns = conns(me.id)})
`)

// ChatResult is a message sent, and everyone else to push it to.
type ChatResult struct {
	Message events.ChatMessage
	Others  []Target
}

// Chat appends a message from pid, under the chat limits and the room's
// chat setting.
func (s *Store) Chat(ctx context.Context, code events.RoomCode, pid events.ParticipantID, conn events.ConnectionID, text string) (*ChatResult, error) {
	args := append([]any{string(pid), string(conn), text, time.Now().UnixMilli(), ChatHistory}, limitArgs(ChatPerPerson, ChatPerRoom)...)
	r, err := s.run(ctx, chatScript, code, args...)
	if err != nil {
		return nil, err
	}
	m, err := chatMessage(r.Chat)
	if err != nil {
		return nil, err
	}
	return &ChatResult{Message: m, Others: targets(r.Conns)}, nil
}

// ARGV: pid, connection id, before (0 = newest), page. The list holds the
// ids last-n+1 … last in order, so a page is one LRANGE of computed bounds.
var chatHistoryScript = script(`
local me, e = actor(ARGV[1], ARGV[2]); if not me then return e end
local n = redis.call('LLEN', CH)
local last = tonumber(redis.call('HGET', R, 'chatseq') or '0')
local first = last - n + 1
local before, page = tonumber(ARGV[3]), tonumber(ARGV[4])
local hi = last
if before > 0 and before - 1 < hi then hi = before - 1 end
local lo = math.max(first, hi - page + 1)
local res = {chats = {}, more = false}
if n > 0 and hi >= lo then
  res.chats = redis.call('LRANGE', CH, lo - first, hi - first)
  res.more = lo > first
end
return cjson.encode(res)
`)

// ChatHistory returns up to events.ChatPage messages before the message id
// before (0 = the newest), oldest first, and whether older ones are kept.
func (s *Store) ChatHistory(ctx context.Context, code events.RoomCode, pid events.ParticipantID, conn events.ConnectionID, before uint64) ([]events.ChatMessage, bool, error) {
	r, err := s.run(ctx, chatHistoryScript, code, string(pid), string(conn), before, events.ChatPage)
	if err != nil {
		return nil, false, err
	}
	out := make([]events.ChatMessage, 0, len(r.Chats))
	for _, c := range r.Chats {
		m, err := chatMessage(c)
		if err != nil {
			return nil, false, err
		}
		out = append(out, m)
	}
	return out, r.More, nil
}

// ARGV: pid, connection id, now (ms), person burst, rate (per s), room
// burst, rate.
var reactScript = script(bucketLua + `
local me, e = actor(ARGV[1], ARGV[2]); if not me then return e end
local wait = limit('react:' .. me.id, tonumber(ARGV[4]), tonumber(ARGV[5]), 'react', tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[3]))
if wait > 0 then return fail('rate_limited', 'too many reactions; wait a moment', wait) end
return cjson.encode({conns = conns(me.id)})
`)

// React checks pid may react now (the reaction limits) and returns everyone
// else to push it to. Nothing is stored: a reaction is a moment.
func (s *Store) React(ctx context.Context, code events.RoomCode, pid events.ParticipantID, conn events.ConnectionID) ([]Target, error) {
	args := append([]any{string(pid), string(conn), time.Now().UnixMilli()}, limitArgs(ReactPerPerson, ReactPerRoom)...)
	r, err := s.run(ctx, reactScript, code, args...)
	if err != nil {
		return nil, err
	}
	return targets(r.Conns), nil
}

// ARGV: moderator pid, connection id, chat off (1/0).
var setChatScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local res = {seq = 0, node = redis.call('HGET', R, 'node') or '', epoch = epoch()}
if (redis.call('HGET', R, 'chatoff') or '0') ~= ARGV[3] then
  redis.call('HSET', R, 'chatoff', ARGV[3])
  res.seq = bump()
  res.conns = conns('')
  meta(res)
end
touch()
return cjson.encode(res)
`)

// SetChat lets everyone chat, or only hosts and co-hosts. Seq is 0 when
// nothing changed; Meta (set otherwise) carries every room setting.
func (s *Store) SetChat(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID, enabled bool) (*Change, error) {
	r, err := s.run(ctx, setChatScript, code, string(by), string(conn), b2s(!enabled))
	if err != nil {
		return nil, err
	}
	return r.change()
}

// ARGV: moderator pid, connection id, target pid ("" = every raised hand).
var lowerHandsScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local ids = {ARGV[3]}
if ARGV[3] == '' then ids = redis.call('HKEYS', P)
elseif redis.call('HEXISTS', P, ARGV[3]) == 0 then return fail('not_found', 'that participant is not in the meeting') end
local lowered = {}
for _, id in ipairs(ids) do
  local t = cjson.decode(redis.call('HGET', P, id))
  if t.handRaised then
    t.handRaised, t.handRaisedAt = false, nil
    local pj = cjson.encode(t)
    redis.call('HSET', P, id, pj)
    lowered[#lowered+1] = {p = pj, seq = bump()}
  end
end
local res = {muted = lowered}
if #lowered > 0 then res.conns = conns('') end
touch()
return cjson.encode(res)
`)

// Lowered is one hand a host lowered, at Seq.
type Lowered struct {
	Participant events.Participant
	Seq         uint64
}

// LowerHands lowers target's raised hand, or every raised hand when target
// is "", and returns each change and everyone to tell.
func (s *Store) LowerHands(ctx context.Context, code events.RoomCode, by events.ParticipantID, conn events.ConnectionID, target events.ParticipantID) ([]Lowered, []Target, error) {
	r, err := s.run(ctx, lowerHandsScript, code, string(by), string(conn), string(target))
	if err != nil {
		return nil, nil, err
	}
	out := make([]Lowered, 0, len(r.Muted))
	for _, m := range r.Muted {
		p, err := participant(m.P)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Lowered{Participant: p, Seq: m.Seq})
	}
	return out, targets(r.Conns), nil
}

func chatMessage(s string) (events.ChatMessage, error) {
	var m events.ChatMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, fmt.Errorf("state: bad chat message %q: %w", s, err)
	}
	return m, nil
}
