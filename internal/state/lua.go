package state

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Every room script gets roomKeys(code) as KEYS and starts with this prelude.
// Scripts answer one JSON object (cjson); a refusal is {err, msg, retry}.
// Lobby changes do not move the room's seq: only hosts see them, and a seq
// gap must mean the same thing to everyone.
//
// Every change others must see is appended to the room's log (G, a stream)
// in the same script that makes it, as the JSON of the change event the
// room's node puts in its presence batches (package events, Presence). A
// participant's JSON is spliced in as stored: it is JSON already.
var prelude = fmt.Sprintf(`
local R, P, C, L, LC, B, D, A = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local CH, LIM, G = KEYS[9], KEYS[10], KEYS[11]
local TTL, LOGCAP = %d, %d
local function fail(code, msg, retry) return cjson.encode({err=code, msg=msg, retry=retry}) end
-- elsewhere refuses a caller of another region than the room's: the room's
-- media, its pushes and its handlers all live in its own region.
local function elsewhere(region)
  local rr = redis.call('HGET', R, 'region') or ''
  if rr ~= '' and region ~= '' and rr ~= region then
    return cjson.encode({err = 'wrong_region', msg = 'this meeting lives in region ' .. rr .. '; connect there', region = rr})
  end
  return nil
end
local function touch() for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], TTL) end end
local function bump() return redis.call('HINCRBY', R, 'seq', 1) end
local function log(json) return redis.call('XADD', G, 'MAXLEN', '~', LOGCAP, '*', 'e', json) end
local function logP(typ, seq, pj, reason)
  local extra = ''
  if reason then extra = ',"reason":"' .. reason .. '"' end
  return log('{"type":"' .. typ .. '","seq":' .. seq .. ',"participant":' .. pj .. extra .. '}')
end
local function logLeft(seq, pid, reason) return log(cjson.encode({type = 'participant_left', seq = seq, participantId = pid, reason = reason})) end
local function logLobbyLeft(pid, reason) return log(cjson.encode({type = 'lobby_left', participantId = pid, reason = reason})) end
-- logPos: the log's last entry id ('0-0' when empty): the position a
-- snapshot taken now is at.
local function logPos()
  local e = redis.call('XREVRANGE', G, '+', '-', 'COUNT', 1)
  if e[1] then return e[1][1] end
  return '0-0'
end
local function closed()
  if redis.call('EXISTS', R) == 0 then return fail('not_found', 'no such meeting') end
  if redis.call('HGET', R, 'ended') == '1' then return fail('ended', 'the meeting is over') end
  return nil
end
local function connOf(h, pid)
  local c = redis.call('HGET', h, pid)
  if not c then return nil, nil end
  return c, cjson.decode(c).connectionId
end
-- actor: the joined participant pid on connection cid, or a refusal.
local function actor(pid, cid)
  local e = closed(); if e then return nil, e end
  local _, id = connOf(C, pid)
  local pj = redis.call('HGET', P, pid)
  if not pj or id ~= cid then return nil, fail('not_joined', 'join the meeting first') end
  return cjson.decode(pj), nil
end
local function moderator(pid, cid)
  local me, e = actor(pid, cid); if not me then return nil, e end
  if me.role ~= 'host' and me.role ~= 'cohost' then
    return nil, fail('forbidden', 'only hosts and co-hosts may do this')
  end
  return me, nil
end
local function values(h)
  local out, kv = {}, redis.call('HGETALL', h)
  for i = 2, #kv, 2 do out[#out+1] = kv[i] end
  return out
end
-- conns: {p, c} of every participant's connection but except's.
local function conns(except)
  local out, kv = {}, redis.call('HGETALL', C)
  for i = 1, #kv, 2 do if kv[i] ~= except then out[#out+1] = {p=kv[i], c=kv[i+1]} end end
  return out
end
-- modCount: how many hosts and co-hosts are in the meeting with a socket
-- (the roles are few fields of R; the participants are not read).
local function modCount()
  local kv, n = redis.call('HGETALL', R), 0
  for i = 1, #kv, 2 do
    local k, v = kv[i], kv[i+1]
    local id = nil
    if k == 'host' then id = v elseif string.sub(k, 1, 5) == 'role:' and v == 'cohost' then id = string.sub(k, 6) end
    if id and redis.call('HEXISTS', C, id) == 1 then n = n + 1 end
  end
  return n
end
local function room(res, withLobby)
  local r = redis.call('HMGET', R, 'title', 'locked', 'seq', 'node', 'chatoff')
  res.title, res.locked, res.seq, res.node = r[1] or '', r[2] == '1', tonumber(r[3] or '0'), r[4] or ''
  res.chatDisabled = r[5] == '1'
  res.participants = values(P)
  if withLobby then res.lobby = values(L) end
  return res
end
local function isMod(p) return p.role == 'host' or p.role == 'cohost' end
-- place puts the room on node under a new epoch: never below the caller's
-- clock (ms), so epochs keep growing even across a Redis that lost the room.
local function place(node, now)
  local ep = math.max(tonumber(redis.call('HGET', R, 'epoch') or '0') + 1, tonumber(now))
  redis.call('HSET', R, 'node', node, 'epoch', ep)
  return ep
end
local function epoch() return tonumber(redis.call('HGET', R, 'epoch') or '0') end
-- handover: when no host or co-host is left among the participants, the
-- longest-present one who is not reconnecting becomes co-host (as Meet hands
-- a meeting on). Answers that participant's JSON, or nil.
local function handover()
  local kv = redis.call('HGETALL', P)
  local best, bp
  for i = 1, #kv, 2 do
    local p = cjson.decode(kv[i+1])
    if p.role == 'host' or p.role == 'cohost' then return nil end
    if not p.reconnecting and (not bp or p.joinedAt < bp.joinedAt or (p.joinedAt == bp.joinedAt and kv[i] < best)) then
      best, bp = kv[i], p
    end
  end
  if not bp then return nil end
  bp.role = 'cohost'
  local pj = cjson.encode(bp)
  redis.call('HSET', P, best, pj)
  redis.call('HSET', R, 'role:' .. best, 'cohost')
  return pj
end
-- meta: the room's settings a node keeps to rebuild the room (RoomMeta).
local function meta(res)
  local kv = redis.call('HGETALL', R)
  local m = {cohosts = {}, banned = redis.call('SMEMBERS', B)}
  for i = 1, #kv, 2 do
    local k, v = kv[i], kv[i+1]
    if k == 'title' then m.title = v
    elseif k == 'host' then m.host = v
    elseif k == 'region' then m.region = v
    elseif k == 'created' then m.created = tonumber(v)
    elseif k == 'locked' then m.locked = v == '1'
    elseif k == 'chatoff' then m.chatDisabled = v == '1'
    elseif k == 'seq' then m.seq = tonumber(v)
    elseif string.sub(k, 1, 5) == 'role:' and v == 'cohost' then m.cohosts[#m.cohosts+1] = string.sub(k, 6) end
  end
  res.meta = m
  return res
end
`, int(RoomTTL.Seconds()), logCap)

