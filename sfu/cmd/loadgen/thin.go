package main

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/internal/simpeer"
	"github.com/veet-dev/veet/sfu/forward"
	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// A thin subscriber is a pion PeerConnection for signaling, ICE and DTLS
// whose media never reaches pion: its socket decrypts RTP itself, in the
// goroutine that reads it, and counts, times and acknowledges it the way a
// browser would (TWCC feedback every 100 ms, a receiver report per second).
// A full pion receive path costs the load generator ~10 µs per packet over
// four goroutine hand-offs; with hundreds of subscribers on a two-core
// machine the load generator, not the node, would then be what drops.
//
// To decrypt, the thin end learns the SRTP keys of its DTLS handshake (it
// is the DTLS client): the master secret from pion's key log and the
// server random from the ServerHello it reads off the wire (handshake
// records are in the clear). It sends no NACKs: its loss is before repair.
type thinNet struct {
	*net.UDPConn
	raw  *forward.RawReader
	keys srtpgcm.Capture

	mux ice.UDPMux

	ready atomic.Bool
	in    *srtpgcm.Opener // server → client RTP; the reading goroutine's
	out   *srtp.Context   // client → server RTCP; under mu
	node  net.Addr
	ssrc  uint32 // ours, as RTCP sender

	mu      sync.Mutex
	streams map[uint32]*thinStream
	rec     *twcc.Recorder
	start   time.Time
	dec     []byte
	quit    chan struct{}
	once    sync.Once
}

// thinStream is one SSRC's packets at a thin subscriber.
type thinStream struct {
	ssrc    uint32
	packets atomic.Uint64
	layers  [4]atomic.Uint64 // video packets by simulcast layer
	bytes   atomic.Uint64
	firstAt atomic.Int64
	roll    srtpgcm.Rollover // the reading goroutine's

	mu      sync.Mutex
	seen    [1024]uint64
	unique  uint64
	highest int64
	lat     []int32 // µs, publisher's write → our read
	sock    []int32 // µs, publisher's write → the kernel's arrival at our socket
	// for receiver reports
	lastUnique uint64
	lastHigh   int64
}

// thinAPI returns a client API over its own socket, and the socket.
func thinAPI() (*webrtc.API, *thinNet, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetReadBuffer(1 << 20)
	var b [4]byte
	_, _ = rand.Read(b[:])
	raw, err := forward.NewStampingReader(c)
	if err != nil {
		return nil, nil, err
	}
	n := &thinNet{UDPConn: c, raw: raw, streams: map[uint32]*thinStream{}, ssrc: binary.BigEndian.Uint32(b[:]),
		start: time.Now(), dec: make([]byte, 2048), quit: make(chan struct{})}
	n.rec = twcc.NewRecorder(n.ssrc)
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: quiet.NewLogger("mux"), UDPConn: n})
	n.mux = mux
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, nil, err
	}
	// The node stamps transport-wide sequence numbers when the answer has
	// the extension; feedback then goes back like a browser's.
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"}, k); err != nil {
			return nil, nil, err
		}
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, k)
	}
	se := webrtc.SettingEngine{LoggerFactory: quiet}
	se.SetICEUDPMux(mux)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetDTLSKeyLogWriter(&n.keys)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se))
	go n.feedbackLoop()
	return api, n, nil
}

// Close stops the feedback and the mux (which closes the socket).
func (n *thinNet) Close() error {
	n.once.Do(func() { close(n.quit) })
	return n.UDPConn.Close()
}

func (n *thinNet) close() { _ = n.mux.Close(); _ = n.Close() }

// ReadFromAddrPort (what pion's mux reads with) hands pion everything but
// RTP, which it consumes.
func (n *thinNet) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		k, addr, err := n.raw.ReadFromUDPAddrPort(b)
		if err != nil {
			return k, addr, err
		}
		p := b[:k]
		switch {
		case k > 0 && p[0] == 22: // DTLS handshake
			n.sniff(p)
		case k >= 12 && p[0]>>6 == 2 && (p[1] < 192 || p[1] > 223): // RTP
			n.media(p, addr)
			continue
		}
		return k, addr, nil
	}
}

// WriteToAddrPort is the other half of pion's ice.AddrPortReaderWriter.
func (n *thinNet) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return n.UDPConn.WriteToUDPAddrPort(b, to)
}

// ReadFrom is ReadFromAddrPort for net.PacketConn's callers.
func (n *thinNet) ReadFrom(b []byte) (int, net.Addr, error) {
	k, from, err := n.ReadFromAddrPort(b)
	if err != nil {
		return k, nil, err
	}
	return k, net.UDPAddrFromAddrPort(from), nil
}

// sniff feeds the ServerHello of the DTLS records in p to the key capture.
func (n *thinNet) sniff(p []byte) {
	for len(p) >= 13 {
		l := int(binary.BigEndian.Uint16(p[11:]))
		if len(p) < 13+l {
			return
		}
		rec := p[13 : 13+l]
		if p[0] == 22 && len(rec) > 12 && rec[0] == 2 { // handshake: ServerHello
			var m handshake.MessageServerHello
			if m.Unmarshal(rec[12:]) == nil {
				n.keys.ServerHello(m)
			}
		}
		p = p[13+l:]
	}
}

// decryptEvery: one packet in so many per stream is decrypted (and its
// latency taken); the others are counted from their header, which SRTP
// leaves in the clear. The full subscribers check every packet.
const decryptEvery = 8

