package lambdas

import (
	"context"
	"errors"
	"sync"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
)

// parallelPosts bounds concurrent posts of one broadcast: enough to reach a
// 100-person room in a few round trips without opening 100 sockets at once.
const parallelPosts = 16

// reply pushes e to one connection. A gone connection is cleaned up; any
// other failure is logged (the client's request timeout covers it).
func (h *Handlers) reply(ctx context.Context, to events.ConnRef, e events.Event) {
	if err := h.post(ctx, to, e); errors.Is(err, push.ErrGone) {
		h.gone(ctx, to.ConnectionID)
	}
}

func (h *Handlers) post(ctx context.Context, to events.ConnRef, e events.Event) error {
	if to.ConnectionID == "" {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	err := push.Send(pctx, h.d.Push, to, e)
	if err != nil && !errors.Is(err, push.ErrGone) {
		h.log.Warn("push failed", "conn", to.ConnectionID, "type", e.EventType(), "err", err)
	}
	return err
}

// broadcast pushes e to every target, a bounded number at a time; the
// connections found gone are cleaned up afterwards (which may broadcast
// their departure in turn — each cleanup removes a seat, so it ends).
func (h *Handlers) broadcast(ctx context.Context, to []state.Target, e events.Event) {
	refs := make([]events.ConnRef, len(to))
	for i, t := range to {
		refs[i] = t.Conn
	}
	h.broadcastRefs(ctx, refs, e)
}

func (h *Handlers) broadcastRefs(ctx context.Context, to []events.ConnRef, e events.Event) {
	if len(to) == 0 {
		return
	}
	data, err := events.Marshal(e)
	if err != nil {
		h.log.Error("marshal broadcast", "type", e.EventType(), "err", err)
		return
	}
	var mu sync.Mutex
	var gone []events.ConnectionID
	sem := make(chan struct{}, parallelPosts)
	var wg sync.WaitGroup
	for _, ref := range to {
		if ref.ConnectionID == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, pushTimeout)
			defer cancel()
			err := h.d.Push.Post(pctx, ref, data)
			switch {
			case errors.Is(err, push.ErrGone):
				mu.Lock()
				gone = append(gone, ref.ConnectionID)
				mu.Unlock()
			case err != nil:
				h.log.Warn("broadcast post failed", "conn", ref.ConnectionID, "type", e.EventType(), "err", err)
			}
		}()
	}
	wg.Wait()
	for _, id := range gone {
		h.gone(ctx, id)
	}
}

// gone cleans up a connection API Gateway says no longer exists, as if its
// $disconnect had come.
func (h *Handlers) gone(ctx context.Context, id events.ConnectionID) {
	h.log.Info("connection gone", "conn", id)
	h.dropConn(ctx, id, events.ReasonDisconnected)
}

// dropConn handles a connection that is gone ($disconnect, or a 410): a
// seated participant stays, shown as reconnecting, for state.AwayGrace (their
// media too: a new socket joining with the same session picks it up); a
// guest leaves the lobby. Then the connection is forgotten.
func (h *Handlers) dropConn(ctx context.Context, id events.ConnectionID, reason events.LeaveReason) {
	conn, err := h.d.State.GetConn(ctx, id)
	if err != nil {
		h.log.Error("drop connection: lookup failed", "conn", id, "err", err)
		return
	}
	if conn != nil && conn.Room != "" {
		if err := h.away(ctx, conn, reason); err != nil {
			h.log.Error("drop connection: leave failed", "conn", id, "room", conn.Room, "err", err)
		}
	}
	if err := h.d.State.DeleteConn(ctx, id); err != nil {
		h.log.Warn("drop connection: delete failed", "conn", id, "err", err)
	}
}

// away marks the connection's participant reconnecting, or, when it holds
// no seat, takes it out of the lobby.
func (h *Handlers) away(ctx context.Context, conn *state.Conn, reason events.LeaveReason) error {
	ch, err := h.d.State.Away(ctx, conn.Room, conn.Participant, conn.ID, h.d.AwayGrace)
	if err != nil {
		return err
	}
	if ch == nil {
		return h.vacate(ctx, conn, reason, "")
	}
	h.log.Info("participant reconnecting", "room", conn.Room, "participant", conn.Participant, "seq", ch.Seq)
	h.broadcast(ctx, ch.Others, events.WithSeq(ch.Seq, &events.ParticipantUpdated{Participant: ch.Target}))
	return nil
}

// vacate takes the connection's participant out of its room (or lobby),
// tells the others and the node. requestID names the client request, if any.
func (h *Handlers) vacate(ctx context.Context, conn *state.Conn, reason events.LeaveReason, requestID string) error {
	res, err := h.d.State.Leave(ctx, conn.Room, conn.Participant, conn.ID)
	if err != nil {
		return err
	}
	switch res.Kind {
	case state.LeftSeat:
		h.log.Info("participant left", "room", conn.Room, "participant", conn.Participant, "reason", reason, "seq", res.Seq)
		if res.Node != "" {
			h.command(ctx, res.Node, events.Command{Type: events.CmdLeave, Room: conn.Room, Epoch: res.Epoch,
				Participant: conn.Participant, Conn: conn.Ref(), RequestID: requestID})
		}
		h.broadcast(ctx, res.Others, events.WithSeq(res.Seq, &events.ParticipantLeft{ParticipantID: conn.Participant, Reason: reason}))
		if res.Handover != nil {
			h.log.Info("moderation handed over: the last host or co-host left", "room", conn.Room, "to", res.Handover.ID, "seq", res.HandoverSeq)
			h.broadcast(ctx, res.Others, events.WithSeq(res.HandoverSeq, &events.ParticipantUpdated{Participant: *res.Handover, Reason: "handover"}))
			h.metaChanged(ctx, conn.Room, &state.Change{Node: res.Node, Epoch: res.Epoch, Meta: res.Meta})
		}
	case state.LeftLobby:
		r := events.ReasonCancelled
		if reason == events.ReasonDisconnected {
			r = reason
		}
		h.log.Info("guest left the lobby", "room", conn.Room, "guest", conn.Participant, "reason", r)
		h.broadcastRefs(ctx, res.Mods, &events.LobbyLeft{ParticipantID: conn.Participant, Reason: r})
	}
	return nil
}

// command sends a command to a node; a failure is logged and returned.
func (h *Handlers) command(ctx context.Context, node events.NodeID, cmd events.Command) error {
	err := h.d.Bus.Send(ctx, node, cmd)
	if err != nil {
		h.log.Error("command not sent", "node", node, "type", cmd.Type, "room", cmd.Room, "participant", cmd.Participant, "err", err)
	}
	return err
}
