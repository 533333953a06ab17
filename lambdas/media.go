package lambdas

import (
	"context"

	"github.com/pion/sdp/v3"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/state"
)

// signal relays the client's media signaling to the room's node as an opaque
// payload; the node answers the client directly. SDP is parsed here so a
// broken one is refused with the request's id instead of dying in the node.
func (h *Handlers) signal(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	cmd := events.Command{Room: c.room(), Participant: c.participant(), Conn: c.ref(),
		RequestID: c.id(), GatewayRequestID: c.gatewayID()}
	switch m := c.msg.(type) {
	case *events.PublishOfferRequest:
		cmd.Type, cmd.SDP, cmd.Tracks, cmd.Target, cmd.Session = events.CmdPublishOffer, m.SDP, m.Tracks, events.TargetPublish, m.Session
	case *events.SubscribeAnswerRequest:
		cmd.Type, cmd.SDP, cmd.Target, cmd.Session, cmd.OfferID = events.CmdSubscribeAnswer, m.SDP, events.TargetSubscribe, m.Session, m.OfferID
	case *events.CandidateRequest:
		cand := m.Candidate
		cmd.Type, cmd.Target, cmd.Candidate, cmd.Session = events.CmdCandidate, m.Target, &cand, m.Session
	case *events.VideoSizesRequest:
		cmd.Type, cmd.Session, cmd.Sizes = events.CmdVideoSizes, m.Session, m.Sizes
	}
	if cmd.SDP != "" {
		if err := checkSDP(cmd.SDP); err != nil {
			return err
		}
	}
	node, epoch, err := h.d.State.Seat(ctx, c.room(), c.participant(), c.connID())
	if err != nil {
		return err
	}
	cmd.Epoch = epoch
	if err := h.command(ctx, node, cmd); err != nil {
		return refuse(events.CodeUnavailable, "the media server cannot be reached; try again")
	}
	if cmd.Type == events.CmdVideoSizes {
		// The node answers offers itself; sizes have no answer but this:
		// the node has them (it refuses a session it does not have).
		h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	}
	return nil
}

// checkSDP refuses an SDP that does not parse or has no media sections
// (events already checked its size and "v=0").
func checkSDP(s string) error {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		return refuse(events.CodeBadRequest, "sdp does not parse: %s", clip(err.Error(), 100))
	}
	if len(sd.MediaDescriptions) == 0 {
		return refuse(events.CodeBadRequest, "sdp has no media sections")
	}
	return nil
}

// update changes the caller's own state; turning a source back on after a
// host muted it is allowed (hosts silence, never open, a microphone). Every
// source the request names goes to the node even when the state already had
// it: a node that missed the command gets it when the client sends the same
// update again, after the unavailable error a failed send answers.
func (h *Handlers) update(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	m := c.msg.(*events.UpdateRequest)
	res, err := h.d.State.Update(ctx, c.room(), c.participant(), c.connID(),
		state.Patch{MicOn: m.MicOn, CamOn: m.CamOn, ScreenOn: m.ScreenOn, HandRaised: m.HandRaised, Name: m.Name})
	if err != nil {
		return err
	}
	sent := true
	for _, s := range []struct {
		asked *bool
		src   events.Source
		on    bool
	}{
		{m.MicOn, events.SourceMicrophone, res.Target.MicOn},
		{m.CamOn, events.SourceCamera, res.Target.CamOn},
		{m.ScreenOn, events.SourceScreen, res.Target.ScreenOn},
	} {
		if s.asked == nil || res.Node == "" {
			continue
		}
		if h.command(ctx, res.Node, events.Command{Type: events.CmdSetMuted, Room: c.room(), Epoch: res.Epoch,
			Participant: c.participant(), Conn: c.ref(), Source: s.src, Muted: !s.on, Seq: res.At}) != nil {
			sent = false
		}
	}
	if sent {
		h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Ack{}))
	}
	if res.Seq != 0 && m.MicOn == nil && m.CamOn == nil && m.ScreenOn == nil {
		// No media command went (a hand, a name): tell the node the change
		// is there to push.
		h.wake(ctx, c.room(), state.Served{Node: res.Node, Epoch: res.Epoch})
	}
	if !sent {
		return errMediaNotTold
	}
	return nil
}

// errMediaNotTold answers a change that is recorded (and broadcast) but that
// the room's node did not get; sending the same request again repairs it.
var errMediaNotTold = events.Errorf(events.CodeUnavailable, "saved, but the media server did not get it; send it again")

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
