package sfu

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/sfu/bwe"
	"github.com/veet-dev/veet/sfu/forward"
)

const (
	gatherTimeout = 3 * time.Second
	offerAttempts = 3
)

// down is one track forwarded to a participant.
type down struct {
	pub    *published
	dt     *forward.DownTrack
	sender *webrtc.RTPSender
	mid    string // its transceiver's, once offered (guarded by room.mu)
}

// detach stops every layer of the track feeding the DownTrack.
func (d *down) detach() { d.dt.Stop() }

// session is one media session of a participant (events.JoinRequest.Session):
// the connection they publish on and the one they receive everyone else on.
// Every event it sends names it, and every command must: whatever belongs to
// another session is stale and dropped.
type session struct {
	id  string
	p   *participant
	sub *webrtc.PeerConnection
	tr  *forward.Transport // sub's send side (newSubscriber)
	est *bwe.Estimator     // tr's downlink, from the subscriber's feedback

	// allocMu orders allocations (the room loop's, a video_sizes') and
	// guards what they keep: the subscriber's tile heights by mid (nil
	// until its first video_sizes) and the last receiver-report loss.
	allocMu   sync.Mutex
	sizes     map[string]int
	lastLoss  float64
	raisedAt  time.Time     // the last step up of a layer
	raiseWait time.Duration // before the next (allocate)
	judged    bool          // whether the last step was judged
	realloc   atomic.Bool   // an allocation after an estimate's drop is due

	// Guarded by room.mu.
	pub      *webrtc.PeerConnection
	declared map[string]events.Source // browser track id → source, from publish offers
	downs    map[trackKey]*down
	pending  map[events.PeerTarget][]webrtc.ICECandidateInit

	// negMu orders the subscribe connection's offer/answer steps.
	negMu     sync.Mutex
	offered   bool // an offer was ever sent
	needOffer bool // tracks changed while an offer was out
	offerSeq  int  // offers made; the waiting one's id is offerID(offerSeq)
	waiting   *events.SubscribeOffer

	negotiate chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newSession(p *participant, id string) (*session, error) {
	sub, tr, err := p.room.node.media.newSubscriber()
	if err != nil {
		return nil, err
	}
	s := &session{
		id: id, p: p, sub: sub, tr: tr, est: bwe.New(tr.Sent, initialEstimate, minEstimate, maxEstimate),
		declared: map[string]events.Source{}, downs: map[trackKey]*down{},
		pending:   map[events.PeerTarget][]webrtc.ICECandidateInit{},
		negotiate: make(chan struct{}, 1), done: make(chan struct{}),
	}
	s.est.OnDrop(func() {
		if s.realloc.CompareAndSwap(false, true) {
			go func() {
				s.realloc.Store(false)
				s.allocate(p.room.view.Load())
			}()
		}
	})
	tr.OnFeedback(func(fb []byte) { s.est.OnFeedback(fb, time.Now()) })
	sub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			// Keyframes asked for when the tracks were bound may have been
			// sent before the connection could carry them.
			s.requestKeyframes()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			if !s.isClosed() {
				if st == webrtc.PeerConnectionStateFailed {
					p.log.Warn("subscribe connection failed", "session", id)
				}
				go p.sessionEnded(s)
			}
		}
	})
	go s.negotiateLoop()
	return s, nil
}

// send queues an event of this session for the participant.
func (s *session) send(e events.Event) { s.p.send(events.WithSession(s.id, e)) }

func (s *session) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// close ends the session's media; safe to call twice.
func (s *session) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		r := s.p.room
		r.mu.Lock()
		pub := s.pub
		downs := s.downs
		s.downs = map[trackKey]*down{}
		r.mu.Unlock()
		for _, d := range downs {
			d.detach()
		}
		s.tr.Close()
		// Closing waits for pion's goroutines; nobody needs to wait for it.
		go func() {
			if pub != nil {
				_ = pub.Close()
			}
			_ = s.sub.Close()
		}()
	})
}

