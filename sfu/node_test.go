package sfu_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
)

func TestRedisRoomForwardsEveryoneToEveryone(t *testing.T) {
	h := start(t)
	cs := []*simpeer.Client{h.client(), h.client(), h.client()}
	for _, c := range cs {
		h.joinAndPublish(c)
	}
	for _, sub := range cs {
		for _, pub := range cs {
			if sub != pub {
				eventually(t, "three publishers", func() error { return receivesFrom(sub, pub) })
			}
		}
	}
	// Nobody receives their own tracks back.
	for _, c := range cs {
		if in := c.In(trackID(c, events.SourceCamera)); in != nil {
			t.Errorf("%s receives its own camera", c.ID)
		}
	}

	// The node reports its load in the registry.
	eventually(t, "heartbeat load", func() error {
		n, err := h.store.Node(context.Background(), h.node.ID())
		if err != nil || n == nil {
			return fmt.Errorf("registry entry: %v %v", n, err)
		}
		if n.Load.Participants != 3 || n.Load.Tracks != 6 || n.Load.Rooms != 1 || n.State != events.NodeServing {
			return fmt.Errorf("registry says %+v", n)
		}
		return nil
	})

	// A late joiner gets every track, each video with a fresh keyframe the
	// node asked the publishers for.
	late := h.client()
	h.joinAndPublish(late)
	for _, pub := range cs {
		eventually(t, "late joiner", func() error { return receivesFrom(late, pub) })
	}
	for _, sub := range cs {
		eventually(t, "late joiner's tracks", func() error { return receivesFrom(sub, late) })
	}

	// The room-wide Tracks event lists all eight tracks with the id convention.
	eventually(t, "tracks event", func() error {
		tr := cs[0].Tracks()
		if len(tr) != 8 {
			return fmt.Errorf("tracks event has %d tracks", len(tr))
		}
		for _, x := range tr {
			if x.StreamID != string(x.ParticipantID) || x.TrackID != string(x.ParticipantID)+"-"+string(x.Source) {
				return fmt.Errorf("track %+v breaks the id convention", x)
			}
		}
		return nil
	})

	// One leaves: the others are renegotiated without its tracks, and its
	// media stops.
	gone := cs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gone.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []*simpeer.Client{cs[1], cs[2], late} {
		eventually(t, "renegotiation after leave", func() error {
			offers := sub.Offers()
			last := offers[len(offers)-1]
			if len(last.Tracks) != 4 {
				return fmt.Errorf("%s's last offer has %d tracks", sub.ID, len(last.Tracks))
			}
			for _, x := range last.Tracks {
				if x.ParticipantID == gone.ID {
					return fmt.Errorf("%s's last offer still has %s", sub.ID, x.TrackID)
				}
			}
			if strings.Contains(last.SDP, string(gone.ID)) {
				return fmt.Errorf("%s's last offer SDP still names %s", sub.ID, gone.ID)
			}
			if sub.SubscribeState() != webrtc.PeerConnectionStateConnected {
				return fmt.Errorf("subscribe connection is %s", sub.SubscribeState())
			}
			return nil
		})
		if in := sub.In(trackID(gone, events.SourceCamera)); in != nil && flowing(in) {
			t.Errorf("%s still gets the camera of %s who left", sub.ID, gone.ID)
		}
		if err := receivesFrom(sub, cs[1+(slices.Index(cs[1:], sub)+1)%2]); sub != late && err != nil {
			t.Errorf("after a leave: %v", err)
		}
	}
}

