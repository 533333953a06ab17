package sfu

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/sfu/forward"
	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// newPublisher returns a publish PeerConnection whose media the node reads
// itself, and its intake.
//
// pion would take each packet a publisher sends through four goroutines
// (the ICE mux, the connection's ICE and DTLS/SRTP demux, the SRTP
// session, the track's buffer) before the forwarding loop reads it — a
// quarter of a 5 ↔ 5 room's CPU, where each packet has only four copies
// to share it. So, as for subscribers (newSubscriber), each connection
// gets its own API whose DTLS key log and ServerHello hook feed a
// srtpgcm.Capture: the node answers publish offers as the DTLS server
// (setup:passive) to be the side that sees its ServerHello. Once DTLS is
// up over a UDP pair, the intake opens the publisher's SRTP in the
// socket's reading goroutine and queues each packet for its track: one
// hand-off. Packets that come before (pion needs a track's first packets
// to announce it), over ICE-TCP, or with another SRTP profile still come
// through pion, into the same queue.
//
// The RTCP machinery a publisher needs (NACKs, receiver reports, TWCC
// feedback: registerInterceptors) then cannot be pion's own interceptors,
// which see only what pion reads; the connection's interceptors are built
// here from the same registry and read each track's queue, and the
// publisher's RTCP, themselves.
func (m *media) newPublisher() (*webrtc.PeerConnection, *publishIn, error) {
	keys := &srtpgcm.Capture{}
	se := m.settings
	se.SetDTLSKeyLogWriter(keys)
	se.SetDTLSServerHelloMessageHook(keys.ServerHello)
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m.pubEngine), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	// Header encryption (cryptex) would hide the header the intake reads.
	pc, err := api.NewPeerConnection(webrtc.Configuration{RTPHeaderEncryptionPolicy: webrtc.RTPHeaderEncryptionPolicyDisable})
	if err != nil {
		return nil, nil, err
	}
	chain, err := m.pubInterceptors.Build("")
	if err != nil {
		_ = pc.Close()
		return nil, nil, err
	}
	chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		return 0, pc.WriteRTCP(pkts)
	}))
	in := &publishIn{chain: chain}
	in.streams.Store(&map[uint32]*publishStream{})
	watchSecure(pc, func(iceT *webrtc.ICETransport) {
		addr, why := m.publishPath(keys, iceT, in)
		m.intake.publishers.set(addr, in) // invalid: forgotten
		if addr.IsValid() {
			m.log.Debug("publisher media read by the node", "remote", addr.String())
		} else {
			m.log.Debug("publisher media read by pion", "reason", why)
		}
	}, func() {
		m.intake.publishers.forget(in)
		_ = chain.Close()
	})
	return pc, in, nil
}

// publishPath readies in to open what the publisher sends and returns the
// address it sends from, or an invalid one and why not.
func (m *media) publishPath(keys *srtpgcm.Capture, t *webrtc.ICETransport, in *publishIn) (netip.AddrPort, string) {
	k, err := keys.ClientKeys() // the publisher's: the node is the DTLS server
	if err != nil {
		return netip.AddrPort{}, err.Error()
	}
	o, err := srtpgcm.NewOpener(k)
	if err != nil {
		return netip.AddrPort{}, "SRTP profile is not AES-GCM"
	}
	if in.open.Load() == nil {
		in.open.Store(o)
	}
	return udpRemote(t)
}

// publishIn is what the intake does with one publish connection's SRTP:
// open it and queue it for its track. Its streams are known once pion has
// announced the track (bind).
type publishIn struct {
	chain   interceptor.Interceptor
	open    atomic.Pointer[srtpgcm.Opener]
	mu      sync.Mutex
	streams atomic.Pointer[map[uint32]*publishStream] // by SSRC; copied on write
	plain   [2048]byte                                // the reading goroutine's
}

// publishStream is one published SSRC's queue, and the intake's record of
// its SRTP index.
type publishStream struct {
	q    *forward.Queue
	roll srtpgcm.Rollover // the reading goroutine's
}

// queueLimit bounds a track's queue as pion's own buffer is bounded; a
// packet waits there at most forward.StaleAfter before it is dropped.
const queueLimit = 1000 * 1000

// take opens an SRTP packet from the publisher's address and queues it,
// in the socket's reading goroutine; false leaves it to pion (a stream not
// yet bound, a packet that does not open).
func (in *publishIn) take(b []byte) bool {
	o := in.open.Load()
	if o == nil {
		return false
	}
	s := (*in.streams.Load())[binary.BigEndian.Uint32(b[8:12])]
	if s == nil {
		return false
	}
	plain, err := o.Open(in.plain[:0], b, &s.roll)
	if err != nil {
		return errors.Is(err, srtpgcm.ErrReplay) // a replay is dropped here
	}
	_, _ = s.q.Write(plain) // full: dropped, as pion would
	return true
}

