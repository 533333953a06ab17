package sfu_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
)

// Over UDP the node sends its subscribers' copies itself (AES-GCM SRTP,
// sendmmsg) and pion peers decrypt them; over ICE-TCP it leaves them to
// pion's stream, and they arrive as well.
func TestRedisSubscribersOverUDPGetBatchedCopiesAndOverTCPPions(t *testing.T) {
	h := start(t)
	pub, sub := h.pair()
	tcpAPI, err := simpeer.NewAPIOn(webrtc.NetworkTypeTCP4)
	if err != nil {
		t.Fatal(err)
	}
	tcp := h.clientWith(tcpAPI)
	h.join(tcp)
	eventually(t, "media over ICE-TCP", func() error { return receivesFrom(tcp, pub) })
	eventually(t, "copies counted", func() error {
		u, _ := h.node.SubscribeSide(h.room, sub.ID)
		tc, _ := h.node.SubscribeSide(h.room, tcp.ID)
		// The first few copies may go through pion's stream: the path is
		// set a moment after pion's SRTP is ready.
		if !u.Batched || u.Copies < 100 || u.PionCopy*20 > u.Copies || u.RTCPIn == 0 {
			return fmt.Errorf("UDP subscriber: %+v, want batched copies and its RTCP read by the node", u)
		}
		if tc.Batched || tc.Copies != 0 || tc.PionCopy == 0 || tc.RTCPIn != 0 || tc.Feedbacks == 0 {
			return fmt.Errorf("TCP subscriber: %+v, want pion's stream and pion's RTCP", tc)
		}
		return nil
	})
}

// A subscriber that loses packets NACKs them and gets each again from the
// track's shared cache under its own SSRC and sequence number, so nothing
// is missing; two subscribers losing different packets each get theirs.
func TestRedisLostPacketsAreResentFromTheSharedCache(t *testing.T) {
	h := start(t)
	pub := h.client()
	h.joinAndPublish(pub)
	var lossy []*lossyNet
	var subs []*simpeer.Client
	for i := range 2 {
		api, n := lossyAPI(t, 11+i*2) // each drops a different packet: every 11th or 13th
		c := h.clientWith(api)
		h.join(c)
		lossy, subs = append(lossy, n), append(subs, c)
	}
	for i, c := range subs {
		eventually(t, "forwarding", func() error { return receivesFrom(c, pub) })
		cam := c.In(trackID(pub, events.SourceCamera))
		u0, hi0 := cam.Mark()
		eventually(t, "repairs", func() error {
			dropped, resent := lossy[i].counts()
			if dropped < 10 || resent < dropped-2 { // the last few may still be on their way
				return fmt.Errorf("subscriber %d: %d packets dropped, %d resent", i, dropped, resent)
			}
			return nil
		})
		time.Sleep(300 * time.Millisecond) // the repairs of the last drops
		u1, hi1 := cam.Mark()
		if sent, got := uint64(hi1-hi0), u1-u0; got+2 < sent {
			t.Errorf("subscriber %d got %d of the %d camera packets sent meanwhile", i, got, sent)
		}
		// Resent under its own SSRCs: a subscriber never sees another's.
		if _, ssrcs, _ := lossy[i].transportWide(); ssrcs != 2 {
			t.Errorf("subscriber %d saw %d SSRCs, want its 2", i, ssrcs)
		}
	}
}

