package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

// Placement: which node serves a room's media, under which epoch. Every
// placement (first join, a move off a dead node, a drain's migration, a
// rebuild after Redis lost the room) writes node and a new epoch in the same
// script, so a node can tell a room it still owns from one that moved on.

// nodeRoomsTTL bounds how long a node's room list outlives its last placement.
const nodeRoomsTTL = RoomTTL

func knownKey(region string) string           { return "nodes:{" + region + "}:known" }
func nodeRoomsKey(id events.NodeID) string    { return "node:{" + string(id) + "}:rooms" }
func failoverLockKey(id events.NodeID) string { return "node:{" + string(id) + "}:failover" }

// notePlacement remembers that code was placed on node, for failover.
// Outside the join script (another slot); a lost note only delays recovery to
// the room's next join, which re-places it anyway.
func (s *Store) notePlacement(ctx context.Context, node events.NodeID, code events.RoomCode) {
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, nodeRoomsKey(node), string(code))
		p.Expire(ctx, nodeRoomsKey(node), nodeRoomsTTL)
		return nil
	})
}

// NotePlacement is notePlacement for a node that serves a room it did not
// get through a join (it rebuilt it), or that re-asserts one.
func (s *Store) NotePlacement(ctx context.Context, node events.NodeID, code events.RoomCode) {
	s.notePlacement(ctx, node, code)
}

// ARGV: from node, candidate node ("" = none live), now (ms), expected epoch
// (0 = whichever). Moves the room only if it is still on from under that
// epoch: a join, or another watcher, may have moved it meanwhile.
var movePlacementScript = script(`
if redis.call('EXISTS', R) == 0 then return cjson.encode({kind = 'gone'}) end
if redis.call('HGET', R, 'ended') == '1' then return cjson.encode({kind = 'gone'}) end
if (redis.call('HGET', R, 'node') or '') ~= ARGV[1] then return cjson.encode({kind = 'moved', node = redis.call('HGET', R, 'node') or '', epoch = epoch()}) end
if tonumber(ARGV[4]) ~= 0 and tonumber(ARGV[4]) ~= epoch() then return cjson.encode({kind = 'moved', node = ARGV[1], epoch = epoch()}) end
if redis.call('HLEN', P) == 0 then
  redis.call('HSET', R, 'node', '')
  return cjson.encode({kind = 'empty'})
end
if ARGV[2] == '' then return cjson.encode({kind = 'stuck'}) end
local ep = place(ARGV[2], ARGV[3])
touch()
return cjson.encode({kind = 'placed', node = ARGV[2], epoch = ep, conns = conns('')})
`)

// Moved is a room moved to another node.
type Moved struct {
	Room     events.RoomCode
	From, To events.NodeID
	Epoch    uint64
	Conns    []Target // every participant's connection, to tell
}

// move re-places code from one node to cand; ok is false when there was
// nothing to move (the room is gone, empty, or elsewhere already) and stuck
// when no node could take it.
func (s *Store) move(ctx context.Context, code events.RoomCode, from, cand events.NodeID, epoch uint64) (m Moved, ok, stuck bool, err error) {
	r, err := s.run(ctx, movePlacementScript, code, string(from), string(cand), time.Now().UnixMilli(), epoch)
	if err != nil {
		return Moved{}, false, false, err
	}
	switch r.Kind {
	case "stuck":
		return Moved{}, false, true, nil
	case "placed":
		s.notePlacement(ctx, cand, code)
		return Moved{Room: code, From: from, To: cand, Epoch: r.Epoch, Conns: targets(r.Conns)}, true, false, nil
	}
	return Moved{}, false, false, nil
}

// Migrate moves a room a draining node holds under epoch to the least-loaded
// serving node of region (the draining node is out of the placement index).
// ok is false when the room moved on or emptied meanwhile, or when no node
// can take it (then it stays, and the drain waits).
func (s *Store) Migrate(ctx context.Context, code events.RoomCode, from events.NodeID, epoch uint64, region string) (Moved, bool, error) {
	cand, err := s.pickNode(ctx, region)
	if err != nil || cand == "" || cand == from {
		return Moved{}, false, err
	}
	m, ok, _, err := s.move(ctx, code, from, cand, epoch)
	if ok {
		s.chargeNode(ctx, region, cand)
	}
	return m, ok, err
}