// bind starts reading the track t for the forwarding loop and returns its
// Source, and what to call when the loop ends.
func (in *publishIn) bind(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) (forward.Source, func()) {
	s := &publishStream{q: forward.NewQueue(queueLimit)}
	ssrc := uint32(t.SSRC())
	in.setStream(ssrc, s)

	info := streamInfo(t, recv)
	var h rtp.Header // the stream's parsed header, reused packet after packet
	r := in.chain.BindRemoteStream(info, interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, err := s.q.Read(b)
		if err == nil {
			sharedHeader(a, &h, b[:n])
		}
		return n, a, err
	}))
	go s.fromPion(t)
	go in.readRTCP(recv, t.RID())
	return &chained{r: r, q: s.q, attrs: interceptor.Attributes{}}, func() {
		in.chain.UnbindRemoteStream(info)
		in.forgetStream(ssrc, s)
	}
}

// setStream makes s the stream of ssrc.
func (in *publishIn) setStream(ssrc uint32, s *publishStream) {
	in.mu.Lock()
	defer in.mu.Unlock()
	old := *in.streams.Load()
	next := make(map[uint32]*publishStream, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[ssrc] = s
	in.streams.Store(&next)
}

// forgetStream gives ssrc back to pion once its track ended, unless another
// track took it since: a track published again under the same SSRC must
// reach pion, which announces it.
func (in *publishIn) forgetStream(ssrc uint32, s *publishStream) {
	in.mu.Lock()
	defer in.mu.Unlock()
	old := *in.streams.Load()
	if old[ssrc] != s {
		return
	}
	next := make(map[uint32]*publishStream, len(old))
	for k, v := range old {
		if k != ssrc {
			next[k] = v
		}
	}
	in.streams.Store(&next)
}

// fromPion queues what pion reads of the track (its first packets, and
// all of them when the intake does not read the connection); the queue
// ends with the track.
func (s *publishStream) fromPion(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			_ = s.q.Close()
			return
		}
		_, _ = s.q.Write(buf[:n])
	}
}

// readRTCP reads the publisher's RTCP on one track (a simulcast layer's by
// its RID) through the interceptors: sender reports give the receiver
// reports their round trip.
func (in *publishIn) readRTCP(recv *webrtc.RTPReceiver, rid string) {
	r := in.chain.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		var n int
		var err error
		if rid != "" {
			n, _, err = recv.ReadSimulcast(b, rid)
		} else {
			n, _, err = recv.Read(b)
		}
		return n, a, err
	}))
	buf := make([]byte, 1500)
	attrs := interceptor.Attributes{}
	for {
		clear(attrs)
		if _, _, err := r.Read(buf, attrs); err != nil {
			return
		}
	}
}

// chained is a track's queue read through the connection's interceptors,
// which pass each packet on as they read it: when it arrived is the queue's.
type chained struct {
	r     interceptor.RTPReader
	q     *forward.Queue
	attrs interceptor.Attributes // reused: the interceptors share a parsed header in it
}

func (c *chained) Arrived() int64 { return c.q.Arrived() }

var _ forward.Arrivals = (*chained)(nil) // so that its Receiver drops what went stale

func (c *chained) Read(b []byte) (int, interceptor.Attributes, error) {
	clear(c.attrs)
	return c.r.Read(b, c.attrs)
}

// headerKey is the key under which pion's interceptors share a parsed RTP
// header in their Attributes; pion does not export it, so it is found once
// by having Attributes parse a header. nil if that ever changes: then each
// interceptor parses for itself, as before.
var headerKey = func() any {
	a := interceptor.Attributes{}
	if _, err := a.GetRTPHeader([]byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}); err != nil || len(a) != 1 {
		return nil
	}
	for k := range a {
		return k
	}
	return nil
}()

// sharedHeader parses raw into h and gives it to the interceptors, which
// would otherwise allocate a header per packet (GetRTPHeader); they read
// it during the call only.
func sharedHeader(a interceptor.Attributes, h *rtp.Header, raw []byte) {
	if headerKey == nil || a == nil {
		return
	}
	if _, err := h.Unmarshal(raw); err == nil {
		a[headerKey] = h
	}
}

// streamInfo describes t to the interceptors as pion would: its SSRC,
// codec, negotiated feedback and header extensions.
func streamInfo(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *interceptor.StreamInfo {
	c := t.Codec()
	info := &interceptor.StreamInfo{SSRC: uint32(t.SSRC()), PayloadType: uint8(t.PayloadType()),
		MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels, SDPFmtpLine: c.SDPFmtpLine}
	for _, e := range recv.GetParameters().HeaderExtensions {
		info.RTPHeaderExtensions = append(info.RTPHeaderExtensions, interceptor.RTPHeaderExtension{URI: e.URI, ID: e.ID})
	}
	for _, f := range c.RTCPFeedback {
		info.RTCPFeedback = append(info.RTCPFeedback, interceptor.RTCPFeedback{Type: f.Type, Parameter: f.Parameter})
	}
	return info
}
