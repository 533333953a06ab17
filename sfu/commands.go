package sfu

import (
	"context"
	"errors"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
)

// maxCommandAge is how old a media command may be and still be worth
// running; leave, close_room and room_meta are always run.
const maxCommandAge = 30 * time.Second

// handle runs one command from the node's channel. It never waits on pion:
// room-level commands (mute, leave, settings) are done at once, and a
// participant's media work (a new session, offers, answers, candidates) is
// queued on that participant's own worker, so one person's ICE and DTLS
// never delay another's commands or a host's mute. Every refusal goes back to
// the client as an error event naming its request; handle itself never fails
// (a command is either done, queued or refused), so the channel acknowledges
// it.
func (n *Node) handle(ctx context.Context, cmd events.Command) error {
	if cmd.SentAt > 0 {
		n.noteCommandLag(time.Since(time.UnixMilli(cmd.SentAt)))
	}
	if err := cmd.Validate(); err != nil {
		n.refuse(ctx, cmd, events.Errorf(events.CodeBadRequest, "%v", err))
		return nil
	}
	always := cmd.Type == events.CmdLeave || cmd.Type == events.CmdCloseRoom || cmd.Type == events.CmdRoomMeta
	if age := time.Since(time.UnixMilli(cmd.SentAt)); cmd.SentAt > 0 && age > maxCommandAge && !always {
		// Redelivered after a restart, or stuck behind a dead node: the
		// offer/answer it carries has long been given up on by the client.
		n.refuse(ctx, cmd, events.Errorf(events.CodeUnavailable, "media request expired after %s; send it again", age.Round(time.Second)))
		return nil
	}
	r, err := n.roomFor(cmd)
	if err != nil {
		n.refuse(ctx, cmd, err)
		return nil
	}
	if r == nil {
		return nil // nothing to do: a leave or a setting for a room not here
	}
	switch cmd.Type {
	case events.CmdJoin:
		err = n.join(r, cmd)
	case events.CmdPublishOffer:
		err = n.onSession(r, cmd, func(s *session) error {
			answer, err := s.publish(cmd.SDP, cmd.Tracks)
			if err != nil {
				return err
			}
			s.send(events.Reply(cmd.RequestID, &events.PublishAnswer{SDP: answer}))
			return nil
		})
	case events.CmdSubscribeAnswer:
		err = n.onSession(r, cmd, func(s *session) error { return s.answer(cmd.OfferID, cmd.SDP) })
	case events.CmdCandidate:
		err = n.onSession(r, cmd, func(s *session) error { return s.candidate(cmd.Target, cmd.Candidate) })
	case events.CmdLeave:
		n.leave(r, cmd)
	case events.CmdSetMuted:
		p := r.participant(cmd.Participant)
		if p == nil {
			err = events.Errorf(events.CodeNotJoined, "participant %s has no media session", cmd.Participant)
			break
		}
		if !r.setMuted(p, cmd.Source, cmd.Muted, cmd.Seq) {
			p.log.Debug("stale set_muted ignored", "source", cmd.Source, "muted", cmd.Muted, "seq", cmd.Seq)
			break
		}
		p.log.Info("source muted", "source", cmd.Source, "muted", cmd.Muted, "seq", cmd.Seq)
	case events.CmdVideoSizes:
		// Not queued on the worker: sizes wait on nothing, and a layer
		// switch should follow a layout change at once.
		p := r.participant(cmd.Participant)
		var s *session
		if p != nil {
			s = p.current()
		}
		if s == nil || s.id != cmd.Session {
			err = events.Errorf(events.CodeNotJoined, "media session %q is not current here; join again", cmd.Session)
			break
		}
		s.setSizes(cmd.Sizes)
		s.allocate(r.view.Load())
	case events.CmdCloseRoom:
		r.log.Info("room closed by command")
		r.close(ctx, nil)
	case events.CmdRoomMeta:
		r.setMeta(cmd.Meta)
	}
	if err != nil {
		n.refuse(ctx, cmd, err)
	}
	return nil
}

