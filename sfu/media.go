package sfu

import (
	"fmt"
	"log/slog"
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

	"github.com/veet-dev/veet/sfu/forward"
)

// media is the node's WebRTC engine: one UDP socket (ICE UDP mux) and one
// TCP listener (ICE-TCP) shared by every PeerConnection, so a node needs two
// open ports whatever its number of participants.
//
// Publish connections come from newPublisher: the intake reads their media
// off the socket over UDP, and interceptors built per connection from
// pubInterceptors send the publisher its NACKs and feedback. Subscribe
// connections come from newSubscriber, without interceptors: the packet
// path (sfu/forward) answers NACKs from one cache per track, sends the
// sender reports and stamps transport-wide sequence numbers itself, and
// over UDP encrypts and batches the copies onto the mux's socket (batch).
type media struct {
	udp    net.PacketConn
	tcp    net.Listener
	udpMux ice.UDPMux
	tcpMux ice.TCPMux
	log    *slog.Logger

	settings        webrtc.SettingEngine // each connection's API starts from it
	pubEngine       *webrtc.MediaEngine
	pubInterceptors *interceptor.Registry
	subEngine       *webrtc.MediaEngine
	batch           forward.BatchConn // the UDP mux's socket, for sendmmsg
	intake          *intake           // the same socket as the mux reads it
}

// Codecs the node forwards. No RTX: browsers then retransmit on the original
// SSRC, which the node forwards like any packet, and subscribers' NACKs are
// answered from the track's one packet cache (sfu/forward).
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

// registerInterceptors picks the RTCP machinery of publish connections:
//   - NACK generator: ask publishers to resend what the node lost;
//   - receiver reports, so both ends know loss and round trip;
//   - TWCC feedback towards publishers, so the browser's congestion control
//     sizes its send rate to the path to the node.
//
// Subscribe connections have none: see newSubscriber.
//
// Each is given the node's logger: left alone they log to stderr past slog.
func registerInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry, logs logging.LoggerFactory) error {
	gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(logs))
	if err != nil {
		return err
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor(report.WithReceiverLoggerFactory(logs))
	if err != nil {
		return err
	}
	ir.Add(rr)
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
	udpAddr, err := net.ResolveUDPAddr("udp4", net.JoinHostPort(listenIP, strconv.Itoa(cfg.UDPPort)))
	if err != nil {
		return nil, fmt.Errorf("sfu: ICE UDP address: %w", err)
	}
	udp, err := net.ListenUDP("udp4", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("sfu: ICE UDP port: %w", err)
	}
	// Room for a fan-out's bursts either way: the kernel's defaults (208 KB)
	// hold a few hundred packets.
	_ = udp.SetWriteBuffer(4 << 20)
	_ = udp.SetReadBuffer(4 << 20)
	in := newIntake(udp)
	tcpPort := cfg.TCPPort
	tcp, err := net.Listen("tcp4", net.JoinHostPort(listenIP, strconv.Itoa(tcpPort)))
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("sfu: ICE TCP port: %w", err)
	}

	logs := pionLogs{cfg.Log}
	se := webrtc.SettingEngine{LoggerFactory: logs}
	udpMux := webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), in)
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
	sub := &webrtc.MediaEngine{}
	err = registerCodecs(m)
	if err == nil {
		err = registerInterceptors(m, ir, logs)
	}
	if err == nil {
		err = registerCodecs(sub)
	}
	if err != nil {
		_ = udpMux.Close()
		_ = tcpMux.Close()
		return nil, err
	}
	batch, err := forward.NewRawConn(udp)
	if err != nil {
		_ = udpMux.Close()
		_ = tcpMux.Close()
		return nil, err
	}
	return &media{udp: udp, tcp: tcp, udpMux: udpMux, tcpMux: tcpMux, log: cfg.Log, settings: se,
		pubEngine: m, pubInterceptors: ir, subEngine: sub, batch: batch, intake: in}, nil
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
