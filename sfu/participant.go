package sfu

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
)

const (
	outQueue       = 64
	workQueue      = 64
	pushTimeout    = 5 * time.Second
	enqueueTimeout = 2 * time.Second
)

// participant is one person in a room on the node: where their events go,
// and their current media session (none for a participant who joined without
// one). It outlives its sessions: a join with a new session replaces the
// media, a join with the same one (a new socket) keeps it.
type participant struct {
	id   events.ParticipantID
	room *room
	log  *slog.Logger
	// conn is where events go; a rejoin from a new socket moves it.
	conn atomic.Pointer[events.ConnRef]

	// Guarded by room.mu.
	// joinSeq is the room seq its last join command carried: a set_muted
	// older than that describes an earlier state and is stale.
	joinSeq uint64
	session *session

	// work runs the participant's media commands one at a time, in order,
	// away from the node's command loop: one person's ICE and DTLS never
	// hold up another's commands, nor a host's mute.
	work chan func()

	out chan events.Event
	// gone is set when a push found the connection gone (410): events are
	// dropped until a join names a new one. The media stays: the client
	// reconnects its socket and joins again with the same session.
	gone      atomic.Bool
	unsent    atomic.Int32 // events queued and not yet pushed
	stalled   atomic.Bool  // an event was dropped since the last push went through
	done      chan struct{}
	closeOnce sync.Once
	drained   chan struct{} // closed when the sender goroutine exits
}

func newParticipant(r *room, id events.ParticipantID, conn events.ConnRef) *participant {
	p := &participant{
		id: id, room: r, log: r.log.With("participant", id),
		work: make(chan func(), workQueue), out: make(chan events.Event, outQueue),
		done: make(chan struct{}), drained: make(chan struct{}),
	}
	p.conn.Store(&conn)
	go p.sendLoop()
	go p.workLoop()
	return p
}

// connRef is where the participant's events go now.
func (p *participant) connRef() events.ConnRef { return *p.conn.Load() }

// setConn points the participant's events at a new socket.
func (p *participant) setConn(c events.ConnRef) {
	p.conn.Store(&c)
	p.gone.Store(false)
}

// current is the participant's media session, nil without one.
func (p *participant) current() *session {
	p.room.mu.Lock()
	defer p.room.mu.Unlock()
	return p.session
}

// do queues media work for the participant; false when the queue is full
// (a client flooding offers) or the participant is gone.
func (p *participant) do(f func()) bool {
	select {
	case <-p.done:
		return false
	default:
	}
	select {
	case p.work <- f:
		return true
	default:
		return false
	}
}

func (p *participant) workLoop() {
	for {
		select {
		case <-p.done:
			return
		case f := <-p.work:
			f()
		}
	}
}

// send queues an event for the participant's WebSocket, in order, stamped
// with the room's epoch unless it names one (a media_reconnect names the
// room's next). A client that cannot keep up for enqueueTimeout
// loses the event, loudly; until one of its pushes goes through again, it
// loses further events at once, so a stuck endpoint does not hold up its
// room's broadcasts or the node's commands enqueueTimeout at a time.
func (p *participant) send(e events.Event) {
	if events.MetaOf(e).Epoch == 0 {
		events.WithEpoch(p.room.epoch, e)
	}
	p.unsent.Add(1)
	select {
	case p.out <- e:
		return
	case <-p.done:
		p.unsent.Add(-1)
		return
	default:
	}
	if p.stalled.Load() {
		p.unsent.Add(-1)
		p.log.Debug("event dropped: push queue still full", "type", e.EventType())
		return
	}
	t := time.NewTimer(enqueueTimeout)
	defer t.Stop()
	select {
	case p.out <- e:
		return
	case <-p.done:
	case <-t.C:
		p.stalled.Store(true)
		p.log.Warn("event dropped: push queue full", "type", e.EventType())
	}
	p.unsent.Add(-1)
}

// sendCurrent sends a room-wide event as of the participant's current media
// session, so that a client that moved on to another drops it.
func (p *participant) sendCurrent(e events.Event) {
	if s := p.current(); s != nil {
		events.WithSession(s.id, e)
	}
	p.send(e)
}

func (p *participant) sendLoop() {
	defer close(p.drained)
	for {
		var e events.Event
		select {
		case e = <-p.out:
		case <-p.done:
			return
		}
		if p.gone.Load() {
			p.unsent.Add(-1)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
		to := p.connRef()
		err := push.Send(ctx, p.room.node.cfg.Push, to, e)
		cancel()
		p.unsent.Add(-1)
		switch {
		case errors.Is(err, push.ErrGone):
			// The socket dropped; its $disconnect marks the participant
			// reconnecting. Nothing more goes out until a join brings a
			// new socket (unless one already did).
			if p.connRef() == to {
				p.log.Info("connection gone; dropping events until the participant joins again", "type", e.EventType())
				p.gone.Store(true)
			}
		case err != nil:
			p.log.Warn("push failed", "type", e.EventType(), "err", err)
			p.room.node.pushFailed()
		default:
			p.stalled.Store(false)
			p.room.node.pushWorked()
		}
	}
}

// flush waits until every queued event was pushed (the one on its way
// too), the sender stopped, or the deadline passed.
func (p *participant) flush(ctx context.Context, deadline time.Time) {
	for p.unsent.Load() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-p.drained:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startSession replaces the participant's media with a fresh session (the
// old one's connections close).
func (p *participant) startSession(id string) error {
	s, err := newSession(p, id)
	if err != nil {
		return err
	}
	p.room.mu.Lock()
	if p.isClosed() || p.room.parts[p.id] != p {
		p.room.mu.Unlock()
		s.close()
		return events.Errorf(events.CodeNotJoined, "participant left")
	}
	old := p.session
	p.session = s
	changed := p.room.dropTracksOf(p.id)
	tracks := p.room.trackList()
	p.room.mu.Unlock()
	if old != nil {
		old.close()
	}
	p.log.Info("media session started", "session", id, "replaces", sessionID(old), "tracks", len(tracks))
	if changed {
		p.room.tracksChanged()
	}
	p.sendCurrent(&events.Tracks{Tracks: tracks})
	s.renegotiate()
	return nil
}

// sessionEnded is called when a session's subscribe connection failed or
// closed. The client starts a new one when it notices (or has already); on
// a node that handed the room over, it was the client closing its old
// session, and the participant leaves this node with it.
func (p *participant) sessionEnded(s *session) {
	p.room.mu.Lock()
	current := p.session == s
	if current {
		p.session = nil
	}
	changed := current && p.room.dropTracksOf(p.id)
	p.room.mu.Unlock()
	s.close()
	if !current {
		return
	}
	if p.room.handedOver.Load() {
		p.room.removeParticipant(p, "media session closed after hand-over")
		return
	}
	p.log.Info("media session ended", "session", s.id)
	if changed {
		p.room.tracksChanged()
	}
}

func sessionID(s *session) string {
	if s == nil {
		return ""
	}
	return s.id
}

func (p *participant) isClosed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// close ends the participant's media; safe to call twice.
func (p *participant) close() {
	p.closeOnce.Do(func() {
		close(p.done)
		p.room.mu.Lock()
		s := p.session
		p.session = nil
		p.room.mu.Unlock()
		if s != nil {
			s.close()
		}
	})
}
