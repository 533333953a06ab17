package sfu

import (
	"reflect"
	"testing"

	"github.com/pion/webrtc/v4"
)

// A top layer the browser has not sent yet is still one the node keeps on
// (dynacast): it is known from the offer, not from packets.
func TestOfferedRIDs(t *testing.T) {
	offer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n" +
		"a=rid:f send\r\na=rid:q send\r\na=rid:h send\r\na=rid:x recv\r\na=simulcast:send q;h;f\r\n"
	d := &webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}
	if got := offeredRIDs(d, "1"); !reflect.DeepEqual(got, []string{"q", "h", "f"}) {
		t.Fatalf("video: %v", got)
	}
	if got := offeredRIDs(d, "0"); got != nil {
		t.Fatalf("audio: %v", got)
	}
	if got := offeredRIDs(nil, "1"); got != nil {
		t.Fatalf("no description: %v", got)
	}
}
