package state

import (
	"github.com/veet-dev/veet/events"
)

// Redis keys. Every key of one room carries the room code as a hash tag, so a
// room's keys share one Redis Cluster slot and one Lua script may touch them
// all. Scripts never touch keys of two rooms, nor node keys (placement reads
// the node registry first and then compare-and-sets the room).
//
//	room:{code}              hash   title, created (ms), host (creator id), region,
//	                                node, locked (0/1), seq, ended (0/1), chatoff
//	                                (0/1), chatseq (the last chat message's id),
//	                                and role:<pid> for each role the host gave
//	room:{code}:participants hash   participant id → Participant JSON (+ role)
//	room:{code}:conns        hash   participant id → ConnRef JSON (current socket)
//	room:{code}:lobby        hash   participant id → Guest JSON
//	room:{code}:lobbyconns   hash   participant id → ConnRef JSON of the waiting
//	                                guest, with src: the address it knocked from
//	room:{code}:banned       set    removed participant ids
//	room:{code}:denied       zset   guest id, or ip:<address> → time (ms) they may
//	                                knock again; past members pruned by knocks
//	room:{code}:away         zset   participant id → time (ms) their seat goes
//	                                if they have not joined again (their socket
//	                                dropped); the room's node expires them
//	room:{code}:chat         list   the last ChatHistory chat messages (JSON),
//	                                oldest first; ids contiguous, the newest is
//	                                the room's chatseq (chat.go)
//	room:{code}:limits       hash   token buckets of chat and reactions:
//	                                chat:<pid>, react:<pid>, chat, react →
//	                                "thousandths:ms" (chat.go)
//	conn:{id}                hash   endpoint, token (given at $connect), room,
//	                                participant. TTL ConnTTL, refreshed by ping.
//	rate:{id}                hash   token bucket of connection id: m (thousandths
//	                                of a message), ts (ms); the flood detector:
//	                                over, n, told; closed (shed, removed or
//	                                gone: its messages are dropped). TTL 60 s.
//	src:{kind:source}        hash   token bucket of one address for $connect
//	                                or create (conns.go). TTL: until full.
//	node:{id}                string NodeInfo JSON, TTL = the heartbeat's TTL
//	node:{id}:rooms          set    rooms placed on the node, for the sweeper
//	node:{id}:cmds           stream the node's commands (package events/bus)
//	nodes:{region}           zset   node id → load score, the placement index;
//	                                members whose node:{id} expired are pruned
//	                                when placement meets them
//	nodes:{region}:known     set    every node that heartbeated, for the sweeper
//
// Every room key expires RoomTTL after the last script that touched the room
// or the last ping in it. (The connection key is "conn:{id}" with the
// connection id as its tag: a connection's keys are read before the room is
// known.)

func roomKey(c events.RoomCode) string         { return "room:{" + string(c) + "}" }
func participantsKey(c events.RoomCode) string { return roomKey(c) + ":participants" }
func connsKey(c events.RoomCode) string        { return roomKey(c) + ":conns" }
func lobbyKey(c events.RoomCode) string        { return roomKey(c) + ":lobby" }
func lobbyConnsKey(c events.RoomCode) string   { return roomKey(c) + ":lobbyconns" }
func bannedKey(c events.RoomCode) string       { return roomKey(c) + ":banned" }
func deniedKey(c events.RoomCode) string       { return roomKey(c) + ":denied" }
func awayKey(c events.RoomCode) string         { return roomKey(c) + ":away" }
func chatKey(c events.RoomCode) string         { return roomKey(c) + ":chat" }
func limitsKey(c events.RoomCode) string       { return roomKey(c) + ":limits" }

// roomKeys is the fixed KEYS list every room script receives, in this order.
func roomKeys(c events.RoomCode) []string {
	return []string{roomKey(c), participantsKey(c), connsKey(c), lobbyKey(c), lobbyConnsKey(c), bannedKey(c), deniedKey(c), awayKey(c),
		chatKey(c), limitsKey(c)}
}

func connKey(id events.ConnectionID) string { return "conn:{" + string(id) + "}" }
func rateKey(id events.ConnectionID) string { return "rate:{" + string(id) + "}" }
func nodeKey(id events.NodeID) string       { return "node:{" + string(id) + "}" }
func nodesKey(region string) string         { return "nodes:{" + region + "}" }
