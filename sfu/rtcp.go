package sfu

import (
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/sfu/forward"
)

// readSenderRTCP reads a subscriber's RTCP for one track: NACKs are
// answered from the track's packet cache, receiver reports and congestion
// feedback go to the DownTrack and its Transport, and keyframe requests to
// the publisher, throttled by the Receiver.
func readSenderRTCP(s *webrtc.RTPSender, d *forward.DownTrack) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		if wantsKeyframe(pkts) {
			d.RequestKeyframe()
		}
		d.HandleRTCP(pkts)
	}
}