// Failover re-places every room of a dead node onto the least-loaded live
// serving nodes of region. One caller at a time works on a node (a lock with
// a TTL, so a caller that dies mid-way hands over to the next); each move is
// a compare-and-set, so a second pass changes nothing. A room no node can
// take stays listed for the next pass.
func (s *Store) Failover(ctx context.Context, region string, dead events.NodeID) ([]Moved, error) {
	token := make([]byte, 8)
	_, _ = rand.Read(token)
	tok := hex.EncodeToString(token)
	got, err := s.rdb.SetNX(ctx, failoverLockKey(dead), tok, 10*time.Second).Result()
	if err != nil || !got {
		return nil, err
	}
	defer s.rdb.Eval(context.WithoutCancel(ctx), `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
		[]string{failoverLockKey(dead)}, tok)
	rooms, err := s.rdb.SMembers(ctx, nodeRoomsKey(dead)).Result()
	if err != nil {
		return nil, fmt.Errorf("state: failover %s: %w", dead, err)
	}
	var out []Moved
	stuck := 0
	for _, code := range rooms {
		cand, err := s.pickNode(ctx, region)
		if err != nil {
			return out, err
		}
		m, ok, st, err := s.move(ctx, events.RoomCode(code), dead, cand, 0)
		if err != nil {
			return out, err
		}
		if st {
			stuck++
			continue
		}
		if ok {
			s.chargeNode(ctx, region, cand)
			out = append(out, m)
		}
		s.rdb.SRem(ctx, nodeRoomsKey(dead), code)
	}
	// Forget the node once nothing is left to move, unless it is alive: a
	// node taking over its own previous life's rooms at start, or one that
	// came back meanwhile, stays known (and keeps the rooms placed on it
	// since).
	if alive, err := s.nodeAlive(ctx, dead); stuck == 0 && err == nil && !alive {
		s.rdb.Del(ctx, nodeRoomsKey(dead))
		s.rdb.SRem(ctx, knownKey(region), string(dead))
	}
	return out, nil
}

// Registry reads region's nodes: the live entries, and the ids of nodes that
// heartbeated once and whose entry is gone (dead, or stopped uncleanly).
func (s *Store) Registry(ctx context.Context, region string) (alive []events.NodeInfo, missing []events.NodeID, err error) {
	ids, err := s.rdb.SMembers(ctx, knownKey(region)).Result()
	if err != nil || len(ids) == 0 {
		return nil, nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = nodeKey(events.NodeID(id))
	}
	// One slot per node key: a pipeline of GETs rather than an MGET, which
	// Redis Cluster refuses across slots.
	cmds := make([]*redis.StringCmd, len(keys))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("state: registry %s: %w", region, err)
	}
	for i, c := range cmds {
		data, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			missing = append(missing, events.NodeID(ids[i]))
			continue
		}
		var n events.NodeInfo
		if err != nil || json.Unmarshal(data, &n) != nil {
			continue
		}
		alive = append(alive, n)
	}
	return alive, missing, nil
}

// Judge reports whether a node's word on who is dead counts: it has been
// heartbeating without a break for longer than grace, so a node whose entry
// is missing had that long of a reachable Redis to beat in and did not.
func Judge(n events.NodeInfo, now time.Time, grace time.Duration) bool {
	return n.HealthySince > 0 && now.Sub(time.UnixMilli(n.HealthySince)) > grace
}

// ARGV: meta JSON (events.RoomMeta), node, epoch, now (ms). Writes a room
// that Redis no longer has back from a node's copy; a room that exists is
// left alone (someone rebuilt it first, or it was never lost).
var restoreScript = script(`
if redis.call('EXISTS', R) == 1 then return cjson.encode({kind = 'exists', node = redis.call('HGET', R, 'node') or '', epoch = epoch()}) end
local m = cjson.decode(ARGV[1])
local function str(v) if v == nil or v == cjson.null then return '' end return tostring(v) end
redis.call('HSET', R, 'title', str(m.title), 'host', str(m.host), 'region', str(m.region),
  'created', str(m.created or ARGV[4]), 'locked', m.locked and '1' or '0', 'seq', str(m.seq or 0),
  'chatoff', m.chatDisabled and '1' or '0',
  'ended', '0', 'node', ARGV[2], 'epoch', ARGV[3])
if type(m.cohosts) == 'table' then for _, id in ipairs(m.cohosts) do redis.call('HSET', R, 'role:' .. id, 'cohost') end end
if type(m.banned) == 'table' then for _, id in ipairs(m.banned) do redis.call('SADD', B, id) end end
touch()
return cjson.encode({kind = 'restored'})
`)

// Restore writes a room back that Redis lost, from what the node serving it
// keeps (its settings, bans and co-hosts), placed on that node under its
// epoch. It reports false when the room exists (nothing was lost, or it was
// rebuilt already).
func (s *Store) Restore(ctx context.Context, code events.RoomCode, meta events.RoomMeta, node events.NodeID, epoch uint64) (bool, error) {
	mj, err := json.Marshal(meta)
	if err != nil {
		return false, err
	}
	r, err := s.run(ctx, restoreScript, code, mj, string(node), epoch, time.Now().UnixMilli())
	if err != nil {
		return false, err
	}
	if r.Kind == "restored" {
		s.notePlacement(ctx, node, code)
	}
	return r.Kind == "restored", nil
}

// RoomPlacement is where Redis says a room's media is.
type RoomPlacement struct {
	Exists bool
	Ended  bool
	Node   events.NodeID
	Epoch  uint64
	// AwayDue: someone's reconnecting time ran out (ExpireAway is due).
	AwayDue bool
}

// Placements reads the placement of each room in one pipeline, for a node
// checking that it still owns what it serves.
func (s *Store) Placements(ctx context.Context, codes []events.RoomCode) (map[events.RoomCode]RoomPlacement, error) {
	cmds := make([]*redis.SliceCmd, len(codes))
	due := make([]*redis.IntCmd, len(codes))
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range codes {
			cmds[i] = p.HMGet(ctx, roomKey(c), "host", "ended", "node", "epoch")
			due[i] = p.ZCount(ctx, awayKey(c), "-inf", now)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: placements: %w", err)
	}
	out := make(map[events.RoomCode]RoomPlacement, len(codes))
	for i, c := range cmds {
		v := c.Val()
		if len(v) != 4 || v[0] == nil {
			out[codes[i]] = RoomPlacement{}
			continue
		}
		node, _ := v[2].(string)
		out[codes[i]] = RoomPlacement{Exists: true, Ended: v[1] == "1", Node: events.NodeID(node), Epoch: parseUint(v[3]),
			AwayDue: due[i].Val() > 0}
	}
	return out, nil
}