func TestRedisMutedSourceStopsAndResumes(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	cam := sub.In(trackID(pub, events.SourceCamera))
	mic := sub.In(trackID(pub, events.SourceMicrophone))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pub.Command(ctx, events.Command{Type: events.CmdSetMuted, Source: events.SourceCamera, Muted: true}); err != nil {
		t.Fatal(err)
	}
	stops(t, "camera", cam)
	if !flowing(mic) {
		t.Errorf("muting the camera stopped the microphone")
	}
	eventually(t, "tracks event says muted", func() error {
		for _, x := range sub.Tracks() {
			if x.TrackID == trackID(pub, events.SourceCamera) && x.Muted {
				return nil
			}
		}
		return fmt.Errorf("tracks: %+v", sub.Tracks())
	})

	keys := cam.Keyframes.Load()
	if err := pub.Command(ctx, events.Command{Type: events.CmdSetMuted, Source: events.SourceCamera, Muted: false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "camera resumes with a keyframe", func() error {
		if !flowing(cam) {
			return fmt.Errorf("camera packets do not arrive")
		}
		if cam.Keyframes.Load() == keys {
			return fmt.Errorf("no keyframe after unmute")
		}
		return nil
	})
	// Sequence numbers stay contiguous across the mute: nothing to NACK.
	if lost := int64(cam.Packets.Load()) - int64(cam.Unique.Load()); lost > 20 {
		t.Errorf("%d duplicate packets around the mute", lost)
	}
}

// A host's mute and the participant's own unmute are queued by separate
// Lambdas, so they may arrive in either order: the node applies each source's
// set_muted in room-seq order and ignores an older one that comes late.
func TestRedisStaleSetMutedIsIgnored(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	mic := sub.In(trackID(pub, events.SourceMicrophone))
	cam := sub.In(trackID(pub, events.SourceCamera))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range []events.Command{
		{Type: events.CmdSetMuted, Source: events.SourceMicrophone, Muted: false, Seq: 12}, // the unmute overtook...
		{Type: events.CmdSetMuted, Source: events.SourceMicrophone, Muted: true, Seq: 11},  // ...the mute before it
		{Type: events.CmdSetMuted, Source: events.SourceCamera, Muted: true, Seq: 13},
	} {
		if err := pub.Command(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// Commands are handled in order: once the camera stops, the stale mute
	// was handled too.
	stops(t, "camera", cam)
	if !flowing(mic) {
		t.Fatal("a stale mute (seq 11 after seq 12) stopped the microphone")
	}
}

func TestRedisBadCommandsGetErrorsAndNodeKeepsServing(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stranger := h.client() // never joined
	other := h.clientIn(events.NewRoomCode())
	mid := "0"
	cand := &events.ICECandidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", SDPMid: &mid}
	cases := []struct {
		name string
		c    *simpeer.Client
		cmd  events.Command
		code events.Code
	}{
		{"malformed publish SDP", sub, events.Command{Type: events.CmdPublishOffer, RequestID: "bad-sdp", SDP: "v=0\r\nthis is not sdp\r\n"}, events.CodeBadRequest},
		{"subscribe answer with nothing offered", stranger, events.Command{Type: events.CmdSubscribeAnswer, RequestID: "no-offer", SDP: "v=0\r\n"}, events.CodeNotJoined},
		{"candidate for an unknown participant", stranger, events.Command{Type: events.CmdCandidate, RequestID: "who", Target: events.TargetPublish, Candidate: cand}, events.CodeNotJoined},
		{"command for an unknown room", other, events.Command{Type: events.CmdSetMuted, RequestID: "where", Source: events.SourceCamera, Muted: true}, events.CodeNotJoined},
		{"invalid command", sub, events.Command{Type: events.CmdSetMuted, RequestID: "what", Source: "feet"}, events.CodeBadRequest},
		{"garbage candidate", sub, events.Command{Type: events.CmdCandidate, RequestID: "garbage", Target: events.TargetSubscribe, Candidate: &events.ICECandidate{Candidate: "candidate:nonsense"}}, events.CodeBadRequest},
	}
	for _, tc := range cases {
		if err := tc.c.Command(ctx, tc.cmd); err != nil {
			t.Fatal(err)
		}
		eventually(t, tc.name, func() error {
			for _, e := range tc.c.Errors() {
				if e.ID == tc.cmd.RequestID {
					if e.Code != tc.code || e.RequestID != "gw-"+tc.cmd.RequestID || e.Message == "" {
						return fmt.Errorf("error event %+v, want code %s", e, tc.code)
					}
					return nil
				}
			}
			return fmt.Errorf("no error event for %s; got %+v", tc.cmd.RequestID, tc.c.Errors())
		})
	}
	// The node still forwards, and still takes new participants.
	for _, in := range sub.Ins() {
		if !flowing(in) {
			t.Errorf("track %s stopped after bad commands", in.ID)
		}
	}
	late := h.client()
	h.joinAndPublish(late)
	eventually(t, "join after bad commands", func() error { return receivesFrom(late, pub) })
}

func TestRedisActiveSpeakersFollowAudioLevel(t *testing.T) {
	h := start(t)
	a, b, c := h.client(), h.client(), h.client()
	var mics []*simpeer.Out
	for _, x := range []*simpeer.Client{a, b, c} {
		h.joinAndPublish(x)
		for _, o := range x.Outs() {
			if o.Source == events.SourceMicrophone {
				mics = append(mics, o)
			}
		}
	}
	last := func(x *simpeer.Client) []events.ParticipantID {
		s := x.Speakers()
		if len(s) == 0 {
			return nil
		}
		return s[len(s)-1]
	}
	mics[1].Level.Store(10) // b talks (-10 dBov); the others are silent
	eventually(t, "b speaks", func() error {
		if got := last(c); !slices.Equal(got, []events.ParticipantID{b.ID}) {
			return fmt.Errorf("active speakers %v, want [%s]", got, b.ID)
		}
		return nil
	})
	mics[0].Level.Store(5) // a talks louder
	eventually(t, "a and b speak, a loudest", func() error {
		if got := last(c); !slices.Equal(got, []events.ParticipantID{a.ID, b.ID}) {
			return fmt.Errorf("active speakers %v, want [%s %s]", got, a.ID, b.ID)
		}
		return nil
	})
	mics[0].Level.Store(127)
	mics[1].Level.Store(127)
	eventually(t, "silence", func() error {
		if got := last(c); len(got) != 0 {
			return fmt.Errorf("active speakers %v, want none", got)
		}
		return nil
	})
}

// Short loud bursts between silences (Chromium's fake microphone beeps about
// 100 ms a second; speech is syllables and pauses) must still make a speaker.
func TestRedisActiveSpeakerFromShortBursts(t *testing.T) {
	h := start(t)
	a, b := h.client(), h.client()
	h.joinAndPublish(a)
	h.joinAndPublish(b)
	var mic *simpeer.Out
	for _, o := range b.Outs() {
		if o.Source == events.SourceMicrophone {
			mic = o
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			mic.Level.Store(10) // -10 dBov for 100 ms
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			mic.Level.Store(127) // then 900 ms of silence
			select {
			case <-stop:
				return
			case <-time.After(900 * time.Millisecond):
			}
		}
	}()
	eventually(t, "b speaks in bursts", func() error {
		s := a.Speakers()
		if len(s) == 0 || !slices.Equal(s[len(s)-1], []events.ParticipantID{b.ID}) {
			return fmt.Errorf("active speakers %v, want [%s]", s, b.ID)
		}
		return nil
	})
}

func TestRedisICETCPWhenUDPIsBlocked(t *testing.T) {
	h := start(t)
	pub := h.client()
	h.joinAndPublish(pub)
	tcpAPI, err := simpeer.NewAPIOn(webrtc.NetworkTypeTCP4)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := simpeer.New(tcpAPI, h.room, h.send)
	if err != nil {
		t.Fatal(err)
	}
	h.pusher.Attach(sub)
	t.Cleanup(sub.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sub.Join(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "media over ICE-TCP", func() error { return receivesFrom(sub, pub) })
	if n := sub.SubscribeNetwork(); n != "tcp" {
		t.Fatalf("subscribe connection runs over %q, want tcp", n)
	}
}

func TestRedisScreenShareIsOneMoreTrack(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The publisher renegotiates its publish connection to add a screen.
	if _, err := pub.Publish(ctx, videoBps, events.SourceScreen); err != nil {
		t.Fatal(err)
	}
	eventually(t, "screen share arrives", func() error {
		in := sub.In(trackID(pub, events.SourceScreen))
		if in == nil || in.Keyframes.Load() == 0 || in.StreamID != string(pub.ID) {
			return fmt.Errorf("no screen track with a keyframe (%d tracks)", len(sub.Ins()))
		}
		for _, x := range sub.Tracks() {
			if x.TrackID == trackID(pub, events.SourceScreen) && x.Kind == "video" && x.Source == events.SourceScreen {
				return nil
			}
		}
		return fmt.Errorf("tracks event lacks the screen: %+v", sub.Tracks())
	})
	// Camera and microphone keep flowing.
	if !flowing(sub.In(trackID(pub, events.SourceCamera))) || !flowing(sub.In(trackID(pub, events.SourceMicrophone))) {
		t.Fatal("camera or microphone stopped when the screen share started")
	}
}

func TestRedisH264IsForwarded(t *testing.T) {
	h := start(t)
	pub, sub := h.client(), h.client()
	pub.VideoCodec = webrtc.MimeTypeH264
	h.joinAndPublish(pub)
	h.joinAndPublish(sub)
	eventually(t, "H.264 camera", func() error {
		in := sub.In(trackID(pub, events.SourceCamera))
		if in == nil || in.Unique.Load() < 10 {
			return fmt.Errorf("camera track not flowing (%d tracks)", len(sub.Ins()))
		}
		if in.Mime != webrtc.MimeTypeH264 {
			return fmt.Errorf("camera arrives as %s", in.Mime)
		}
		return nil
	})
}

// A participant who muted their microphone and rejoins (page reload) with it
// on is heard: the old session's mute does not outlive it.
func TestRedisRejoinStartsWithItsOwnMutedSources(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Command(ctx, events.Command{Type: events.CmdSetMuted, Source: events.SourceMicrophone, Muted: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mic muted", func() error {
		for _, x := range sub.Tracks() {
			if x.TrackID == trackID(pub, events.SourceMicrophone) && x.Muted {
				return nil
			}
		}
		return fmt.Errorf("tracks: %+v", sub.Tracks())
	})

	// The same person in a new tab, microphone on.
	tab := h.client()
	tab.ID = pub.ID
	tab.Conn.ConnectionID += "-reload"
	h.pusher.Attach(tab)
	h.joinAndPublish(tab)
	eventually(t, "rejoined microphone heard", func() error {
		mic := sub.In(trackID(pub, events.SourceMicrophone))
		if mic == nil || !flowing(mic) {
			return fmt.Errorf("microphone not flowing")
		}
		for _, x := range sub.Tracks() {
			if x.TrackID == trackID(pub, events.SourceMicrophone) && !x.Muted {
				return nil
			}
		}
		return fmt.Errorf("tracks: %+v", sub.Tracks())
	})
}