// roomFor finds the room a command is for, under the placement epoch it
// carries. A command of an older epoch than the room's is stale (the room was
// placed here again since); a join of a newer one means the room was placed
// here anew, so the old room's sessions (of an earlier placement, whose
// clients were told to move) are closed and a fresh room starts. Only a join
// creates a room; any other command for a room the node does not have gets
// nil, nil (leave, settings: nothing to do) or a refusal.
func (n *Node) roomFor(cmd events.Command) (*room, error) {
	n.mu.Lock()
	r := n.rooms[cmd.Room]
	if r != nil && cmd.Epoch != 0 && cmd.Epoch < r.epoch {
		n.mu.Unlock()
		return nil, events.Errorf(events.CodeUnavailable, "the meeting's media moved; join again")
	}
	var stale *room
	if r != nil && cmd.Epoch > r.epoch {
		stale, r = r, nil
		delete(n.rooms, cmd.Room)
	}
	if r == nil && cmd.Type == events.CmdJoin {
		if n.draining {
			// Placement should not send new rooms here; serve it anyway
			// rather than fail a user, and say so.
			n.log.Warn("new room while draining", "room", cmd.Room)
		}
		r = newRoom(n, cmd.Room, cmd.Epoch)
		n.rooms[cmd.Room] = r
	}
	n.mu.Unlock()
	if stale != nil {
		stale.log.Info("room placed here again under a newer epoch; closing the old sessions", "new_epoch", cmd.Epoch)
		go stale.close(context.Background(), nil)
	}
	if r == nil {
		switch cmd.Type {
		case events.CmdLeave, events.CmdCloseRoom, events.CmdRoomMeta:
			return nil, nil
		}
		return nil, events.Errorf(events.CodeNotJoined, "no media session for room %s on this node; join again", cmd.Room)
	}
	return r, nil
}

// join seats a participant on the node, or moves one that is here to a new
// socket. A join naming the session the participant has keeps its media
// (and resends what a reconnected client may have missed); a new session
// replaces it; none leaves the participant without media.
func (n *Node) join(r *room, cmd events.Command) error {
	r.setMeta(cmd.Meta)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return events.Errorf(events.CodeUnavailable, "room is closing; join again")
	}
	p := r.parts[cmd.Participant]
	fresh := p == nil
	if fresh {
		p = newParticipant(r, cmd.Participant, cmd.Conn)
		r.parts[p.id] = p
		for _, s := range cmd.MutedSources {
			r.muted[trackKey{p.id, s}] = true
		}
	} else {
		p.setConn(cmd.Conn)
	}
	// A rejoin's muted sources are the state as of its seq.
	var toggle []events.Source
	if !fresh {
		muted := map[events.Source]bool{}
		for _, s := range cmd.MutedSources {
			muted[s] = true
		}
		for _, s := range []events.Source{events.SourceMicrophone, events.SourceCamera, events.SourceScreen, events.SourceScreenAudio} {
			if r.muted[trackKey{p.id, s}] != muted[s] {
				toggle = append(toggle, s)
			}
		}
	}
	cur := p.session
	r.mu.Unlock()
	for _, s := range toggle {
		r.setMuted(p, s, !r.isMuted(p.id, s), cmd.Seq)
	}
	r.mu.Lock()
	p.joinSeq = max(p.joinSeq, cmd.Seq)
	r.mu.Unlock()
	n.state.NotePlacement(context.Background(), n.cfg.NodeID, r.code)
	switch {
	case cmd.Session == "":
		p.log.Info("participant joined without media", "fresh", fresh)
		return nil
	case cur != nil && cur.id == cmd.Session:
		p.log.Info("participant rejoined its media session", "session", cmd.Session)
		r.mu.Lock()
		tracks := r.trackList()
		r.mu.Unlock()
		p.sendCurrent(&events.Tracks{Tracks: tracks})
		if !p.do(cur.resume) {
			return events.Errorf(events.CodeUnavailable, "too many media requests; slow down")
		}
		return nil
	}
	if cmd.Resume {
		// The client means to keep media this node does not have (it ended,
		// or the node is not the one that had it): it must start anew.
		p.log.Info("participant asked to resume a media session the node does not have", "session", cmd.Session)
		p.send(events.WithSession(cmd.Session, &events.MediaReconnect{Reason: "media session not found; start a new one"}))
		return nil
	}
	p.log.Info("participant joined", "session", cmd.Session, "fresh", fresh)
	if !p.do(func() {
		if err := p.startSession(cmd.Session); err != nil {
			n.refuse(context.Background(), cmd, err)
		}
	}) {
		return events.Errorf(events.CodeUnavailable, "too many media requests; slow down")
	}
	return nil
}

