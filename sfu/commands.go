package sfu

import (
	"context"
	"errors"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
)

// maxCommandAge is how old a media command may be and still be worth
// running; leave and close_room are always run.
const maxCommandAge = 30 * time.Second

// handle runs one command from the node's channel. Every refusal goes back
// to the client as an error event naming its request; handle itself only
// fails when the node should see the command again, which is never: a
// command is either done or refused.
func (n *Node) handle(ctx context.Context, cmd events.Command) error {
	if cmd.SentAt > 0 {
		n.noteCommandLag(time.Since(time.UnixMilli(cmd.SentAt)))
	}
	if err := cmd.Validate(); err != nil {
		n.refuse(ctx, cmd, events.Errorf(events.CodeBadRequest, "%v", err))
		return nil
	}
	if age := time.Since(time.UnixMilli(cmd.SentAt)); cmd.SentAt > 0 && age > maxCommandAge && cmd.Type != events.CmdLeave && cmd.Type != events.CmdCloseRoom {
		// Redelivered after a restart, or stuck behind a dead node: the
		// offer/answer it carries has long been given up on by the client.
		n.refuse(ctx, cmd, events.Errorf(events.CodeUnavailable, "media request expired after %s; send it again", age.Round(time.Second)))
		return nil
	}
	var err error
	switch cmd.Type {
	case events.CmdJoin:
		err = n.join(cmd)
	case events.CmdPublishOffer:
		err = n.publishOffer(cmd)
	case events.CmdSubscribeAnswer:
		err = n.withParticipant(cmd, func(p *participant) error { return p.answer(cmd.SDP) })
	case events.CmdCandidate:
		err = n.withParticipant(cmd, func(p *participant) error { return p.candidate(cmd.Target, cmd.Candidate) })
	case events.CmdLeave:
		n.leave(cmd)
	case events.CmdSetMuted:
		err = n.withParticipant(cmd, func(p *participant) error {
			if !p.room.setMuted(p, cmd.Source, cmd.Muted, cmd.Seq) {
				p.log.Debug("stale set_muted ignored", "source", cmd.Source, "muted", cmd.Muted, "seq", cmd.Seq)
				return nil
			}
			p.log.Info("source muted", "source", cmd.Source, "muted", cmd.Muted, "seq", cmd.Seq)
			return nil
		})
	case events.CmdCloseRoom:
		if r := n.room(cmd.Room, false); r != nil {
			r.log.Info("room closed by command")
			r.close(ctx, "")
		}
	}
	if err != nil {
		n.refuse(ctx, cmd, err)
	}
	return nil
}

func (n *Node) join(cmd events.Command) error {
	// A room emptied by another goroutine at this moment is closed and
	// forgotten; then the join starts a fresh one.
	for range 3 {
		r := n.room(cmd.Room, true)
		if old := r.participant(cmd.Participant); old != nil {
			// A rejoin (page reload, new socket): start over with fresh media.
			r.removeParticipant(old, "rejoined")
			continue
		}
		p, err := newParticipant(r, cmd.Participant, cmd.Conn)
		if err != nil {
			n.dropIfEmpty(r)
			return err
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			p.close()
			continue
		}
		p.joinSeq = cmd.Seq
		for _, s := range cmd.MutedSources {
			r.muted[trackKey{p.id, s}] = true
		}
		r.parts[p.id] = p
		tracks := r.trackList()
		r.mu.Unlock()
		p.log.Info("participant joined", "tracks", len(tracks))
		p.send(&events.Tracks{Tracks: tracks})
		p.renegotiate()
		return nil
	}
	return events.Errorf(events.CodeUnavailable, "room is closing; join again")
}

// leave ends a participant's media session. A leave with no session to end
// is normal and quiet: the participant never joined media here, their room
// was closed (meeting ended, node stopping), or a push already found their
// connection gone. A leave naming another connection than the session's is
// for an earlier session that a rejoin from a new connection replaced, and
// leaves the new one alone.
func (n *Node) leave(cmd events.Command) {
	var p *participant
	if r := n.room(cmd.Room, false); r != nil {
		p = r.participant(cmd.Participant)
	}
	if p == nil {
		n.log.Debug("leave: no media session", "room", cmd.Room, "participant", cmd.Participant)
		return
	}
	if cmd.Conn.ConnectionID != "" && cmd.Conn.ConnectionID != p.conn.ConnectionID {
		p.log.Info("leave for an earlier connection ignored", "conn", cmd.Conn.ConnectionID)
		return
	}
	p.room.removeParticipant(p, "left")
}

func (n *Node) publishOffer(cmd events.Command) error {
	return n.withParticipant(cmd, func(p *participant) error {
		answer, err := p.publish(cmd.SDP, cmd.Tracks)
		if err != nil {
			return err
		}
		p.send(events.Reply(cmd.RequestID, &events.PublishAnswer{SDP: answer}))
		return nil
	})
}

// withParticipant runs f for the command's participant, refusing commands
// for a room or participant this node does not have.
func (n *Node) withParticipant(cmd events.Command, f func(*participant) error) error {
	r := n.room(cmd.Room, false)
	if r == nil {
		return events.Errorf(events.CodeNotJoined, "no media session for room %s on this node", cmd.Room)
	}
	p := r.participant(cmd.Participant)
	if p == nil {
		return events.Errorf(events.CodeNotJoined, "participant %s has no media session", cmd.Participant)
	}
	return f(p)
}

// candidate adds a client's ICE candidate, or keeps it until the
// connection it belongs to has its remote description.
func (p *participant) candidate(target events.PeerTarget, c *events.ICECandidate) error {
	init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	p.room.mu.Lock()
	pc := p.sub
	if target == events.TargetPublish {
		pc = p.pub
	}
	if pc == nil || pc.RemoteDescription() == nil {
		if len(p.pending[target]) >= 64 {
			p.room.mu.Unlock()
			return events.Errorf(events.CodeBadRequest, "too many candidates before the %s description", target)
		}
		p.pending[target] = append(p.pending[target], init)
		p.room.mu.Unlock()
		return nil
	}
	p.room.mu.Unlock()
	if c.Candidate == "" {
		return nil // end of candidates
	}
	if err := pc.AddICECandidate(init); err != nil {
		return events.Errorf(events.CodeBadRequest, "candidate: %v", err)
	}
	return nil
}

// refuse tells the client its command was refused and logs it.
func (n *Node) refuse(ctx context.Context, cmd events.Command, err error) {
	e := events.AsError(err)
	log := n.log.With("room", cmd.Room, "participant", cmd.Participant, "type", cmd.Type, "code", e.Code)
	if e.Code == events.CodeInternal {
		log.Error("command failed", "err", err)
	} else {
		log.Warn("command refused", "err", e.Message)
	}
	conn := cmd.Conn
	if conn.ConnectionID == "" {
		if r := n.room(cmd.Room, false); r != nil {
			if p := r.participant(cmd.Participant); p != nil {
				conn = p.conn
			}
		}
	}
	if conn.ConnectionID == "" {
		return
	}
	// Pushed aside: a slow endpoint must not hold up the node's commands.
	ev := events.ErrorFor(cmd.RequestID, cmd.GatewayRequestID, e)
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
		defer cancel()
		if err := push.Send(ctx, n.cfg.Push, conn, ev); err != nil && !errors.Is(err, push.ErrGone) {
			log.Warn("error event not delivered", "err", err)
		}
	}()
}