func script(body string) *redis.Script { return redis.NewScript(prelude + body) }

var createScript = script(`
if redis.call('EXISTS', R) == 1 then return fail('exists', 'code taken') end
redis.call('HSET', R, 'title', ARGV[1], 'host', ARGV[2], 'created', ARGV[3], 'region', ARGV[4],
  'locked', '0', 'seq', '0', 'ended', '0', 'node', '')
touch()
return cjson.encode({seq=0})
`)

// ARGV: pid, connRef JSON, connection id, participant JSON, node seen, node
// alive (1/0), candidate node, now (ms), the caller's region, most
// participants. A rejoin that changes nothing of what others see (a new
// socket, a resent join) moves no seq: nobody needs telling. A newcomer to
// a full meeting is refused, the host excepted (it is their meeting). The
// answer's log is the log position the room it carries is at; conns
// (everyone's socket, to follow the room) only when the room moved off a
// dead node.
var joinScript = script(`
local e = closed() or elsewhere(ARGV[9]); if e then return e end
local pid, cid = ARGV[1], ARGV[3]
if redis.call('SISMEMBER', B, pid) == 1 then return fail('banned', 'you were removed from this meeting') end
local prev = redis.call('HGET', P, pid)
if not prev and redis.call('HGET', R, 'host') ~= pid and redis.call('HLEN', P) >= tonumber(ARGV[10]) then
  return fail('full', 'the meeting is full')
end
local cur = redis.call('HGET', R, 'node') or ''
if cur ~= ARGV[5] then return fail('retry', 'placement changed') end
local node, placed, ep = cur, false, epoch()
if cur == '' or ARGV[6] ~= '1' then
  if ARGV[7] == '' then return fail('unavailable', 'no media server can take this meeting now') end
  node, placed = ARGV[7], true
  ep = place(node, ARGV[8])
end
local p = cjson.decode(ARGV[4])
local role = redis.call('HGET', R, 'role:' .. pid)
if role then p.role = role end
if redis.call('HGET', R, 'host') == pid then p.role = 'host' end
if prev then
  -- Joining again keeps the seat's place: its arrival, and a raised hand's
  -- place in the queue.
  local q = cjson.decode(prev)
  p.joinedAt, p.handRaised, p.handRaisedAt = q.joinedAt, q.handRaised, q.handRaisedAt
end
local old, oldID = connOf(C, pid)
local pj = cjson.encode(p)
local same = false
if prev then
  local q = cjson.decode(prev)
  same = true
  for _, k in ipairs({'name', 'role', 'micOn', 'camOn', 'screenOn', 'handRaised', 'reconnecting'}) do
    if q[k] ~= p[k] then same = false end
  end
end
redis.call('HSET', P, pid, pj)
redis.call('HSET', C, pid, ARGV[2])
redis.call('HDEL', L, pid); redis.call('HDEL', LC, pid); redis.call('ZREM', A, pid)
if not same then
  local typ = 'participant_joined'
  if prev then typ = 'participant_updated' end
  logP(typ, bump(), pj)
end
touch()
local res = meta(room({}, isMod(p)))
res.me, res.placed, res.prevNode, res.rejoin, res.epoch, res.node = pj, placed, cur, prev and true or false, ep, node
res.unchanged = same
res.log = logPos()
if old and oldID ~= cid then res.old = old end
if placed and cur ~= '' then res.conns = conns(pid) end
return cjson.encode(res)
`)

