package lambdas

import (
	"context"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/token"
)

// Every moderation check (is the caller a host or co-host, does the target
// exist) happens inside the state's script, from Redis, in the same atomic
// step as the change.

func (h *Handlers) admit(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	var guest events.ParticipantID
	if m, ok := c.msg.(*events.AdmitRequest); ok {
		guest = m.ParticipantID
	}
	admitted, mods, err := h.d.State.Admit(ctx, c.room(), c.participant(), c.connID(), guest)
	if err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	for _, a := range admitted {
		tok, err := h.d.Tokens.Sign(token.Claims{Room: c.room(), Participant: a.Guest.ID, Role: events.RoleParticipant, Name: a.Guest.Name}, TokenTTL)
		if err != nil {
			return err
		}
		h.log.Info("guest admitted", "room", c.room(), "guest", a.Guest.ID, "by", c.participant())
		h.reply(ctx, a.Conn, &events.Admitted{Token: tok})
		h.broadcastRefs(ctx, mods, &events.LobbyLeft{ParticipantID: a.Guest.ID, Reason: events.ReasonAdmitted})
	}
	return nil
}

func (h *Handlers) deny(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.DenyRequest)
	a, mods, err := h.d.State.Deny(ctx, c.room(), c.participant(), c.connID(), m.ParticipantID)
	if err != nil {
		return err
	}
	h.log.Info("guest denied", "room", c.room(), "guest", m.ParticipantID, "by", c.participant())
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	h.reply(ctx, a.Conn, &events.Denied{RetryAfterMS: state.DenyCooldown.Milliseconds()})
	h.broadcastRefs(ctx, mods, &events.LobbyLeft{ParticipantID: m.ParticipantID, Reason: events.ReasonDenied})
	return nil
}

func (h *Handlers) mute(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.MuteRequest)
	ch, err := h.d.State.Mute(ctx, c.room(), c.participant(), c.connID(), m.ParticipantID, m.Source)
	if err != nil {
		return err
	}
	// Muting a muted source still tells the node: it repairs a node that
	// missed the first command.
	sent := h.muted(ctx, c, ch, m.Source)
	if sent {
		h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	}
	if ch.Seq != 0 {
		h.broadcast(ctx, ch.Others, events.WithSeq(ch.Seq, &events.ParticipantUpdated{Participant: ch.Target}))
	}
	if !sent {
		return errMediaNotTold
	}
	return nil
}

// muted stops forwarding the source at the node and tells its owner; false
// when the node could not be told.
func (h *Handlers) muted(ctx context.Context, c *call, ch *state.Change, src events.Source) bool {
	sent := true
	if ch.Node != "" {
		sent = h.command(ctx, ch.Node, events.Command{Type: events.CmdSetMuted, Room: c.room(), Participant: ch.Target.ID,
			Conn: ch.TargetConn, Source: src, Muted: true, Seq: ch.At, Epoch: ch.Epoch}) == nil
	}
	h.reply(ctx, ch.TargetConn, &events.Muted{Source: src, By: c.participant()})
	return sent
}

func (h *Handlers) muteAll(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	res, err := h.d.State.MuteAll(ctx, c.room(), c.participant(), c.connID())
	if err != nil {
		return err
	}
	sent := true
	for i := range res.Muted {
		sent = h.muted(ctx, c, &res.Muted[i], events.SourceMicrophone) && sent
	}
	if sent {
		h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	}
	for _, ch := range res.Muted {
		h.broadcast(ctx, res.Others, events.WithSeq(ch.Seq, &events.ParticipantUpdated{Participant: ch.Target}))
	}
	if !sent {
		// A second mute_all finds those microphones off already; a mute of
		// each repairs the node.
		return events.Errorf(events.CodeUnavailable, "muted, but the media server did not get every mute; mute each again")
	}
	return nil
}