// onSession runs f on the command's session in its participant's worker; a
// command for a session that is not the participant's current one is stale
// and refused (the client moved on, or must join again).
func (n *Node) onSession(r *room, cmd events.Command, f func(*session) error) error {
	p := r.participant(cmd.Participant)
	if p == nil {
		return events.Errorf(events.CodeNotJoined, "participant %s has no media session here; join again", cmd.Participant)
	}
	if !p.do(func() {
		s := p.current()
		if s == nil || s.id != cmd.Session {
			n.refuse(context.Background(), cmd, events.Errorf(events.CodeNotJoined, "media session %q is not current here; join again", cmd.Session))
			return
		}
		if err := f(s); err != nil {
			n.refuse(context.Background(), cmd, err)
		}
	}) {
		return events.Errorf(events.CodeUnavailable, "too many media requests; slow down")
	}
	return nil
}

// leave ends a participant's media. A leave with nothing to end is normal
// and quiet: the participant never joined media here, their room was closed
// (meeting ended, node stopping), or a push already found their connection
// gone. A leave naming another connection than the participant's is for an
// earlier socket that a rejoin replaced, and leaves the new one alone.
func (n *Node) leave(r *room, cmd events.Command) {
	p := r.participant(cmd.Participant)
	if p == nil {
		n.log.Debug("leave: no media session", "room", cmd.Room, "participant", cmd.Participant)
		return
	}
	if cmd.Conn.ConnectionID != "" && cmd.Conn.ConnectionID != p.connRef().ConnectionID {
		p.log.Info("leave for an earlier connection ignored", "conn", cmd.Conn.ConnectionID)
		return
	}
	r.removeParticipant(p, "left")
}

// refuse tells the client its command was refused, naming its request, and
// logs it.
func (n *Node) refuse(ctx context.Context, cmd events.Command, err error) {
	e := events.AsError(err)
	log := n.log.With("room", cmd.Room, "participant", cmd.Participant, "type", cmd.Type, "code", e.Code)
	if e.Code == events.CodeInternal {
		log.Error("command failed", "err", err)
	} else {
		log.Warn("command refused", "err", e.Message)
	}
	conn := cmd.Conn
	epoch := cmd.Epoch
	if r := n.room(cmd.Room); r != nil {
		epoch = r.epoch
		if conn.ConnectionID == "" {
			if p := r.participant(cmd.Participant); p != nil {
				conn = p.connRef()
			}
		}
	}
	if conn.ConnectionID == "" {
		return
	}
	// Pushed aside: a slow endpoint must not hold up the node's commands.
	ev := events.WithSession(cmd.Session, events.WithEpoch(epoch, events.ErrorFor(cmd.RequestID, cmd.GatewayRequestID, e)))
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
		defer cancel()
		if err := push.Send(ctx, n.cfg.Push, conn, ev); err != nil && !errors.Is(err, push.ErrGone) {
			log.Warn("error event not delivered", "err", err)
		}
	}()
}