// ARGV: pid, guest JSON, lobby conn JSON (connRef + src), connection id, now
// (ms), source ("" = unknown), the caller's region, most guests waiting. A
// knock again (a reload, with the same guest key) only refreshes the lobby
// entry, and is never refused for a full lobby. A deny holds off the guest id and, when
// known, the source ('ip:' .. src in D), since a reload brings a new guest
// id.
var knockScript = script(`
local e = closed() or elsewhere(ARGV[7]); if e then return e end
local pid, now = ARGV[1], tonumber(ARGV[5])
if redis.call('SISMEMBER', B, pid) == 1 then return fail('banned', 'you were removed from this meeting') end
local again = redis.call('HEXISTS', L, pid) == 1
-- Those waiting when the meeting was locked stay: their knock again is no new knock.
if not again and redis.call('HGET', R, 'locked') == '1' then return fail('locked', 'the meeting is locked') end
redis.call('ZREMRANGEBYSCORE', D, '-inf', now)
local till = tonumber(redis.call('ZSCORE', D, pid) or '0')
if ARGV[6] ~= '' then till = math.max(till, tonumber(redis.call('ZSCORE', D, 'ip:' .. ARGV[6]) or '0')) end
if till > now then return fail('too_soon', 'a host turned you away; wait before asking again', till - now) end
if not again and redis.call('HLEN', L) >= tonumber(ARGV[8]) then
  return fail('lobby_full', 'too many people are waiting to join; try again later')
end
if again then
  -- A knock again (a new socket, a periodic re-knock): keep the first knock's
  -- time; the hosts were told at the first.
  local g = cjson.decode(ARGV[2]); g.knockedAt = cjson.decode(redis.call('HGET', L, pid)).knockedAt
  redis.call('HSET', L, pid, cjson.encode(g))
else
  redis.call('HSET', L, pid, ARGV[2])
  log('{"type":"knock","guest":' .. ARGV[2] .. '}')
end
redis.call('HSET', LC, pid, ARGV[3])
touch()
return cjson.encode({title = redis.call('HGET', R, 'title') or '', moderators = modCount(), node = redis.call('HGET', R, 'node') or '', epoch = epoch(), rejoin = again})
`)