// requestKeyframes asks the publisher of every video the session receives
// for a keyframe.
func (s *session) requestKeyframes() {
	r := s.p.room
	r.mu.Lock()
	dts := make([]*forward.DownTrack, 0, len(s.downs))
	for _, d := range s.downs {
		dts = append(dts, d.dt)
	}
	r.mu.Unlock()
	for _, dt := range dts {
		dt.RequestKeyframe()
	}
}

// renegotiate asks for a new subscribe offer; requests coalesce.
func (s *session) renegotiate() {
	select {
	case s.negotiate <- struct{}{}:
	default:
	}
}

func (s *session) negotiateLoop() {
	for {
		select {
		case <-s.done:
			return
		case <-s.negotiate:
			if err := s.offer(); err != nil && !s.isClosed() {
				s.p.log.Warn("subscribe offer failed", "session", s.id, "err", err)
			}
		}
	}
}

func offerID(seq int) string { return fmt.Sprintf("o%d", seq) }

// offer brings the subscribe connection's senders in line with the room's
// tracks and sends a SubscribeOffer when anything changed. With an offer
// still unanswered it only notes that another is due.
func (s *session) offer() error {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	if s.sub.SignalingState() != webrtc.SignalingStateStable {
		s.needOffer = true
		return nil
	}
	changed, err := s.syncDowns()
	if changed {
		// Owed until an offer is out: a failure from here on leaves the
		// senders changed, and the next attempt must still offer them.
		s.needOffer = true
	}
	if err != nil {
		return err
	}
	if !s.needOffer || (s.downCount() == 0 && !s.offered) {
		return nil
	}
	offer, err := s.sub.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(s.sub)
	if err := s.sub.SetLocalDescription(offer); err != nil {
		return err
	}
	waitGathering(gathered)
	s.needOffer = false
	s.offered = true
	s.offerSeq++
	s.waiting = &events.SubscribeOffer{OfferID: offerID(s.offerSeq), SDP: s.sub.LocalDescription().SDP, Tracks: s.received()}
	s.resendWaiting()
	s.watchOffer(s.offerSeq, 1)
	return nil
}

// resendWaiting sends the offer waiting for its answer (again). Each push
// gets its own copy: the sender goroutine marks the event it marshals.
// Call with negMu.
func (s *session) resendWaiting() {
	if s.waiting == nil {
		return
	}
	e := *s.waiting
	s.send(&e)
}

// watchOffer sends an offer again while it is unanswered: after the node's
// offerRetry a few times, then every four. Its push may have been lost, or
// the client's answer; a client that did get it answers the copy the same
// way. So a participant is never left for good without the room's tracks.
func (s *session) watchOffer(seq int, attempt int) {
	wait := s.p.room.node.offerRetry
	if attempt >= offerAttempts {
		wait *= 4
	}
	time.AfterFunc(wait, func() {
		s.negMu.Lock()
		defer s.negMu.Unlock()
		if s.isClosed() || s.offerSeq != seq || s.waiting == nil {
			return
		}
		switch {
		case attempt < offerAttempts:
			s.p.log.Info("subscribe offer unanswered; sending it again", "session", s.id, "attempt", attempt+1)
		case attempt == offerAttempts:
			s.p.log.Warn("subscribe offer never answered; sending it again less often", "session", s.id, "attempts", attempt)
		}
		s.resendWaiting()
		s.watchOffer(seq, attempt+1)
	})
}

