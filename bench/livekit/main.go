// lkload: minimal LiveKit load generator built on server-sdk-go/v2.
//
// Publishers send synthetic VP8-shaped frames (fixed size, correct pacing,
// keyframe on start and on PLI/FIR) plus an Opus-shaped audio track.
// Subscribers auto-subscribe and count received RTP packets/bytes and
// sequence-number gaps (loss). Cumulative counters are served as JSON on
// http://<stats-addr>/stats.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/livekit/protocol/livekit"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

var (
	url       = flag.String("url", "ws://127.0.0.1:7880", "livekit url")
	apiKey    = flag.String("key", "devkey", "api key")
	apiSecret = flag.String("secret", "secret", "api secret")
	room      = flag.String("room", "bench", "room name")
	pubs      = flag.Int("pubs", 1, "number of publishing participants (they also subscribe to each other)")
	subs      = flag.Int("subs", 20, "number of subscribe-only participants")
	vbitrate  = flag.Int("vbitrate", 1500000, "video bitrate bit/s")
	fps       = flag.Int("fps", 30, "video frames per second")
	abytes    = flag.Int("abytes", 100, "audio payload bytes per 20ms packet (0 = no audio)")
	statsAddr = flag.String("stats", "127.0.0.1:9101", "stats http listen address")
	joinGap   = flag.Duration("join-gap", 50*time.Millisecond, "delay between participant joins")
)

type counters struct {
	vidPkts, vidBytes, vidExpected atomic.Int64
	audPkts, audBytes, audExpected atomic.Int64
	tracks                         atomic.Int64
	joined                         atomic.Int64
	joinErr                        atomic.Int64
	sentVidFrames, sentAudPkts     atomic.Int64
	plis                           atomic.Int64
}

var c counters

func main() {
	flag.Parse()
	lksdk.SetLogger(protoLogger.GetDiscardLogger())

	http.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		m := map[string]int64{
			"ts_ns":         time.Now().UnixNano(),
			"vid_pkts":      c.vidPkts.Load(),
			"vid_bytes":     c.vidBytes.Load(),
			"vid_expected":  c.vidExpected.Load(),
			"aud_pkts":      c.audPkts.Load(),
			"aud_bytes":     c.audBytes.Load(),
			"aud_expected":  c.audExpected.Load(),
			"tracks":        c.tracks.Load(),
			"joined":        c.joined.Load(),
			"join_err":      c.joinErr.Load(),
			"sent_vid_frms": c.sentVidFrames.Load(),
			"sent_aud_pkts": c.sentAudPkts.Load(),
			"plis":          c.plis.Load(),
		}
		json.NewEncoder(w).Encode(m)
	})
	go func() { log.Fatal(http.ListenAndServe(*statsAddr, nil)) }()

	var rooms []*lksdk.Room
	joined := func(who string, r *lksdk.Room, err error) {
		if err != nil {
			log.Printf("%s: %v", who, err)
			c.joinErr.Add(1)
			return
		}
		rooms = append(rooms, r)
		c.joined.Add(1)
		time.Sleep(*joinGap)
	}
	// Publishers first.
	for i := 0; i < *pubs; i++ {
		r, err := joinPublisher(i)
		joined(fmt.Sprintf("publisher %d", i), r, err)
	}
	for i := 0; i < *subs; i++ {
		r, err := joinSubscriber(fmt.Sprintf("sub-%d", i))
		joined(fmt.Sprintf("subscriber %d", i), r, err)
	}
	log.Printf("all joined: %d ok, %d errors", c.joined.Load(), c.joinErr.Load())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	for _, r := range rooms {
		r.Disconnect()
	}
}

func subCallback() *lksdk.RoomCallback {
	return &lksdk.RoomCallback{
		ParticipantCallback: lksdk.ParticipantCallback{
			OnTrackSubscribed: func(track *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
				c.tracks.Add(1)
				go readTrack(track)
			},
		},
	}
}

