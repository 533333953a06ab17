package lambdas

import (
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
)

const seedOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=setup:actpass\r\na=rtpmap:111 opus/48000/2\r\na=ssrc:1 cname:x\r\n"

func sdpSeeds(f *testing.F) {
	f.Add(seedOffer)
	f.Add(strings.Replace(seedOffer, "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 9 UDP/TLS/RTP/SAVPF 96", 1) + "a=rtpmap:96 VP8/90000\r\na=rid:h send\r\na=simulcast:send h\r\n")
	f.Add("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	f.Add("v=0\r\nm=audio 9\r\n")
	f.Add("v=0")
}

// FuzzSDPCheck: the lambdas' SDP check never panics, and refuses with
// bad_request.
func FuzzSDPCheck(f *testing.F) {
	sdpSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		if err := checkSDP(s); err != nil && events.AsError(err).Code != events.CodeBadRequest {
			t.Fatalf("refused with %v", err)
		}
	})
}

// FuzzNodeSetRemoteDescription: an SDP the signaling plane lets through
// (events' size and v=0 check, then checkSDP) is what the SFU node gives
// pion as a remote offer; the node does no SDP parsing of its own before
// that and recovers no panic, so pion must not panic on it either. A failure
// here means checkSDP must refuse more.
func FuzzNodeSetRemoteDescription(f *testing.F) {
	sdpSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > events.MaxSDPLen || !strings.HasPrefix(s, "v=0") || checkSDP(s) != nil {
			return
		}
		// The default codecs and interceptors, as the node registers them.
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: s}) == nil {
			_, _ = pc.CreateAnswer(nil)
		}
	})
}