func (n *thinNet) media(p []byte, from netip.AddrPort) {
	if !n.ready.Load() && !n.setup(net.UDPAddrFromAddrPort(from)) {
		return
	}
	arrived := time.Now()
	atSocket := n.raw.Arrived()
	var h rtp.Header
	if _, err := h.Unmarshal(p); err != nil {
		return
	}
	n.mu.Lock()
	s := n.streams[h.SSRC]
	if s == nil {
		s = &thinStream{ssrc: h.SSRC, highest: -1, lat: make([]int32, 0, 1024)}
		n.streams[h.SSRC] = s
	}
	if len(h.Extensions) == 1 {
		if v := h.GetExtension(h.GetExtensionIDs()[0]); len(v) == 2 {
			n.rec.Record(h.SSRC, binary.BigEndian.Uint16(v), n.arrival(arrived, atSocket))
		}
	}
	n.mu.Unlock()
	var payload []byte
	if s.packets.Load()%decryptEvery == 0 {
		plain, err := n.in.Open(n.dec[:0], p, &s.roll)
		if err != nil {
			return
		}
		payload = plain[h.MarshalSize():]
	}
	s.note(h.SequenceNumber, payload, len(p), arrived, atSocket)
}

// arrival is a packet's arrival time for congestion feedback, in µs since
// the socket was opened: when the kernel received it, as a browser's
// network thread would stamp it. The time this process got round to reading
// it would add the load generator's own queueing on its one busy core, and
// the node's estimator would take that for a congested downlink and pause
// video (1 → 500 then forwarded a third of the camera, with no loss).
func (n *thinNet) arrival(read time.Time, atSocket int64) int64 {
	if atSocket != 0 {
		return (atSocket - n.start.UnixNano()) / 1000
	}
	return read.Sub(n.start).Microseconds()
}

// setup derives the SRTP contexts once the handshake is through.
func (n *thinNet) setup(from net.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ready.Load() {
		return true
	}
	sk, err1 := n.keys.Keys()
	ck, err2 := n.keys.ClientKeys()
	if err1 != nil || err2 != nil {
		return false
	}
	in, err1 := srtpgcm.NewOpener(sk)
	out, err2 := srtp.CreateContext(ck.Key, ck.Salt, srtp.ProtectionProfile(ck.Profile))
	if err1 != nil || err2 != nil {
		return false
	}
	n.in, n.out, n.node = in, out, from
	n.ready.Store(true)
	return true
}

func (s *thinStream) note(seq uint16, payload []byte, size int, at time.Time, atSocket int64) {
	now := at.UnixNano()
	s.firstAt.CompareAndSwap(0, now)
	s.packets.Add(1)
	s.bytes.Add(uint64(size))
	if len(payload) > simpeer.LayerAt && payload[simpeer.LayerAt] != simpeer.NoLayer {
		s.layers[payload[simpeer.LayerAt]&3].Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, bit := seq/64, uint64(1)<<(seq%64)
	if s.seen[w]&bit == 0 {
		s.seen[w] |= bit
		s.unique++
	}
	if s.highest < 0 {
		s.highest = int64(seq)
	} else if d := int16(seq - uint16(s.highest)); d > 0 {
		s.highest += int64(d)
	}
	far := seq + 32768
	s.seen[far/64] &^= uint64(1) << (far % 64)
	const stampAt = 4 // simpeer's
	if len(payload) >= stampAt+8 && len(s.lat) < 50_000 {
		sent := int64(binary.BigEndian.Uint64(payload[stampAt:]))
		s.lat = append(s.lat, int32((now-sent)/1000))
		if atSocket != 0 {
			s.sock = append(s.sock, int32((atSocket-sent)/1000))
		}
	}
}

// feedbackLoop sends TWCC feedback every 100 ms and receiver reports every
// second, as Chrome does.
func (n *thinNet) feedbackLoop() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-n.quit:
			return
		case <-tick.C:
		}
		if !n.ready.Load() {
			continue
		}
		n.mu.Lock()
		pkts := n.rec.BuildFeedbackPacket()
		if i%10 == 0 {
			rr := &rtcp.ReceiverReport{SSRC: n.ssrc}
			for _, s := range n.streams {
				rr.Reports = append(rr.Reports, s.report())
			}
			if len(rr.Reports) > 0 {
				pkts = append(pkts, rr)
			}
		}
		for _, p := range pkts {
			raw, err := p.Marshal()
			if err != nil {
				continue
			}
			enc, err := n.out.EncryptRTCP(nil, raw, nil)
			if err == nil {
				_, _ = n.UDPConn.WriteTo(enc, n.node)
			}
		}
		n.mu.Unlock()
	}
}

func (s *thinStream) report() rtcp.ReceptionReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	expected := s.highest - s.lastHigh
	got := int64(s.unique - s.lastUnique)
	r := rtcp.ReceptionReport{SSRC: s.ssrc, LastSequenceNumber: uint32(s.highest)}
	if expected > 0 && got < expected {
		r.FractionLost = uint8((expected - got) * 256 / expected)
	}
	s.lastHigh, s.lastUnique = s.highest, s.unique
	return r
}

// The methods a scenario reads, as on simpeer.In.

func (s *thinStream) FirstAt() time.Time {
	if ns := s.firstAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func (s *thinStream) Mark() (uint64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unique, s.highest
}

func (s *thinStream) Latencies() []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int32(nil), s.lat...)
}

// SocketLatencies are the latencies to the kernel's arrival at the socket.
func (s *thinStream) SocketLatencies() []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int32(nil), s.sock...)
}

func (s *thinStream) ResetLatencies() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat, s.sock = s.lat[:0], s.sock[:0]
}

func (n *thinNet) list() []*thinStream {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*thinStream, 0, len(n.streams))
	for _, s := range n.streams {
		out = append(out, s)
	}
	return out
}