// syncDowns adds a sender for every track of the others the session does
// not get yet and removes those whose track ended; it reports whether
// anything changed.
func (s *session) syncDowns() (bool, error) {
	r := s.p.room
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for k, d := range s.downs {
		if r.tracks[k] != d.pub {
			d.detach()
			if err := s.sub.RemoveTrack(d.sender); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
				s.p.log.Warn("remove sender", "err", err)
			}
			delete(s.downs, k)
			changed = true
		}
	}
	for k, pub := range r.tracks {
		if k.pid == s.p.id || s.downs[k] != nil {
			continue
		}
		var dt *forward.DownTrack
		if pub.layered() {
			// Sends nothing until the allocator picks its layer.
			dt = s.tr.NewLayeredDownTrack(pub.recv, pub.info.TrackID, pub.info.StreamID, func() { dt.RequestKeyframe() })
		} else {
			dt = s.tr.NewDownTrack(pub.recv, pub.info.TrackID, pub.info.StreamID, pub.recv.RequestKeyframe)
		}
		sender, err := s.sub.AddTrack(dt)
		if err != nil {
			return changed, err
		}
		// A layered DownTrack joins a layer's list when the allocator
		// targets it; one without simulcast is on its only layer now.
		pub.recv.AddDown(dt)
		s.downs[k] = &down{pub: pub, dt: dt, sender: sender}
		go readSenderRTCP(sender, dt)
		changed = true
	}
	return changed, nil
}

func (s *session) downCount() int {
	s.p.room.mu.Lock()
	defer s.p.room.mu.Unlock()
	return len(s.downs)
}

// received is what the session receives, each track with the mid of its
// transceiver as the local description (just set) has it.
func (s *session) received() []events.Track {
	mids := map[*webrtc.RTPSender]string{}
	for _, t := range s.sub.GetTransceivers() {
		if t.Sender() != nil {
			mids[t.Sender()] = t.Mid()
		}
	}
	r := s.p.room
	r.mu.Lock()
	defer r.mu.Unlock()
	tracks := make([]events.Track, 0, len(s.downs))
	for _, d := range s.downs {
		t := d.pub.info
		t.Muted = r.muted[d.pub.key]
		t.Mid = mids[d.sender]
		d.mid = t.Mid
		tracks = append(tracks, t)
	}
	sortTracks(tracks)
	return tracks
}

// answer applies the client's answer to the offer waiting for it; an answer
// naming any other offer (an earlier one, answered late) is ignored.
func (s *session) answer(offer, sdp string) error {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	if s.waiting == nil || s.waiting.OfferID != offer || s.sub.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		s.p.log.Debug("subscribe answer ignored: not for the offer waiting", "session", s.id, "offer", offer)
		return nil
	}
	if err := s.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return events.Errorf(events.CodeBadRequest, "subscribe answer: %v", err)
	}
	s.waiting = nil
	s.flushCandidates(events.TargetSubscribe, s.sub)
	if s.needOffer {
		s.renegotiate()
	}
	return nil
}

// resume re-sends what a client that reconnected its socket to the same
// session may have missed: the offer waiting for its answer.
func (s *session) resume() {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	s.resendWaiting()
}

// candidate adds a client's ICE candidate, or keeps it until the
// connection it belongs to has its remote description.
func (s *session) candidate(target events.PeerTarget, c *events.ICECandidate) error {
	init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	r := s.p.room
	r.mu.Lock()
	pc := s.sub
	if target == events.TargetPublish {
		pc = s.pub
	}
	if pc == nil || pc.RemoteDescription() == nil {
		if len(s.pending[target]) >= 64 {
			r.mu.Unlock()
			return events.Errorf(events.CodeBadRequest, "too many candidates before the %s description", target)
		}
		s.pending[target] = append(s.pending[target], init)
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	if c.Candidate == "" {
		return nil // end of candidates
	}
	if err := pc.AddICECandidate(init); err != nil {
		return events.Errorf(events.CodeBadRequest, "candidate: %v", err)
	}
	return nil
}

// flushCandidates adds candidates that arrived before the connection had
// the remote description they belong to.
func (s *session) flushCandidates(target events.PeerTarget, pc *webrtc.PeerConnection) {
	r := s.p.room
	r.mu.Lock()
	cands := s.pending[target]
	delete(s.pending, target)
	r.mu.Unlock()
	for _, c := range cands {
		if c.Candidate == "" {
			continue
		}
		if err := pc.AddICECandidate(c); err != nil {
			s.p.log.Warn("queued candidate refused", "target", target, "err", err)
		}
	}
}

func waitGathering(done <-chan struct{}) {
	t := time.NewTimer(gatherTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
