package sfu

import (
	"sort"
	"strings"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/sfu/forward"
)

// publish applies a publish offer (the first, or a renegotiation that adds
// or removes tracks) and returns the answer SDP. The same offer again (a
// client resending it after a reconnect) gets the same answer.
func (s *session) publish(offerSDP string, tracks []events.TrackInfo) (string, error) {
	p := s.p
	r := p.room
	r.mu.Lock()
	for _, t := range tracks {
		s.declared[t.TrackID] = t.Source
	}
	pc := s.pub
	r.mu.Unlock()
	if pc != nil {
		if rd, ld := pc.RemoteDescription(), pc.LocalDescription(); rd != nil && ld != nil && rd.SDP == offerSDP {
			return ld.SDP, nil
		}
	}

	fresh := pc == nil
	if fresh {
		var err error
		var in *publishIn
		pc, in, err = r.node.media.newPublisher()
		if err != nil {
			return "", err
		}
		pc.OnTrack(func(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) { s.onTrack(pc, in, t, recv) })
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			if st != webrtc.PeerConnectionStateFailed && st != webrtc.PeerConnectionStateClosed {
				return
			}
			// Its tracks end with it (subscribers are renegotiated without
			// them), and the next publish offer starts a fresh connection.
			r.mu.Lock()
			current := s.pub == pc
			if current {
				s.pub = nil
			}
			r.mu.Unlock()
			if st == webrtc.PeerConnectionStateFailed {
				p.log.Warn("publish connection failed; closing it", "session", s.id)
				go pc.Close()
			} else if current && !s.isClosed() {
				p.log.Info("publish connection closed by the client", "session", s.id)
			}
		})
	}
	fail := func(err error) (string, error) {
		if fresh {
			_ = pc.Close()
		}
		return "", events.Errorf(events.CodeBadRequest, "publish offer: %v", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(err)
	}
	waitGathering(gathered)
	if fresh {
		r.mu.Lock()
		closed := r.parts[p.id] != p || p.session != s
		if !closed {
			s.pub = pc
		}
		r.mu.Unlock()
		if closed {
			_ = pc.Close()
			return "", events.Errorf(events.CodeNotJoined, "media session ended")
		}
	}
	s.flushCandidates(events.TargetPublish, pc)
	return pc.LocalDescription().SDP, nil
}

// onTrack starts forwarding a track the participant began to publish. A
// simulcast track arrives as one remote track per layer (RID): the first
// makes the published track, each later one joins it as a layer, fed to
// the track's subscribers at once.
func (s *session) onTrack(pc *webrtc.PeerConnection, in *publishIn, t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p := s.p
	r := p.room
	r.mu.Lock()
	source := s.declared[t.ID()]
	if source == "" {
		source = p.guessSource(t.Kind())
		p.log.Warn("track not declared in publish offer; guessing its source", "track", t.ID(), "source", source)
	}
	key := trackKey{p.id, source}
	r.mu.Unlock()

	var levelExt uint8
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI {
			levelExt = uint8(e.ID)
		}
	}
	ssrc := uint32(t.SSRC())
	src, unbind := in.bind(t, recv)
	fr := forward.NewReceiver(src, forward.Options{
		Kind: t.Kind(), Codec: t.Codec().RTPCodecCapability, AudioLevelExt: levelExt, RID: t.RID(),
		Keyframe: func() {
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		},
	})
	if p.current() != s {
		unbind() // its queue ends with the track, unread
		return
	}
	pub := &published{key: key, recv: fr, info: subscriberTrack(p.id, source, t.Kind()), pc: pc}
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == recv {
			pub.mid = tr.Mid()
		}
	}
	if t.RID() != "" {
		pub.offered = offeredRIDs(pc.RemoteDescription(), pub.mid)
		if len(pub.offered) == 0 {
			// Unparsable, or no a=rid lines: a layer is known only once its
			// packets arrive, and one held back may be paused by dynacast.
			p.log.Warn("simulcast track whose offer names no layers", "source", source, "rid", t.RID(), "mid", pub.mid)
		}
	}
	if t.RID() == "" {
		r.addTrack(pub)
	} else {
		pub.layers.Store(&[]*forward.Receiver{fr})
		if !r.addLayer(pub, fr) {
			p.log.Info("simulcast layer published", "source", source, "rid", t.RID())
			go func() {
				if err := fr.Run(); err != nil {
					p.log.Warn("track read failed", "source", source, "rid", t.RID(), "err", err)
				}
				unbind()
				r.removeLayer(key, fr)
			}()
			return
		}
		r.announce(pub)
	}
	go func() {
		if err := fr.Run(); err != nil {
			p.log.Warn("track read failed", "source", source, "err", err)
		}
		unbind()
		if pub.layered() {
			r.removeLayer(key, fr)
		} else {
			r.removeTrack(pub)
		}
	}()
}

// offeredRIDs is the simulcast RIDs an offer declares for the media
// section mid ("a=rid:<id> send"), lowest first.
func offeredRIDs(d *webrtc.SessionDescription, mid string) []string {
	if d == nil || mid == "" {
		return nil
	}
	// Parsed from the text: SessionDescription.Unmarshal caches its result
	// in the description, and pc.RemoteDescription() is pion's own, which
	// pion reads concurrently (the race detector caught it).
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(d.SDP); err != nil {
		return nil
	}
	var rids []string
	for _, m := range sd.MediaDescriptions {
		if v, _ := m.Attribute("mid"); v != mid {
			continue
		}
		for _, a := range m.Attributes {
			if f := strings.Fields(a.Value); a.Key == "rid" && len(f) >= 2 && f[1] == "send" {
				rids = append(rids, f[0])
			}
		}
	}
	sort.SliceStable(rids, func(i, j int) bool { return ridRank(rids[i]) < ridRank(rids[j]) })
	return rids
}

// guessSource names an undeclared track: microphone and camera first, then
// the screen share's. Call with room.mu.
func (p *participant) guessSource(kind webrtc.RTPCodecType) events.Source {
	first, second := events.SourceMicrophone, events.SourceScreenAudio
	if kind == webrtc.RTPCodecTypeVideo {
		first, second = events.SourceCamera, events.SourceScreen
	}
	if p.room.tracks[trackKey{p.id, first}] == nil {
		return first
	}
	return second
}