// remove: the target is told, its socket closed, its media dropped, its id
// banned from the meeting; everyone else sees it leave.
func (h *Handlers) remove(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.RemoveRequest)
	ch, err := h.d.State.Remove(ctx, c.room(), c.participant(), c.connID(), m.ParticipantID)
	if err != nil {
		return err
	}
	h.log.Info("participant removed", "room", c.room(), "participant", m.ParticipantID, "by", c.participant(), "seq", ch.Seq)
	if ch.Node != "" {
		h.command(ctx, ch.Node, events.Command{Type: events.CmdLeave, Room: c.room(), Participant: m.ParticipantID, Conn: ch.TargetConn, Epoch: ch.Epoch})
		h.metaChanged(ctx, c.room(), ch)
	}
	if ch.TargetConn.ConnectionID != "" {
		h.post(ctx, ch.TargetConn, &events.Removed{By: c.participant()})
		if err := h.d.Push.Delete(ctx, ch.TargetConn); err != nil {
			h.log.Warn("close removed connection", "conn", ch.TargetConn.ConnectionID, "err", err)
		}
		// The record would otherwise linger until its TTL; the seat is gone
		// already, so a failure here costs memory, not correctness.
		if err := h.d.State.DeleteConn(ctx, ch.TargetConn.ConnectionID); err != nil {
			h.log.Warn("forget removed connection", "conn", ch.TargetConn.ConnectionID, "err", err)
		}
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	h.broadcast(ctx, ch.Others, events.WithSeq(ch.Seq, &events.ParticipantLeft{ParticipantID: m.ParticipantID, Reason: events.ReasonRemoved}))
	return nil
}

func (h *Handlers) lock(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.LockRequest)
	ch, err := h.d.State.Lock(ctx, c.room(), c.participant(), c.connID(), m.Locked)
	if err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	if ch.Seq != 0 {
		h.log.Info("meeting lock changed", "room", c.room(), "locked", m.Locked, "by", c.participant())
		h.metaChanged(ctx, c.room(), ch)
		h.broadcast(ctx, ch.Others, events.WithSeq(ch.Seq, roomUpdated(ch.Meta)))
	}
	return nil
}

func (h *Handlers) end(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	res, err := h.d.State.End(ctx, c.room(), c.participant(), c.connID())
	if err != nil {
		return err
	}
	h.log.Info("meeting ended", "room", c.room(), "by", c.participant(), "participants", len(res.Others))
	if res.Node != "" {
		h.command(ctx, res.Node, events.Command{Type: events.CmdCloseRoom, Room: c.room(), Epoch: res.Epoch})
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	ended := events.WithSeq(res.Seq, &events.Ended{By: c.participant()})
	h.broadcast(ctx, res.Others, ended)
	h.broadcastRefs(ctx, res.LobbyConns, &events.Ended{By: c.participant()})
	return nil
}

func (h *Handlers) setRole(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.SetRoleRequest)
	ch, lobby, err := h.d.State.SetRole(ctx, c.room(), c.participant(), c.connID(), m.ParticipantID, m.Role)
	if err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	if ch.Seq == 0 {
		return nil
	}
	h.log.Info("role changed", "room", c.room(), "participant", m.ParticipantID, "role", m.Role, "by", c.participant())
	h.metaChanged(ctx, c.room(), ch)
	h.broadcast(ctx, ch.Others, events.WithSeq(ch.Seq, &events.ParticipantUpdated{Participant: ch.Target}))
	// A new co-host sees who is already waiting.
	for _, g := range lobby {
		h.reply(ctx, ch.TargetConn, &events.Knock{Guest: g})
	}
	return nil
}

// metaChanged gives the room's node its new settings (a lock, a role, a ban),
// which it keeps to rebuild the meeting should Redis lose it. A lost command
// costs only that rebuild's accuracy, so it is logged, not refused.
func (h *Handlers) metaChanged(ctx context.Context, code events.RoomCode, ch *state.Change) {
	if ch.Meta == nil || ch.Node == "" {
		return
	}
	h.command(ctx, ch.Node, events.Command{Type: events.CmdRoomMeta, Room: code, Epoch: ch.Epoch, Meta: ch.Meta})
}
