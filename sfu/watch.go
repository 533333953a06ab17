package sfu

import (
	"context"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
)

// The nodes of a region keep each other's rooms alive. Each beat, every node
// reads the region's registry; a node whose entry expired is dead, and the
// first live node to notice moves its rooms (state.Failover is locked per
// dead node and a compare-and-set per room, so the others' attempts change
// nothing) and tells every participant media_reconnect. Only a node that has
// been beating without a break for two TTLs judges: right after a Redis
// outage every entry has expired, and every node is merely reconnecting.

// watch looks for dead peers and moves their rooms; it returns at once, the
// moves run beside the heartbeat.
func (n *Node) watch(ctx context.Context) {
	if !n.judge(time.Now()) {
		return
	}
	_, missing, err := n.state.Registry(ctx, n.cfg.Region)
	if err != nil {
		n.log.Debug("registry read failed", "err", err)
		return
	}
	for _, id := range missing {
		if id == n.cfg.NodeID {
			continue
		}
		n.mu.Lock()
		busy := n.failing[id]
		n.failing[id] = true
		n.mu.Unlock()
		if !busy {
			n.log.Info("node missing from the registry; moving its rooms", "dead", id)
			go func() {
				n.failover(context.WithoutCancel(ctx), id)
				n.mu.Lock()
				delete(n.failing, id)
				n.mu.Unlock()
			}()
		}
	}
}

// failover moves the rooms of dead onto live nodes and tells their
// participants to follow.
func (n *Node) failover(ctx context.Context, dead events.NodeID) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	moved, err := n.state.Failover(ctx, n.cfg.Region, dead)
	if err != nil {
		n.log.Warn("failover incomplete; the next beat tries again", "dead", dead, "err", err)
	}
	for _, m := range moved {
		n.log.Warn("room moved off a dead node", "room", m.Room, "from", m.From, "to", m.To, "epoch", m.Epoch, "participants", len(m.Conns))
		n.tell(ctx, m.Conns, events.WithEpoch(m.Epoch, &events.MediaReconnect{Reason: "media server moved"}))
	}
}

// tell pushes one event to many connections, a bounded number at a time.
func (n *Node) tell(ctx context.Context, to []state.Target, e events.Event) {
	data, err := events.Marshal(e)
	if err != nil {
		n.log.Error("marshal", "type", e.EventType(), "err", err)
		return
	}
	refs := make([]events.ConnRef, len(to))
	for i, t := range to {
		refs[i] = t.Conn
	}
	if _, failed, last := push.Broadcast(ctx, n.push, refs, data, pushTimeout); failed > 0 {
		n.log.Warn("push failed", "type", e.EventType(), "failed", failed, "of", len(refs), "err", last)
	}
}

// checkOwnership compares every room the node serves with its placement in
// Redis. A room that moved on (another node, or a newer epoch) is dropped,
// its participants told where it went, so that no room is served by two
// nodes after a stall or a partition; a room Redis no longer has is written
// back from what the node knows; an ended one is closed.
func (n *Node) checkOwnership(ctx context.Context) {
	// A room joined with no epoch is unfenced (commands straight on the
	// bus, as tests send them): there is no placement to check it against.
	var rooms []*room
	for _, r := range n.roomList() {
		if r.epoch != 0 {
			rooms = append(rooms, r)
		}
	}
	if len(rooms) == 0 {
		return
	}
	codes := make([]events.RoomCode, len(rooms))
	for i, r := range rooms {
		codes[i] = r.code
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	placed, err := n.state.Placements(cctx, codes)
	if err != nil {
		n.log.Debug("ownership check failed", "err", err)
		return
	}
	for _, r := range rooms {
		pl := placed[r.code]
		if pl.AwayDue && pl.Node == n.cfg.NodeID && r.expiring.CompareAndSwap(false, true) {
			go func() {
				defer r.expiring.Store(false)
				n.expireAway(context.WithoutCancel(ctx), r)
			}()
		}
		if pl.Log.After(r.readAt()) {
			r.wake() // a wake-up that never came (a command lost, Redis briefly away)
		}
		switch {
		case !pl.Exists:
			go n.restore(context.WithoutCancel(ctx), r)
		case pl.Ended:
			r.log.Info("room ended while the node missed it; closing")
			go r.close(context.WithoutCancel(ctx), nil)
		case pl.Node == n.cfg.NodeID && pl.Epoch == r.epoch, r.handedOver.Load():
		default:
			r.log.Warn("room moved on while this node could not see; dropping it", "now_on", pl.Node, "now_epoch", pl.Epoch)
			go r.close(context.WithoutCancel(ctx), events.WithEpoch(pl.Epoch, &events.MediaReconnect{Reason: "media server moved"}))
		}
	}
}

// restore writes a room Redis lost back from the node's copy of its settings,
// placed here under the node's epoch, and asks every participant to join
// again (with its media session: the media stays up), which seats them.
func (n *Node) restore(ctx context.Context, r *room) {
	r.mu.Lock()
	var meta events.RoomMeta
	if r.meta != nil {
		meta = *r.meta
	}
	r.mu.Unlock()
	meta.Region = n.cfg.Region
	ok, err := n.state.Restore(ctx, r.code, meta, n.cfg.NodeID, r.epoch)
	if err != nil {
		r.log.Warn("room lost from Redis; rebuild failed, trying again", "err", err)
		return
	}
	if !ok {
		return // rebuilt meanwhile (by a join or another path): the next check compares
	}
	// The log went with the rest: read the new one from its start (each
	// participant's join again brings its own position).
	r.resetFeed.Store(true)
	r.log.Warn("room lost from Redis; rebuilt from the node's copy", "participants", len(r.participants()))
	r.sendAll(func() events.Event { return &events.Rejoin{Reason: "meeting state rebuilt"} })
}

// expireAway takes out the participants whose socket dropped and who did
// not come back in time: their media here ends, and everyone is told they
// left (the leaves are in the room's log). The room's node does it because
// it is the one long-running part that serves the room.
func (n *Node) expireAway(ctx context.Context, r *room) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	gone, err := n.state.ExpireAway(ctx, r.code)
	if err != nil {
		r.log.Debug("expiring reconnecting participants failed", "err", err)
		return
	}
	for _, g := range gone {
		if g.Handover != nil {
			r.log.Info("moderation handed over: the last host or co-host did not come back", "to", g.Participant, "seq", g.Seq)
			r.setMeta(g.Meta)
			continue
		}
		r.log.Info("participant did not come back in time", "participant", g.Participant, "seq", g.Seq)
		if p := r.participant(g.Participant); p != nil {
			r.removeParticipant(p, "did not reconnect in time")
		}
	}
	r.wake()
}
