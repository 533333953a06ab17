package sfu

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/events/push"
	"github.com/veet-dev/veet/sfu/forward"
)

const (
	outQueue       = 64
	gatherTimeout  = 3 * time.Second
	pushTimeout    = 5 * time.Second
	enqueueTimeout = 2 * time.Second
	offerAttempts  = 3
)

// down is one track forwarded to a participant.
type down struct {
	pub    *published
	dt     *forward.DownTrack
	sender *webrtc.RTPSender
}

// participant is one person's media on the node: the PeerConnection they
// publish on and the one they receive everyone else on.
type participant struct {
	id   events.ParticipantID
	room *room
	log  *slog.Logger
	sub  *webrtc.PeerConnection
	tr   *forward.Transport // sub's send side
	// conn is where events go; set once (a new socket means a new join).
	conn events.ConnRef

	// Guarded by room.mu.
	// joinSeq is the room seq its join command carried: a set_muted older
	// than that describes an earlier session and is stale.
	joinSeq  uint64
	pub      *webrtc.PeerConnection
	declared map[string]events.Source // browser track id → source, from publish offers
	downs    map[trackKey]*down
	pending  map[events.PeerTarget][]webrtc.ICECandidateInit

	// negMu orders the subscribe connection's offer/answer steps.
	negMu     sync.Mutex
	offered   bool // an offer was ever sent
	needOffer bool // tracks changed while an offer was out
	offerSeq  int  // offers made, so a retry knows its offer is still the last

	negotiate chan struct{}
	out       chan events.Event
	unsent    atomic.Int32 // events queued and not yet pushed
	stalled   atomic.Bool  // an event was dropped since the last push went through
	done      chan struct{}
	closeOnce sync.Once
	drained   chan struct{} // closed when the sender goroutine exits
}

func newParticipant(r *room, id events.ParticipantID, conn events.ConnRef) (*participant, error) {
	sub, tr, err := r.node.media.newSubscriber()
	if err != nil {
		return nil, err
	}
	p := &participant{
		id: id, room: r, log: r.log.With("participant", id), sub: sub, tr: tr, conn: conn,
		declared: map[string]events.Source{}, downs: map[trackKey]*down{},
		pending:   map[events.PeerTarget][]webrtc.ICECandidateInit{},
		negotiate: make(chan struct{}, 1), out: make(chan events.Event, outQueue),
		done: make(chan struct{}), drained: make(chan struct{}),
	}
	sub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			// Keyframes asked for when the tracks were bound may have been
			// sent before the connection could carry them.
			p.requestKeyframes()
		case webrtc.PeerConnectionStateFailed:
			p.log.Warn("subscribe connection failed")
		}
	})
	go p.sendLoop()
	go p.negotiateLoop()
	return p, nil
}

