package lambdas

import (
	"context"
	"errors"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/internal/state"
)

// Presence does not fan out from here: a change is written to the room's
// log by the script that makes it, and the room's node pushes it to
// everyone in batches (sfu/presence.go). A handler only wakes the node
// (wake, or any command it sends for the room). What it pushes itself goes
// to one connection (replies, admitted, muted, removed) or, rarely, to
// everyone at once (ended, media_reconnect): never one message per change
// per participant.

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
	err := push.Send(pctx, h.push, to, e)
	if err != nil && !errors.Is(err, push.ErrGone) {
		h.log.Warn("push failed", "conn", to.ConnectionID, "type", e.EventType(), "err", err)
	}
	return err
}

// sendRoom replies with a joined or snapshot event carrying room: in one
// message when it fits, else its first page and RoomPage events for the
// rest, all naming the reply's id and the room's seq (events/pages.go).
func (h *Handlers) sendRoom(ctx context.Context, to events.ConnRef, head events.Event, room events.Room) {
	first, rest, pages := events.PageRoom(room, events.PageBytes)
	switch e := head.(type) {
	case *events.Joined:
		e.Room = first
		if pages > 1 {
			e.Pages = pages
		}
	case *events.Snapshot:
		e.Room = first
		if pages > 1 {
			e.Pages = pages
		}
	}
	if _, ok := head.(*events.Snapshot); ok {
		events.WithSeq(room.Seq, head)
	}
	id := events.MetaOf(head).ID
	if err := h.post(ctx, to, head); err != nil {
		if errors.Is(err, push.ErrGone) {
			h.gone(ctx, to.ConnectionID)
		}
		return
	}
	for _, p := range rest {
		if err := h.post(ctx, to, events.WithSeq(room.Seq, events.Reply(id, p))); err != nil {
			return // the client asks again (resync) when a page does not come
		}
	}
}

// broadcast pushes e to every target, a bounded number at a time; the
// connections found gone are cleaned up afterwards.
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
	gone, failed, last := push.Broadcast(ctx, h.push, to, data, pushTimeout)
	if failed > 0 {
		h.log.Warn("broadcast posts failed", "type", e.EventType(), "failed", failed, "of", len(to), "err", last)
	}
	for _, ref := range gone {
		h.gone(ctx, ref.ConnectionID)
	}
}

// wake tells the room's node that its log has changes to push, when the
// change needed no other command (any command for the room wakes it too).
// A lost wake-up delays the push until the node's next look at the log
// (every second), it loses nothing: logged, not refused.
func (h *Handlers) wake(ctx context.Context, code events.RoomCode, at state.Served) {
	if at.Node == "" {
		return // nobody is in the meeting to tell
	}
	_ = h.command(ctx, at.Node, events.Command{Type: events.CmdPresence, Room: code, Epoch: at.Epoch})
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
	h.wake(ctx, conn.Room, state.Served{Node: ch.Node, Epoch: ch.Epoch})
	return nil
}

// vacate takes the connection's participant out of its room (or lobby),
// tells the node (which pushes the others the change). requestID names the
// client request, if any.
func (h *Handlers) vacate(ctx context.Context, conn *state.Conn, reason events.LeaveReason, requestID string) error {
	res, err := h.d.State.Leave(ctx, conn.Room, conn.Participant, conn.ID, reason)
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
		if res.Handover != nil {
			h.log.Info("moderation handed over: the last host or co-host left", "room", conn.Room, "to", res.Handover.ID, "seq", res.HandoverSeq)
			h.metaChanged(ctx, conn.Room, &state.Change{Node: res.Node, Epoch: res.Epoch, Meta: res.Meta})
		}
	case state.LeftLobby:
		h.log.Info("guest left the lobby", "room", conn.Room, "guest", conn.Participant, "reason", reason)
		h.wake(ctx, conn.Room, state.Served{Node: res.Node, Epoch: res.Epoch})
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
