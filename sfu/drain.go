package sfu

import (
	"context"
	"sync"
	"time"

	"github.com/veet-dev/veet/events"
)

// drain moves every room to another node, make-before-break: the node
// leaves the placement index, re-places each room (a new epoch, on the
// least-loaded serving node) and tells its participants media_reconnect with
// migrate set. Each client then starts a new media session on the new node
// and closes its session here once the new one carries media; the node keeps
// serving until then, and returns as soon as its rooms are empty (or the
// drain timeout passed). A room no other node can take stays until one can.
func (n *Node) drain(ctx context.Context, tick <-chan time.Time) {
	n.mu.Lock()
	n.draining = true
	rooms := len(n.rooms)
	n.mu.Unlock()
	n.log.Info("sfu node draining", "rooms", rooms, "timeout", n.cfg.DrainTimeout.String())
	deadline := time.NewTimer(n.cfg.DrainTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	_ = n.beat(ctx) // out of the placement index before the first move
	n.migrateAll(ctx)
	lastTry := time.Now()
	for {
		select {
		case <-deadline.C:
			n.log.Warn("drain timeout; closing remaining rooms", "rooms", n.roomCount())
			return
		case <-tick:
			_ = n.beat(ctx)
			if time.Since(lastTry) >= time.Second {
				n.migrateAll(ctx) // rooms that found no node, or were created meanwhile
				lastTry = time.Now()
			}
		case <-poll.C:
			if n.roomCount() == 0 {
				n.log.Info("drain done: every room moved")
				return
			}
		}
	}
}

// migrateAll hands over every room not handed over yet, side by side. A
// room where nobody has media has nothing to hand over: it closes at once
// (its participants' next join places it anew).
func (n *Node) migrateAll(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, r := range n.roomList() {
		if r.handedOver.Load() {
			continue
		}
		if r.sessions() == 0 {
			r.log.Info("room without media closed by the drain")
			r.close(ctx, nil)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n.migrate(ctx, r)
		})
	}
	wg.Wait()
}

// migrate moves one room to another node and tells its participants.
func (n *Node) migrate(ctx context.Context, r *room) {
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, ok, err := n.state.Migrate(mctx, r.code, n.cfg.NodeID, r.epoch, n.cfg.Region)
	if err != nil {
		r.log.Warn("migration failed; retrying", "err", err)
		return
	}
	if !ok {
		r.log.Debug("room not migrated: no other node, or it moved or emptied meanwhile")
		return
	}
	r.handedOver.Store(true)
	r.log.Info("room handed over", "to", m.To, "new_epoch", m.Epoch, "participants", len(m.Conns))
	// Through each participant's own queue, so that the move comes after
	// whatever the node sent them before.
	for _, p := range r.participants() {
		p.send(events.WithEpoch(m.Epoch, &events.MediaReconnect{Reason: "media server draining", Migrate: true}))
	}
	// Sessions that never close (a client that missed the event and whose
	// connections hang on) end with the drain; so do participants with no
	// media session at all, who have nothing to hand over.
	for _, p := range r.participants() {
		if p.current() == nil {
			r.removeParticipant(p, "no media to hand over")
		}
	}
}