// send queues an event for the participant's WebSocket, in order. A client
// that cannot keep up for enqueueTimeout loses the event, loudly; until one
// of its pushes goes through again, it loses further events at once, so a
// stuck endpoint does not hold up its room's broadcasts or the node's
// commands enqueueTimeout at a time.
func (p *participant) send(e events.Event) {
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

func (p *participant) sendLoop() {
	defer close(p.drained)
	for {
		var e events.Event
		select {
		case e = <-p.out:
		case <-p.done:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
		err := push.Send(ctx, p.room.node.cfg.Push, p.conn, e)
		cancel()
		p.unsent.Add(-1)
		switch {
		case errors.Is(err, push.ErrGone):
			p.log.Info("connection gone; closing media", "type", e.EventType())
			go p.room.removeParticipant(p, "connection gone")
			return
		case err != nil:
			p.log.Warn("push failed", "type", e.EventType(), "err", err)
		default:
			p.stalled.Store(false)
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

// requestKeyframes asks the publisher of every video the participant
// receives for a keyframe.
func (p *participant) requestKeyframes() {
	p.room.mu.Lock()
	recvs := make([]*forward.Receiver, 0, len(p.downs))
	for _, d := range p.downs {
		recvs = append(recvs, d.pub.recv)
	}
	p.room.mu.Unlock()
	for _, r := range recvs {
		r.RequestKeyframe()
	}
}

// renegotiate asks for a new subscribe offer; requests coalesce.
func (p *participant) renegotiate() {
	select {
	case p.negotiate <- struct{}{}:
	default:
	}
}

func (p *participant) negotiateLoop() {
	for {
		select {
		case <-p.done:
			return
		case <-p.negotiate:
			if err := p.offer(); err != nil && !p.isClosed() {
				p.log.Warn("subscribe offer failed", "err", err)
			}
		}
	}
}

// offer brings the subscribe connection's senders in line with the room's
// tracks and sends a SubscribeOffer when anything changed. With an offer
// still unanswered it only notes that another is due.
func (p *participant) offer() error {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.sub.SignalingState() != webrtc.SignalingStateStable {
		p.needOffer = true
		return nil
	}
	tracks, changed, err := p.syncDowns()
	if changed {
		// Owed until an offer is out: a failure from here on leaves the
		// senders changed, and the next attempt must still offer them.
		p.needOffer = true
	}
	if err != nil {
		return err
	}
	if !p.needOffer || (len(tracks) == 0 && !p.offered) {
		return nil
	}
	offer, err := p.sub.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(p.sub)
	if err := p.sub.SetLocalDescription(offer); err != nil {
		return err
	}
	waitGathering(gathered)
	p.needOffer = false
	p.offered = true
	p.offerSeq++
	// The queued event is marshalled (and marked) by the sender goroutine:
	// keep a separate copy for resending.
	offerEv := events.SubscribeOffer{SDP: p.sub.LocalDescription().SDP, Tracks: tracks}
	first := offerEv
	p.send(&first)
	p.watchOffer(p.offerSeq, offerEv, 1)
	return nil
}

// watchOffer sends an offer again while it is unanswered: after the node's
// offerRetry a few times, then every four. Its push may have been lost, or
// the client's answer; a client that did get it answers the copy the same
// way. So a participant is never left for good without the room's tracks.
func (p *participant) watchOffer(seq int, e events.SubscribeOffer, attempt int) {
	wait := p.room.node.offerRetry
	if attempt >= offerAttempts {
		wait *= 4
	}
	time.AfterFunc(wait, func() {
		p.negMu.Lock()
		defer p.negMu.Unlock()
		if p.isClosed() || p.offerSeq != seq || p.sub.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			return
		}
		switch {
		case attempt < offerAttempts:
			p.log.Info("subscribe offer unanswered; sending it again", "attempt", attempt+1)
		case attempt == offerAttempts:
			p.log.Warn("subscribe offer never answered; sending it again less often", "attempts", attempt)
		}
		again := e
		p.send(&again)
		p.watchOffer(seq, e, attempt+1)
	})
}

// syncDowns adds a sender for every track of the others the participant
// does not get yet and removes those whose track ended. It returns what the
// participant receives after the change.
func (p *participant) syncDowns() ([]events.Track, bool, error) {
	r := p.room
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for k, d := range p.downs {
		if r.tracks[k] != d.pub {
			d.pub.recv.RemoveDown(d.dt)
			if err := p.sub.RemoveTrack(d.sender); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
				p.log.Warn("remove sender", "err", err)
			}
			delete(p.downs, k)
			changed = true
		}
	}
	for k, pub := range r.tracks {
		if k.pid == p.id || p.downs[k] != nil {
			continue
		}
		recv := pub.recv
		dt := p.tr.NewDownTrack(recv, pub.info.TrackID, pub.info.StreamID, recv.RequestKeyframe)
		sender, err := p.sub.AddTrack(dt)
		if err != nil {
			return nil, changed, err
		}
		recv.AddDown(dt)
		p.downs[k] = &down{pub: pub, dt: dt, sender: sender}
		go readSenderRTCP(sender, dt)
		changed = true
	}
	tracks := make([]events.Track, 0, len(p.downs))
	for _, d := range p.downs {
		t := d.pub.info
		t.Muted = r.muted[d.pub.key]
		tracks = append(tracks, t)
	}
	sortTracks(tracks)
	return tracks, changed, nil
}

// answer applies the participant's answer to the last subscribe offer.
func (p *participant) answer(sdp string) error {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.sub.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		if p.offered {
			// A client answers a resent copy of an offer too: its answer to
			// the first one may just have been slow.
			p.log.Info("subscribe answer ignored: no offer is waiting")
			return nil
		}
		return events.Errorf(events.CodeBadRequest, "no subscribe offer is waiting for an answer")
	}
	if mediaSections(sdp) < mediaSections(p.sub.PendingLocalDescription().SDP) {
		// An answer has one section per section of its offer: this one is
		// for an earlier offer (a resent copy answered late) and must not
		// stand for the offer that added tracks since.
		p.log.Info("subscribe answer to an earlier offer ignored")
		return nil
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return events.Errorf(events.CodeBadRequest, "subscribe answer: %v", err)
	}
	p.flushCandidates(events.TargetSubscribe, p.sub)
	if p.needOffer {
		p.renegotiate()
	}
	return nil
}

// mediaSections counts an SDP's m= lines.
func mediaSections(sdp string) int {
	n := strings.Count(sdp, "\nm=")
	if strings.HasPrefix(sdp, "m=") {
		n++
	}
	return n
}

// flushCandidates adds candidates that arrived before the connection had
// the remote description they belong to.
func (p *participant) flushCandidates(target events.PeerTarget, pc *webrtc.PeerConnection) {
	p.room.mu.Lock()
	cands := p.pending[target]
	delete(p.pending, target)
	p.room.mu.Unlock()
	for _, c := range cands {
		if err := pc.AddICECandidate(c); err != nil {
			p.log.Warn("queued candidate refused", "target", target, "err", err)
		}
	}
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
		pub := p.pub
		downs := p.downs
		p.downs = map[trackKey]*down{}
		p.room.mu.Unlock()
		for _, d := range downs {
			d.pub.recv.RemoveDown(d.dt)
		}
		// Closing waits for pion's goroutines; nobody needs to wait for it.
		go func() {
			if pub != nil {
				_ = pub.Close()
			}
			_ = p.sub.Close()
		}()
	})
}

func waitGathering(done <-chan struct{}) {
	t := time.NewTimer(gatherTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