// ARGV: moderator pid, connection id, guest pid (empty = everyone waiting),
// most participants. A guest is let in only to a free seat: admit_all lets
// in as many as there are, longest waiting first.
var admitScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local free = tonumber(ARGV[4]) - redis.call('HLEN', P)
local ids = {ARGV[3]}
if ARGV[3] == '' then
  local kv, waiting = redis.call('HGETALL', L), {}
  for i = 1, #kv, 2 do waiting[#waiting+1] = {id = kv[i], at = cjson.decode(kv[i+1]).knockedAt or 0} end
  table.sort(waiting, function(a, b) return a.at < b.at or (a.at == b.at and a.id < b.id) end)
  if #waiting > 0 and free <= 0 then return fail('full', 'the meeting is full; nobody can be let in') end
  ids = {}
  for i = 1, math.min(#waiting, math.max(free, 0)) do ids[i] = waiting[i].id end
elseif redis.call('HEXISTS', L, ARGV[3]) == 1 and free <= 0 then
  return fail('full', 'the meeting is full; the guest keeps waiting')
end
local out = {}
for _, id in ipairs(ids) do
  local g = redis.call('HGET', L, id)
  if g then
    out[#out+1] = {g = g, c = redis.call('HGET', LC, id) or ''}
    redis.call('HDEL', L, id); redis.call('HDEL', LC, id)
    logLobbyLeft(id, 'admitted')
  end
end
if ARGV[3] ~= '' and #out == 0 then return fail('not_found', 'that guest is no longer waiting') end
touch()
return cjson.encode({admitted = out, node = redis.call('HGET', R, 'node') or '', epoch = epoch()})
`)

// ARGV: moderator pid, connection id, guest pid, may knock again at (ms).
var denyScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local g = redis.call('HGET', L, ARGV[3])
if not g then return fail('not_found', 'that guest is no longer waiting') end
local c = redis.call('HGET', LC, ARGV[3]) or ''
redis.call('HDEL', L, ARGV[3]); redis.call('HDEL', LC, ARGV[3])
redis.call('ZADD', D, ARGV[4], ARGV[3])
if c ~= '' then
  local src = cjson.decode(c).src
  if type(src) == 'string' and src ~= '' then redis.call('ZADD', D, ARGV[4], 'ip:' .. src) end
end
logLobbyLeft(ARGV[3], 'denied')
touch()
return cjson.encode({guest = g, targetConn = c, node = redis.call('HGET', R, 'node') or '', epoch = epoch()})
`)

// ARGV: pid, connection id, reason (a seat's), reason (a lobby place's).
// Only the connection that holds the seat (or the lobby place) leaves: a
// stale socket replaced by a reload changes nothing.
var leaveScript = script(`
if redis.call('EXISTS', R) == 0 then return cjson.encode({kind = 'none'}) end
local pid, cid = ARGV[1], ARGV[2]
local res = {kind = 'none', node = redis.call('HGET', R, 'node') or '', epoch = epoch()}
local _, id = connOf(C, pid)
if id == cid then
  local was = cjson.decode(redis.call('HGET', P, pid) or '{}')
  redis.call('HDEL', C, pid); redis.call('HDEL', P, pid)
  res.kind, res.seq = 'participant', bump()
  logLeft(res.seq, pid, ARGV[3])
  if was.role == 'host' or was.role == 'cohost' then
    res.target = handover()
    if res.target then
      res.at = bump()
      logP('participant_updated', res.at, res.target, 'handover')
      meta(res)
    end
  end
  -- An empty room is placed afresh by its next join (least-loaded node).
  if redis.call('HLEN', P) == 0 then redis.call('HSET', R, 'node', '') end
else
  local _, lid = connOf(LC, pid)
  if lid == cid then
    redis.call('HDEL', L, pid); redis.call('HDEL', LC, pid)
    res.kind = 'lobby'
    logLobbyLeft(pid, ARGV[4])
  end
end
touch()
return cjson.encode(res)
`)

// ARGV: pid, connection id, until (ms). The participant's socket dropped:
// they stay, marked reconnecting, until a join brings them back or their
// time runs out (expireAwayScript). Only the socket that holds the seat
// counts: a stale one replaced by a reload changes nothing.
var awayScript = script(`
if redis.call('EXISTS', R) == 0 then return cjson.encode({kind = 'none'}) end
local pid, cid = ARGV[1], ARGV[2]
local _, id = connOf(C, pid)
local pj = redis.call('HGET', P, pid)
if id ~= cid or not pj then return cjson.encode({kind = 'none'}) end
local p = cjson.decode(pj)
p.reconnecting = true
pj = cjson.encode(p)
redis.call('HSET', P, pid, pj)
redis.call('HDEL', C, pid)
redis.call('ZADD', A, ARGV[3], pid)
local res = {kind = 'away', seq = bump(), target = pj, node = redis.call('HGET', R, 'node') or '', epoch = epoch()}
logP('participant_updated', res.seq, pj)
touch()
return cjson.encode(res)
`)

// ARGV: now (ms). Takes out everyone whose reconnecting time ran out; each
// leave moves the seq by one.
var expireAwayScript = script(`
if redis.call('EXISTS', R) == 0 then return cjson.encode({}) end
local gone, handed = {}, false
for _, pid in ipairs(redis.call('ZRANGEBYSCORE', A, '-inf', ARGV[1])) do
  redis.call('ZREM', A, pid)
  local pj = redis.call('HGET', P, pid)
  if pj and redis.call('HEXISTS', C, pid) == 0 then
    redis.call('HDEL', P, pid)
    local seq = bump()
    logLeft(seq, pid, 'disconnected')
    gone[#gone+1] = {p = pid, seq = seq}
    local was = cjson.decode(pj)
    if was.role == 'host' or was.role == 'cohost' then
      local h = handover()
      if h then
        local hs = bump()
        logP('participant_updated', hs, h, 'handover')
        gone[#gone+1] = {g = h, seq = hs}
        handed = true
      end
    end
  end
end
if #gone == 0 then return cjson.encode({}) end
if redis.call('HLEN', P) == 0 then redis.call('HSET', R, 'node', '') end
touch()
local res = {muted = gone}
if handed then meta(res) end
return cjson.encode(res)
`)

// ARGV: moderator pid, connection id, target pid.
var removeScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local t = ARGV[3]
if t == me.id then return fail('bad_request', 'use leave to leave the meeting yourself') end
local pj = redis.call('HGET', P, t)
if not pj then return fail('not_found', 'that participant is not in the meeting') end
local tp = cjson.decode(pj)
if tp.role == 'host' then return fail('forbidden', 'the host cannot be removed') end
if tp.role == 'cohost' and me.role ~= 'host' then return fail('forbidden', 'only the host may remove a co-host') end
local c = redis.call('HGET', C, t) or ''
redis.call('HDEL', P, t); redis.call('HDEL', C, t); redis.call('ZREM', A, t)
redis.call('SADD', B, t)
local res = meta({seq = bump(), node = redis.call('HGET', R, 'node') or '', epoch = epoch(), targetConn = c, target = pj})
logLeft(res.seq, t, 'removed')
touch()
return cjson.encode(res)
`)

// ARGV: pid, connection id, patch JSON (micOn, camOn, screenOn, handRaised,
// name), now (ms). A hand going up records when (the queue's order).
var updateScript = script(`
local me, e = actor(ARGV[1], ARGV[2]); if not me then return e end
local patch = cjson.decode(ARGV[3])
local changed = {}
for _, k in ipairs({'micOn', 'camOn', 'screenOn', 'handRaised', 'name'}) do
  local v = patch[k]
  if v ~= nil and v ~= cjson.null and v ~= me[k] then me[k] = v; changed[#changed+1] = k end
end
if me.handRaised then me.handRaisedAt = me.handRaisedAt or tonumber(ARGV[4]) else me.handRaisedAt = nil end
local res = {seq = 0, node = redis.call('HGET', R, 'node') or '', epoch = epoch(), changed = changed}
if #changed > 0 then
  res.me = cjson.encode(me)
  redis.call('HSET', P, me.id, res.me)
  res.seq = bump()
  logP('participant_updated', res.seq, res.me)
else
  res.me = redis.call('HGET', P, me.id)
end
res.at = tonumber(redis.call('HGET', R, 'seq') or '0')
touch()
return cjson.encode(res)
`)

// ARGV: moderator pid, connection id, target pid, state field (empty when the
// source has none, e.g. screen_audio).
var muteScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local pj = redis.call('HGET', P, ARGV[3])
if not pj then return fail('not_found', 'that participant is not in the meeting') end
local t = cjson.decode(pj)
local res = {seq = 0, node = redis.call('HGET', R, 'node') or '', epoch = epoch(), targetConn = redis.call('HGET', C, ARGV[3]) or ''}
local f = ARGV[4]
if f ~= '' and t[f] then
  t[f] = false
  pj = cjson.encode(t)
  redis.call('HSET', P, ARGV[3], pj)
  res.seq = bump()
  logP('participant_updated', res.seq, pj)
end
res.target = pj
res.at = tonumber(redis.call('HGET', R, 'seq') or '0')
touch()
return cjson.encode(res)
`)

// ARGV: moderator pid, connection id. Every microphone but the caller's,
// as one change (all_muted) however many there are; seq is the room's
// after it (the current one when no microphone was on).
var muteAllScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local kv, muted = redis.call('HGETALL', P), 0
for i = 1, #kv, 2 do
  if kv[i] ~= me.id and string.find(kv[i+1], '"micOn":true', 1, true) then
    local t = cjson.decode(kv[i+1])
    t.micOn = false
    redis.call('HSET', P, kv[i], cjson.encode(t))
    muted = muted + 1
  end
end
-- Nothing to mute is no change (the node is still told: a repair).
local seq = tonumber(redis.call('HGET', R, 'seq') or '0')
if muted > 0 then
  seq = bump()
  log(cjson.encode({type = 'all_muted', seq = seq, by = me.id}))
end
touch()
return cjson.encode({seq = seq, at = muted, node = redis.call('HGET', R, 'node') or '', epoch = epoch()})
`)

// ARGV: host pid, connection id, target pid, role (cohost|participant). A
// new co-host gets the room with its lobby (the answer's participants and
// lobby, at the answer's seq).
var setRoleScript = script(`
local me, e = actor(ARGV[1], ARGV[2]); if not me then return e end
if me.role ~= 'host' then return fail('forbidden', 'only the host may change roles') end
local pj = redis.call('HGET', P, ARGV[3])
if not pj then return fail('not_found', 'that participant is not in the meeting') end
local t = cjson.decode(pj)
if t.role == 'host' then return fail('forbidden', 'the host keeps their role') end
local res = {at = 0, node = redis.call('HGET', R, 'node') or '', epoch = epoch()}
if t.role ~= ARGV[4] then
  t.role = ARGV[4]
  pj = cjson.encode(t)
  redis.call('HSET', P, ARGV[3], pj)
  redis.call('HSET', R, 'role:' .. ARGV[3], ARGV[4])
  res.at = bump()
  logP('participant_updated', res.at, pj)
  meta(res)
end
res.target = pj
res.targetConn = redis.call('HGET', C, ARGV[3]) or ''
if ARGV[4] == 'cohost' then room(res, true) end
touch()
return cjson.encode(res)
`)

// ARGV: moderator pid, connection id, locked (1/0).
var lockScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local res = {seq = 0, locked = ARGV[3] == '1', node = redis.call('HGET', R, 'node') or '', epoch = epoch()}
if (redis.call('HGET', R, 'locked') == '1') ~= res.locked then
  redis.call('HSET', R, 'locked', ARGV[3])
  res.seq = bump()
  log(cjson.encode({type = 'room_updated', seq = res.seq, locked = res.locked, chatDisabled = redis.call('HGET', R, 'chatoff') == '1'}))
  meta(res)
end
touch()
return cjson.encode(res)
`)

