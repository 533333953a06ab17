package state

import (
	"github.com/veet-dev/veet/events"
)

// Redis keys. Every key of one room carries the room code as a hash tag, so a
// room's keys share one Redis Cluster slot and one Lua script may touch them
// all. Scripts never touch keys of two rooms, nor node keys (placement reads
// the node registry first and then compare-and-sets the room).
//
//	room:{code}              hash   title, created (ms), host (creator id), node,
//	                                locked (0/1), seq, ended (0/1), joined (ms of
//	                                the last join). TTL: RoomIdleTTL while nobody
//	                                is in it; RoomLiveTTL (refreshed by every join,
//	                                ping and leave) while somebody is.
//	room:{code}:participants hash   participant id → Participant JSON (+ role)
//	room:{code}:conns        hash   participant id → connection id (current socket)
//	room:{code}:lobby        hash   participant id → Guest JSON
//	room:{code}:lobbyconns   hash   participant id → connection id of the waiting guest
//	room:{code}:banned       set    removed participant ids
//	room:{code}:denied       zset   participant id → time (ms) they may knock again
//	conn:{id}                hash   room, participant, role (host|cohost|participant|
//	                                guest), state (connected|lobby|joined), endpoint,
//	                                token claims cache. TTL ConnTTL, refreshed by ping.
//	rate:{id}                hash   token bucket of connection id: tokens, ts (ms)
//	node:{id}                string NodeInfo JSON, TTL = the heartbeat's TTL
//	node:{id}:cmds           stream the node's commands (package events/bus)
//	nodes:{region}           zset   node id → load score, the placement index;
//	                                members whose node:{id} expired are pruned
//	                                when placement meets them
//
// (The connection key is "conn:{id}" with the connection id as its tag: a
// connection's keys are read before the room is known.)

func roomKey(c events.RoomCode) string         { return "room:{" + string(c) + "}" }
func participantsKey(c events.RoomCode) string { return roomKey(c) + ":participants" }
func connsKey(c events.RoomCode) string        { return roomKey(c) + ":conns" }
func lobbyKey(c events.RoomCode) string        { return roomKey(c) + ":lobby" }
func lobbyConnsKey(c events.RoomCode) string   { return roomKey(c) + ":lobbyconns" }
func bannedKey(c events.RoomCode) string       { return roomKey(c) + ":banned" }
func deniedKey(c events.RoomCode) string       { return roomKey(c) + ":denied" }

// roomKeys is the fixed KEYS list every room script receives, in this order.
func roomKeys(c events.RoomCode) []string {
	return []string{roomKey(c), participantsKey(c), connsKey(c), lobbyKey(c), lobbyConnsKey(c), bannedKey(c), deniedKey(c)}
}

func connKey(id events.ConnectionID) string { return "conn:{" + string(id) + "}" }
func rateKey(id events.ConnectionID) string { return "rate:{" + string(id) + "}" }
func nodeKey(id events.NodeID) string       { return "node:{" + string(id) + "}" }
func nodesKey(region string) string         { return "nodes:{" + region + "}" }