func readTrack(t *webrtc.TrackRemote) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	buf := make([]byte, 1600)
	var first, last uint16
	var ext int64 // extended highest seq - first
	started := false
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		seq := uint16(buf[2])<<8 | uint16(buf[3])
		var expDelta int64
		if !started {
			started, first, last = true, seq, seq
			expDelta = 1
			ext = 0
		} else {
			d := int16(seq - last)
			if d > 0 {
				expDelta = int64(d)
				ext += int64(d)
				last = seq
			}
		}
		_ = first
		if video {
			c.vidPkts.Add(1)
			c.vidBytes.Add(int64(n))
			c.vidExpected.Add(expDelta)
		} else {
			c.audPkts.Add(1)
			c.audBytes.Add(int64(n))
			c.audExpected.Add(expDelta)
		}
	}
}

func joinSubscriber(identity string) (*lksdk.Room, error) {
	return lksdk.ConnectToRoom(*url, lksdk.ConnectInfo{
		APIKey:              *apiKey,
		APISecret:           *apiSecret,
		RoomName:            *room,
		ParticipantIdentity: identity,
	}, subCallback(), lksdk.WithAutoSubscribe(true))
}

func joinPublisher(i int) (*lksdk.Room, error) {
	r, err := lksdk.ConnectToRoom(*url, lksdk.ConnectInfo{
		APIKey:              *apiKey,
		APISecret:           *apiSecret,
		RoomName:            *room,
		ParticipantIdentity: fmt.Sprintf("pub-%d", i),
	}, subCallback(), lksdk.WithAutoSubscribe(true))
	if err != nil {
		return nil, err
	}
	var forceKey atomic.Bool
	forceKey.Store(true)
	vt, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		lksdk.WithRTCPHandler(func(p rtcp.Packet) {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				c.plis.Add(1)
				forceKey.Store(true)
			}
		}))
	if err != nil {
		return nil, err
	}
	if _, err := r.LocalParticipant.PublishTrack(vt, &lksdk.TrackPublicationOptions{
		Name: "video", Source: livekit.TrackSource_CAMERA, VideoWidth: 1280, VideoHeight: 720,
	}); err != nil {
		return nil, err
	}
	go sendVideo(vt, &forceKey)
	if *abytes > 0 {
		at, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
		if err != nil {
			return nil, err
		}
		if _, err := r.LocalParticipant.PublishTrack(at, &lksdk.TrackPublicationOptions{
			Name: "audio", Source: livekit.TrackSource_MICROPHONE, DisableDTX: true,
		}); err != nil {
			return nil, err
		}
		go sendAudio(at)
	}
	return r, nil
}

func sendVideo(t *lksdk.LocalTrack, forceKey *atomic.Bool) {
	frameBytes := *vbitrate / 8 / *fps
	dur := time.Second / time.Duration(*fps)
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	payload := make([]byte, frameBytes)
	rnd.Read(payload)
	tk := time.NewTicker(dur)
	defer tk.Stop()
	lastKey := time.Time{}
	for range tk.C {
		frame := make([]byte, frameBytes)
		copy(frame, payload)
		if forceKey.Load() && time.Since(lastKey) > 300*time.Millisecond {
			forceKey.Store(false)
			lastKey = time.Now()
			// VP8 keyframe header: frame tag (key, show_frame), start code, 1280x720
			copy(frame, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02})
		} else {
			frame[0] = 0x11 // interframe, show_frame
		}
		if err := t.WriteSample(media.Sample{Data: frame, Duration: dur}, nil); err != nil {
			return
		}
		c.sentVidFrames.Add(1)
	}
}

func sendAudio(t *lksdk.LocalTrack) {
	dur := 20 * time.Millisecond
	payload := make([]byte, *abytes)
	rand.Read(payload)
	payload[0] = 0xfc // Opus TOC: CELT FB 20ms, stereo flag 0, code 0
	tk := time.NewTicker(dur)
	defer tk.Stop()
	for range tk.C {
		p := make([]byte, len(payload))
		copy(p, payload)
		if err := t.WriteSample(media.Sample{Data: p, Duration: dur}, nil); err != nil {
			return
		}
		c.sentAudPkts.Add(1)
	}
}
