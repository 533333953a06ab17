package forward

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/ipv4"

	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// packets is a Source that replays n copies of one packet with growing
// sequence numbers (from first), running before (if set) ahead of each.
type packets struct {
	raw    []byte
	first  uint16
	n, i   int
	before func(i int)
}

func (p *packets) Read(b []byte) (int, interceptor.Attributes, error) {
	if p.i >= p.n {
		return 0, nil, io.EOF
	}
	if p.before != nil {
		p.before(p.i)
	}
	copy(b, p.raw)
	seq := p.first + uint16(p.i)
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], 3000*uint32(p.i))
	// The payload says which packet it is, for checks of retransmissions.
	binary.BigEndian.PutUint32(b[len(p.raw)-4:], uint32(p.i))
	p.i++
	return len(p.raw), nil, nil
}

// sink is a subscriber's pion write stream that keeps what it was given.
type sink struct {
	seqs   []uint16
	tss    []uint32
	ssrc   uint32
	pt     uint8
	keep   bool
	writes int
}

func (s *sink) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	s.writes++
	s.ssrc, s.pt = h.SSRC, h.PayloadType
	if s.keep {
		s.seqs = append(s.seqs, h.SequenceNumber)
		s.tss = append(s.tss, h.Timestamp)
	}
	return len(payload), nil
}
func (s *sink) Write(b []byte) (int, error) { return len(b), nil }

// rawPacket is a publisher's packet of payload bytes with an audio level
// extension (id 3) that the node must not pass on.
func rawPacket(t testing.TB, payload int) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 100, SSRC: 1234, Timestamp: 1}, Payload: make([]byte, payload)}
	if err := p.Header.SetExtension(3, []byte{0x80 | 30}); err != nil {
		t.Fatal(err)
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// bind attaches a DownTrack to a stream as pion's Bind would.
func bind(d *DownTrack, s webrtc.TrackLocalWriter, ssrc uint32, pt, twccID uint8) {
	d.resync.Store(true)
	d.bound.Store(&binding{id: "b", ssrc: ssrc, pt: pt, twccID: twccID, stream: s})
	if d.tr != nil {
		d.tr.add(d)
	}
}

// node is the node's UDP socket for batched copies, as the node sends
// (RawConn); xnet is the same through x/net's WriteBatch.
func node(t testing.TB) BatchConn {
	c := listen(t)
	r, err := NewRawConn(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func xnet(t testing.TB) BatchConn { return ipv4.NewPacketConn(listen(t)) }

func listen(t testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetWriteBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	return c
}

// subscriber is the receiving end of one subscriber connection: a UDP
// socket and pion's SRTP with the keys the node sends with.
type subscriber struct {
	t    testing.TB
	conn *net.UDPConn
	keys srtpgcm.Keys
	ctx  *srtp.Context

	// drain only counts what arrives (benchmarks: the receiving side
	// should cost as little as a real remote one, nothing).
	drain bool

	mu      sync.Mutex
	got     []got
	reports []rtcp.SenderReport // the node's, decrypted
	n       int
	bad     int
	done    chan struct{}
}

// got is one packet a subscriber decrypted.
type got struct {
	ssrc    uint32
	pt      uint8
	seq     uint16
	ts      uint32
	twcc    int // transport-wide sequence number, -1 without
	index   uint32
	exts    int
	payload int
}

func newSubscriber(t testing.TB) *subscriber { return startSubscriber(t, false) }

func startSubscriber(t testing.TB, drain bool) *subscriber {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	k := srtpgcm.Keys{Profile: srtpgcm.AES128GCM, Key: make([]byte, 16), Salt: make([]byte, 12)}
	_, _ = rand.Read(k.Key)
	_, _ = rand.Read(k.Salt)
	ctx, err := srtp.CreateContext(k.Key, k.Salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber{t: t, conn: c, keys: k, ctx: ctx, drain: drain, done: make(chan struct{})}
	go s.read()
	t.Cleanup(func() { c.Close(); <-s.done })
	return s
}

func (s *subscriber) path(conn BatchConn) *Path {
	return &Path{Conn: conn, Addr: s.conn.LocalAddr().(*net.UDPAddr), Keys: s.keys}
}

func (s *subscriber) read() {
	defer close(s.done)
	buf, dec := make([]byte, 2048), make([]byte, 2048)
	var h rtp.Header
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			return
		}
		// RTP and RTCP share the port (RFC 5761 §4: RTCP's packet types
		// are 192–223 where RTP has its marker bit and payload type).
		if n > 1 && buf[1] >= 192 && buf[1] <= 223 {
			s.readRTCP(buf[:n], dec)
			continue
		}
		if s.drain {
			s.mu.Lock()
			s.n++
			s.mu.Unlock()
			continue
		}
		plain, err := s.ctx.DecryptRTP(dec[:0], buf[:n], &h)
		s.mu.Lock()
		if err != nil {
			s.bad++
		} else {
			g := got{ssrc: h.SSRC, pt: h.PayloadType, seq: h.SequenceNumber, ts: h.Timestamp, twcc: -1, exts: len(h.Extensions)}
			if v := h.GetExtension(twccTestID); len(v) == 2 {
				g.twcc = int(binary.BigEndian.Uint16(v))
			}
			body := plain[h.MarshalSize():]
			g.payload = len(body)
			g.index = binary.BigEndian.Uint32(body[len(body)-4:])
			s.got = append(s.got, g)
		}
		s.mu.Unlock()
	}
}

// readRTCP keeps the sender reports of an SRTCP compound from the node.
func (s *subscriber) readRTCP(pkt, dec []byte) {
	plain, err := s.ctx.DecryptRTCP(dec[:0], pkt, nil)
	var pkts []rtcp.Packet
	if err == nil {
		pkts, err = rtcp.Unmarshal(plain)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.bad++
		return
	}
	for _, p := range pkts {
		if sr, ok := p.(*rtcp.SenderReport); ok {
			s.reports = append(s.reports, *sr)
		}
	}
}

// senderReports returns the node's sender reports the subscriber got.
func (s *subscriber) senderReports() []rtcp.SenderReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rtcp.SenderReport(nil), s.reports...)
}

// twccTestID is the transport-wide sequence number extension id of the
// test subscribers.
const twccTestID = 5

// packets waits until n packets arrived (or 5 s passed) and returns them.
func (s *subscriber) packets(n int) []got {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		g, bad := append([]got(nil), s.got...), s.bad
		s.mu.Unlock()
		if bad > 0 {
			s.t.Fatalf("%d packets did not decrypt", bad)
		}
		if len(g) >= n || time.Now().After(deadline) {
			return g
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// count is how many packets a draining subscriber got.
func (s *subscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// settled returns what arrived once nothing more did for 200 ms.
func (s *subscriber) settled() []got {
	last := -1
	for {
		s.mu.Lock()
		n := len(s.got)
		s.mu.Unlock()
		if n == last {
			return s.packets(0)
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
}

// noRTCP is a Transport's RTCP writer for tests that check none.
func noRTCP([]rtcp.Packet) error { return nil }