// Every packet to a subscriber carries a transport-wide sequence number —
// one numbering across the connection's tracks, without gaps — and the
// subscriber's congestion feedback on them reaches the node; the node's
// sender reports come back in receiver reports with a round trip.
func TestRedisCopiesCarryTransportWideSequenceNumbers(t *testing.T) {
	h := start(t)
	pub := h.client()
	h.joinAndPublish(pub)
	api, n := lossyAPI(t, 0)
	sub := h.clientWith(api)
	h.join(sub)
	eventually(t, "forwarding", func() error { return receivesFrom(sub, pub) })
	eventually(t, "numbering and feedback", func() error {
		seqs, ssrcs, plain := n.transportWide()
		if plain > 0 {
			return fmt.Errorf("%d packets without a transport-wide sequence number", plain)
		}
		if len(seqs) < 200 || ssrcs < 2 {
			return fmt.Errorf("%d numbered packets on %d SSRCs", len(seqs), ssrcs)
		}
		slices.Sort(seqs)
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				return fmt.Errorf("transport-wide numbering jumps %d → %d", seqs[i-1], seqs[i])
			}
		}
		if s, _ := h.node.SubscribeSide(h.room, sub.ID); s.Feedbacks == 0 {
			return fmt.Errorf("no congestion feedback reached the node")
		}
		return nil
	})
	eventually(t, "round trip", func() error {
		if s, _ := h.node.SubscribeSide(h.room, sub.ID); s.RTT <= 0 || s.RTT > time.Second {
			return fmt.Errorf("round trip %s", s.RTT)
		}
		return nil
	})
}

func (h *harness) clientWith(api *webrtc.API) *simpeer.Client {
	h.t.Helper()
	c, err := simpeer.New(api, h.room, h.send)
	if err != nil {
		h.t.Fatal(err)
	}
	h.pusher.Attach(c)
	h.t.Cleanup(c.Close)
	return c
}

func (h *harness) join(c *simpeer.Client) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Join(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// lossyAPI is simpeer's client API over one UDP socket that drops the first
// arrival of every every'th video packet (0: none) and notes what comes.
func lossyAPI(t *testing.T, every int) (*webrtc.API, *lossyNet) {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &lossyNet{PacketConn: c, every: every, dropped: map[[2]uint32]bool{}, seen: map[[2]uint32]int{}, ssrcs: map[uint32]bool{}}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: quiet.NewLogger("mux"), UDPConn: n})
	t.Cleanup(func() { _ = mux.Close() })
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{LoggerFactory: quiet}
	se.SetICEUDPMux(mux)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), n
}

// lossyNet is a client socket that looks at the clear RTP header of what
// arrives (SRTP encrypts only the payload).
type lossyNet struct {
	net.PacketConn
	every int

	mu      sync.Mutex
	video   int
	dropped map[[2]uint32]bool // ssrc, seq
	resent  int
	seen    map[[2]uint32]int
	twcc    []uint16
	ssrcs   map[uint32]bool
	plain   int
}

func (n *lossyNet) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		k, addr, err := n.PacketConn.ReadFrom(b)
		if err != nil || !n.pass(b[:k]) {
			if err != nil {
				return k, addr, err
			}
			continue
		}
		return k, addr, nil
	}
}

// pass notes an arriving datagram and says whether to let it through.
func (n *lossyNet) pass(b []byte) bool {
	// RTP, not RTCP (RFC 5761: RTCP packet types 192–223 in byte 1).
	if len(b) < 12 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	key := [2]uint32{binary.BigEndian.Uint32(b[8:]), uint32(binary.BigEndian.Uint16(b[2:]))}
	n.seen[key]++
	n.ssrcs[key[0]] = true
	if v, ok := twccOf(b); ok {
		n.twcc = append(n.twcc, v)
	} else {
		n.plain++
	}
	if n.dropped[key] {
		if n.seen[key] == 2 {
			n.resent++
		}
		return true
	}
	if n.every == 0 || len(b) < 400 { // audio and small packets pass
		return true
	}
	n.video++
	if n.video%n.every == 0 {
		n.dropped[key] = true
		return false
	}
	return true
}

// twccOf is the value of the one extension the node puts on a copy.
func twccOf(b []byte) (uint16, bool) {
	if b[0]&0x10 == 0 {
		return 0, false
	}
	n := 12 + 4*int(b[0]&0x0f)
	if len(b) < n+8 || b[n] != 0xbe || b[n+1] != 0xde || b[n+4]&0x0f != 1 {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[n+5:]), true
}

func (n *lossyNet) counts() (dropped, resent int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.dropped), n.resent
}

func (n *lossyNet) transportWide() (seqs []uint16, ssrcs, plain int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.twcc), len(n.ssrcs), n.plain
}
