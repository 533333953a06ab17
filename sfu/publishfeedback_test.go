package sfu_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
)

// A publisher hears from the node what a browser needs to send well:
// NACKs for the packets the node did not get (and its resends fill the
// gaps for subscribers), transport-wide congestion feedback (the browser's
// send rate follows it) and receiver reports on its tracks (loss, round
// trip). Whatever carries publishers' media into the node must keep all
// three.
func TestRedisPublisherGetsNacksCongestionFeedbackAndReports(t *testing.T) {
	h := start(t)
	api, out, heard := publisherAPI(t, 13)
	pub := h.clientWith(api)
	h.joinAndPublish(pub)
	sub := h.client()
	h.join(sub)
	eventually(t, "forwarding", func() error { return receivesFrom(sub, pub) })
	cam := sub.In(trackID(pub, events.SourceCamera))
	u0, hi0 := cam.Mark()
	eventually(t, "the node's feedback", func() error {
		dropped := out.droppedSet()
		nacked, feedback, reports := heard.counts(dropped)
		if len(dropped) < 10 || nacked < len(dropped)-2 { // the last few may still be on their way
			return fmt.Errorf("%d packets dropped on the way to the node, %d of them NACKed", len(dropped), nacked)
		}
		if feedback < 10 {
			return fmt.Errorf("%d congestion feedback packets", feedback)
		}
		if reports < 2 {
			return fmt.Errorf("%d receiver reports on the publisher's tracks", reports)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // the resends of the last drops
	u1, hi1 := cam.Mark()
	if sent, got := uint64(hi1-hi0), u1-u0; got+2 < sent {
		t.Errorf("the subscriber got %d of the %d camera packets sent meanwhile", got, sent)
	}
}

// publisherAPI is a client API whose socket drops the first send of every
// every'th video packet, which stamps transport-wide sequence numbers on
// what it sends (as browsers do) and which notes the node's RTCP.
func publisherAPI(t *testing.T, every int) (*webrtc.API, *lossySend, *rtcpHeard) {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := &lossySend{PacketConn: c, every: every, dropped: map[[2]uint32]bool{}}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: quiet.NewLogger("mux"), UDPConn: out})
	t.Cleanup(func() { _ = mux.Close() })
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	heard := &rtcpHeard{nacked: map[[2]uint32]bool{}}
	ir := &interceptor.Registry{}
	ir.Add(heard)
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{LoggerFactory: quiet}
	se.SetICEUDPMux(mux)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), out, heard
}

// lossySend is a client socket that drops the first send of every every'th
// video packet (SRTP leaves the RTP header in the clear).
type lossySend struct {
	net.PacketConn
	every int

	mu      sync.Mutex
	video   int
	dropped map[[2]uint32]bool // ssrc, seq
}

func (s *lossySend) WriteTo(b []byte, to net.Addr) (int, error) {
	// RTP, not RTCP (RFC 5761: RTCP packet types 192–223 in byte 1); audio
	// and small packets pass.
	if len(b) >= 400 && b[0]>>6 == 2 && (b[1] < 192 || b[1] > 223) {
		key := [2]uint32{binary.BigEndian.Uint32(b[8:]), uint32(binary.BigEndian.Uint16(b[2:]))}
		s.mu.Lock()
		drop := false
		if _, again := s.dropped[key]; !again {
			if s.video++; s.video%s.every == 0 {
				s.dropped[key], drop = true, true
			}
		}
		s.mu.Unlock()
		if drop {
			return len(b), nil
		}
	}
	return s.PacketConn.WriteTo(b, to)
}

func (s *lossySend) droppedSet() map[[2]uint32]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[[2]uint32]bool, len(s.dropped))
	for k := range s.dropped {
		out[k] = true
	}
	return out
}

// rtcpHeard is an interceptor (and its own factory) that notes the RTCP a
// client reads: the packets NACKed, congestion feedback, receiver reports.
type rtcpHeard struct {
	interceptor.NoOp
	mu       sync.Mutex
	nacked   map[[2]uint32]bool
	feedback int
	reports  int
}

func (r *rtcpHeard) NewInterceptor(string) (interceptor.Interceptor, error) { return r, nil }

func (r *rtcpHeard) BindRTCPReader(next interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := next.Read(b, a)
		if err != nil {
			return n, a, err
		}
		pkts, perr := rtcp.Unmarshal(b[:n])
		if perr != nil {
			return n, a, err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					for _, seq := range pair.PacketList() {
						r.nacked[[2]uint32{p.MediaSSRC, uint32(seq)}] = true
					}
				}
			case *rtcp.TransportLayerCC:
				r.feedback++
			case *rtcp.ReceiverReport:
				if len(p.Reports) > 0 {
					r.reports++
				}
			}
		}
		return n, a, err
	})
}

// counts returns how many of dropped were NACKed, and the feedback and
// receiver reports heard.
func (r *rtcpHeard) counts(dropped map[[2]uint32]bool) (nacked, feedback, reports int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range dropped {
		if r.nacked[k] {
			nacked++
		}
	}
	return nacked, r.feedback, r.reports
}
