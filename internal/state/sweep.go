package state

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/veet-dev/veet/events"
)

// nodeRoomsTTL bounds how long a node's room list outlives its last placement.
const nodeRoomsTTL = RoomTTL

func knownKey(region string) string        { return "nodes:{" + region + "}:known" }
func nodeRoomsKey(id events.NodeID) string { return "node:{" + string(id) + "}:rooms" }

// notePlacement remembers that code was placed on node, for the sweeper.
// Outside the join script (another slot); a lost note only delays recovery to
// the room's next join, which re-places it anyway.
func (s *Store) notePlacement(ctx context.Context, node events.NodeID, code events.RoomCode) {
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, nodeRoomsKey(node), string(code))
		p.Expire(ctx, nodeRoomsKey(node), nodeRoomsTTL)
		return nil
	})
}

// ARGV: dead node, candidate node ("" = none live). Moves the room only if it
// is still on the dead node (a join may have re-placed it meanwhile).
var movePlacementScript = script(`
if redis.call('EXISTS', R) == 0 then return cjson.encode({kind = 'gone'}) end
if (redis.call('HGET', R, 'node') or '') ~= ARGV[1] then return cjson.encode({kind = 'moved'}) end
if redis.call('HLEN', P) == 0 then
  redis.call('HSET', R, 'node', '')
  return cjson.encode({kind = 'empty'})
end
if ARGV[2] == '' then return cjson.encode({kind = 'stuck'}) end
redis.call('HSET', R, 'node', ARGV[2])
return cjson.encode(room({kind = 'placed', conns = conns('')}, false))
`)

// Moved is a room the sweeper moved off a dead node.
type Moved struct {
	Room         events.RoomCode
	From, To     events.NodeID
	Participants []events.Participant
	Conns        []Target
}

// Sweep re-places the rooms of every node of region whose heartbeat expired
// (or that left with RemoveNode while hosting rooms) onto the least-loaded
// live node. The caller re-joins each room's participants on the new node
// and tells them to reconnect their media. A room with no live node to go to
// is kept for the next sweep.
func (s *Store) Sweep(ctx context.Context, region string) ([]Moved, error) {
	ids, err := s.rdb.SMembers(ctx, knownKey(region)).Result()
	if err != nil {
		return nil, fmt.Errorf("state: sweep %s: %w", region, err)
	}
	var out []Moved
	for _, id := range ids {
		node := events.NodeID(id)
		alive, err := s.nodeAlive(ctx, node)
		if err != nil {
			return out, err
		}
		if alive {
			continue
		}
		rooms, err := s.rdb.SMembers(ctx, nodeRoomsKey(node)).Result()
		if err != nil {
			return out, err
		}
		stuck := 0
		for _, code := range rooms {
			cand, err := s.pickNode(ctx, region)
			if err != nil {
				return out, err
			}
			r, err := s.run(ctx, movePlacementScript, events.RoomCode(code), id, string(cand))
			if err != nil {
				return out, err
			}
			switch r.Kind {
			case "stuck":
				stuck++
				continue
			case "placed":
				s.chargeNode(ctx, region, cand)
				s.notePlacement(ctx, cand, events.RoomCode(code))
				room, err := r.room(events.RoomCode(code))
				if err != nil {
					return out, err
				}
				out = append(out, Moved{Room: room.Code, From: node, To: cand, Participants: room.Participants, Conns: targets(r.Conns)})
			}
			s.rdb.SRem(ctx, nodeRoomsKey(node), code)
		}
		if stuck == 0 {
			s.rdb.Del(ctx, nodeRoomsKey(node))
			s.rdb.SRem(ctx, knownKey(region), id)
		}
	}
	return out, nil
}
