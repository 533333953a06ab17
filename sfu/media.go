package sfu

import (
	"fmt"
	"net"
	"strconv"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// media is the node's WebRTC engine: one UDP socket (ICE UDP mux) and one
// TCP listener (ICE-TCP) shared by every PeerConnection, so a node needs two
// open ports whatever its number of participants.
type media struct {
	api    *webrtc.API
	udp    net.PacketConn
	tcp    net.Listener
	udpMux ice.UDPMux
	tcpMux ice.TCPMux
}

// Codecs the node forwards. No RTX: browsers then retransmit on the original
// SSRC, which the node forwards like any packet, and NACKs are answered from
// the per-track cache of the nack responder.
func registerCodecs(m *webrtc.MediaEngine) error {
	videoFB := []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBTransportCC},
	}
	codecs := []struct {
		kind webrtc.RTPCodecType
		c    webrtc.RTPCodecParameters
	}{
		{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFB,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 106, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFB,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 112, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFB,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, RTCPFeedback: videoFB, SDPFmtpLine: "profile-id=0"}}},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.c, c.kind); err != nil {
			return err
		}
	}
	// Audio level drives active speakers; mid and rid are there for
	// simulcast publishers.
	for _, ext := range []struct {
		uri  string
		kind webrtc.RTPCodecType
	}{
		{sdp.AudioLevelURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
		{sdp.TransportCCURI, webrtc.RTPCodecTypeAudio},
		{sdp.TransportCCURI, webrtc.RTPCodecTypeVideo},
	} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext.uri}, ext.kind); err != nil {
			return err
		}
	}
	return nil
}

// registerInterceptors picks the RTCP machinery:
//   - NACK generator (ask publishers to resend what the node lost) and NACK
//     responder (answer subscribers' NACKs from a per-track packet cache);
//   - sender and receiver reports, so both ends know loss and RTT;
//   - TWCC feedback towards publishers, so the browser's congestion control
//     sizes its send rate to the path to the node.
//
// Not chosen: the TWCC header-extension sender on subscriber streams. It
// stamps every forwarded copy (one allocation each) for a send-side
// estimator the node does not run yet; add it with simulcast layer choice.
//
// Each is given the node's logger: left alone they log to stderr past slog.
func registerInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry, logs logging.LoggerFactory) error {
	if err := webrtc.ConfigureNackWithOptions(m, ir,
		[]nack.GeneratorOption{nack.WithGeneratorLoggerFactory(logs)}, nack.WithResponderLoggerFactory(logs)); err != nil {
		return err
	}
	if err := webrtc.ConfigureRTCPReportsWithOptions(ir,
		[]report.ReceiverOption{report.WithReceiverLoggerFactory(logs)}, report.WithSenderLoggerFactory(logs)); err != nil {
		return err
	}
	return webrtc.ConfigureTWCCSenderWithOptions(m, ir, twcc.WithLoggerFactory(logs))
}

// newMedia opens the node's ICE sockets and builds the API.
func newMedia(cfg Config) (*media, error) {
	listenIP := cfg.ListenIP
	if listenIP == "" {
		listenIP = "0.0.0.0"
		if allLoopback(cfg.PublicIPs) {
			listenIP = "127.0.0.1"
		}
	}
	loopback := net.ParseIP(listenIP).IsLoopback()
	udp, err := net.ListenPacket("udp4", net.JoinHostPort(listenIP, strconv.Itoa(cfg.UDPPort)))
	if err != nil {
		return nil, fmt.Errorf("sfu: ICE UDP port: %w", err)
	}
	tcpPort := cfg.TCPPort
	tcp, err := net.Listen("tcp4", net.JoinHostPort(listenIP, strconv.Itoa(tcpPort)))
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("sfu: ICE TCP port: %w", err)
	}

	logs := pionLogs{cfg.Log}
	se := webrtc.SettingEngine{LoggerFactory: logs}
	udpMux := webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), udp)
	tcpMux := webrtc.NewICETCPMux(logs.NewLogger("tcpmux"), tcp, 64)
	se.SetICEUDPMux(udpMux)
	se.SetICETCPMux(tcpMux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	if loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if len(cfg.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			udp.Close()
			tcp.Close()
			return nil, fmt.Errorf("sfu: public IPs %v: %w", cfg.PublicIPs, err)
		}
	}

	m := &webrtc.MediaEngine{}
	ir := &interceptor.Registry{}
	if err := registerCodecs(m); err != nil {
		_ = udpMux.Close()
		_ = tcpMux.Close()
		return nil, err
	}
	if err := registerInterceptors(m, ir, logs); err != nil {
		_ = udpMux.Close()
		_ = tcpMux.Close()
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return &media{api: api, udp: udp, tcp: tcp, udpMux: udpMux, tcpMux: tcpMux}, nil
}

// close stops the muxes (which close their sockets) so their read loops
// end quietly.
func (m *media) close() {
	_ = m.udpMux.Close()
	_ = m.tcpMux.Close()
}

func allLoopback(ips []string) bool {
	if len(ips) == 0 {
		return false
	}
	for _, s := range ips {
		if ip := net.ParseIP(s); ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}
