package lambdas

import (
	"context"

	"github.com/veet-dev/veet/events"
)

// chat, chat_history and react are the "presence" function's (what people
// say besides their media); set_chat and lower_hands the "moderate" one's.
// None of them touches the media node except set_chat, whose setting the
// node keeps in its copy of the room.

// chat appends a message to the meeting's history and pushes it to everyone:
// the sender's copy is the reply (it carries the message's id and time).
func (h *Handlers) chat(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.ChatRequest)
	res, err := h.d.State.Chat(ctx, c.room(), c.participant(), c.connID(), m.Text)
	if err != nil {
		return err
	}
	h.log.Debug("chat message", "room", c.room(), "from", c.participant(), "id", res.Message.ID, "bytes", len(m.Text))
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Chat{Message: res.Message}))
	h.broadcast(ctx, res.Others, &events.Chat{Message: res.Message})
	return nil
}

func (h *Handlers) chatHistory(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.ChatHistoryRequest)
	msgs, more, err := h.d.State.ChatHistory(ctx, c.room(), c.participant(), c.connID(), m.Before)
	if err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.ChatHistory{Messages: msgs, More: more}))
	return nil
}

// react pushes a reaction to everyone else; nothing is kept.
func (h *Handlers) react(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.ReactRequest)
	others, err := h.d.State.React(ctx, c.room(), c.participant(), c.connID())
	if err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	h.broadcast(ctx, others, &events.Reaction{ParticipantID: c.participant(), Emoji: m.Emoji})
	return nil
}

func (h *Handlers) setChat(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.SetChatRequest)
	ch, err := h.d.State.SetChat(ctx, c.room(), c.participant(), c.connID(), m.Enabled)
	if err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	if ch.Seq != 0 {
		h.log.Info("meeting chat changed", "room", c.room(), "enabled", m.Enabled, "by", c.participant())
		h.metaChanged(ctx, c.room(), ch)
		h.broadcast(ctx, ch.Others, events.WithSeq(ch.Seq, roomUpdated(ch.Meta)))
	}
	return nil
}

// roomUpdated is the event for a change of the room's settings: all of them,
// as the change's copy of them says.
func roomUpdated(m *events.RoomMeta) *events.RoomUpdated {
	return &events.RoomUpdated{Locked: m.Locked, ChatDisabled: m.ChatDisabled}
}

func (h *Handlers) lowerHands(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.LowerHandsRequest)
	lowered, others, err := h.d.State.LowerHands(ctx, c.room(), c.participant(), c.connID(), m.ParticipantID)
	if err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	if len(lowered) > 0 {
		h.log.Info("hands lowered", "room", c.room(), "count", len(lowered), "by", c.participant())
	}
	for _, l := range lowered {
		h.broadcast(ctx, others, events.WithSeq(l.Seq, &events.ParticipantUpdated{Participant: l.Participant}))
	}
	return nil
}