// ARGV: moderator pid, connection id. Everyone goes; the room stays, ended,
// until its TTL so that late joins learn it is over.
var endScript = script(`
local me, e = moderator(ARGV[1], ARGV[2]); if not me then return e end
local res = {conns = conns(''), lobbyConns = values(LC), node = redis.call('HGET', R, 'node') or '', epoch = epoch()}
redis.call('HSET', R, 'ended', '1', 'node', '')
redis.call('DEL', P, C, L, LC, A, CH, LIM, G)
res.seq = bump()
touch()
return cjson.encode(res)
`)

// ARGV: pid, connection id.
var snapshotScript = script(`
local me, e = actor(ARGV[1], ARGV[2]); if not me then return e end
touch()
return cjson.encode(room({}, isMod(me)))
`)

// ARGV: participant id asking ("" = unknown), guest id asking (""), now
// (ms). What a pre-join page may know: whether the meeting is open, its
// title and lock, how many are in and the first few names by arrival, how
// many hosts and co-hosts could answer a knock, and about the asker: a role
// the host gave them, whether they were removed, how long a denial's
// cool-down still runs. Reads only.
var lookupScript = script(`
if redis.call('EXISTS', R) == 0 then return cjson.encode({kind = 'not_found'}) end
local res = {kind = 'open', title = redis.call('HGET', R, 'title') or '', locked = redis.call('HGET', R, 'locked') == '1', region = redis.call('HGET', R, 'region') or ''}
if redis.call('HGET', R, 'ended') == '1' then res.kind = 'ended'; return cjson.encode(res) end
local first = {}
for _, v in ipairs(redis.call('HVALS', P)) do
  local p = cjson.decode(v)
  first[#first+1] = {at = p.joinedAt or 0, name = p.name}
  table.sort(first, function(a, b) return a.at < b.at end)
  if #first > 5 then first[6] = nil end
end
res.names = {}
for _, f in ipairs(first) do res.names[#res.names+1] = f.name end
res.people = redis.call('HLEN', P)
res.moderators = modCount()
local pid, gid, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if pid ~= '' then
  res.banned = redis.call('SISMEMBER', B, pid) == 1
  res.role = redis.call('HGET', R, 'role:' .. pid) or ''
  if redis.call('HGET', R, 'host') == pid then res.role = 'host' end
end
if gid ~= '' then
  local till = tonumber(redis.call('ZSCORE', D, gid) or '0')
  if till > now then res.retry = till - now end
end
return cjson.encode(res)
`)
