package forward

import (
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/ipv4"

	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

// Copies on the batched path are SRTP each subscriber decrypts with its own
// keys, in order, with its own SSRC, payload type and a transport-wide
// sequence number shared by the tracks of its connection.
func TestBatchedCopiesReachEachSubscriberInOrder(t *testing.T) {
	conn := node(t)
	video := &packets{raw: rawPacket(t, 1100), first: 65500, n: 200} // through a rollover
	audio := &packets{raw: rawPacket(t, 80), n: 50}
	rv := NewReceiver(video, Options{Kind: webrtc.RTPCodecTypeVideo})
	ra := NewReceiver(audio, Options{Kind: webrtc.RTPCodecTypeAudio})
	subs := make([]*subscriber, 3)
	for i := range subs {
		subs[i] = newSubscriber(t)
		tr := NewTransport(noRTCP)
		t.Cleanup(tr.Close)
		tr.SetPath(subs[i].path(conn))
		dv := tr.NewDownTrack(rv, "v", "s", nil)
		da := tr.NewDownTrack(ra, "a", "s", nil)
		bind(dv, nil, uint32(1000+i), 96, twccTestID)
		bind(da, nil, uint32(2000+i), 111, twccTestID)
		rv.AddDown(dv)
		ra.AddDown(da)
	}
	total := func() (n uint64) {
		for _, c := range Delays().Counts {
			n += c
		}
		return n
	}
	before := total()
	if err := rv.Run(); err != nil {
		t.Fatal(err)
	}
	if err := ra.Run(); err != nil {
		t.Fatal(err)
	}
	if timed := total() - before; timed != 3*250 {
		t.Errorf("fan-out delay counted %d copies, want %d", timed, 3*250)
	}
	for i, s := range subs {
		g := s.packets(250)
		if len(g) != 250 {
			t.Fatalf("subscriber %d got %d packets, want 250", i, len(g))
		}
		var nv int
		for j, p := range g {
			if p.twcc != j+1 {
				t.Fatalf("subscriber %d packet %d: transport-wide seq %d, want %d", i, j, p.twcc, j+1)
			}
			if p.exts != 1 {
				t.Fatalf("subscriber %d packet %d has %d extensions, want only the transport-wide seq", i, j, p.exts)
			}
			switch p.ssrc {
			case uint32(1000 + i):
				if p.pt != 96 || p.seq != 65500+uint16(nv) || p.index != uint32(nv) || p.payload != 1100 {
					t.Fatalf("subscriber %d video packet %d: pt %d seq %d index %d payload %d", i, nv, p.pt, p.seq, p.index, p.payload)
				}
				nv++
			case uint32(2000 + i):
				if p.pt != 111 || p.payload != 80 {
					t.Fatalf("subscriber %d audio packet: pt %d payload %d", i, p.pt, p.payload)
				}
			default:
				t.Fatalf("subscriber %d got SSRC %d", i, p.ssrc)
			}
		}
	}
}

// A NACK is answered from the track's one cache, with the asking
// subscriber's own SSRC and sequence number — also for a packet sent before
// a mute moved that subscriber's numbering — and not at all for a packet
// the cache no longer has.
func TestNACKIsAnsweredFromTheSharedCacheWithTheSubscribersHeader(t *testing.T) {
	conn := node(t)
	src := &packets{raw: rawPacket(t, 1000), first: 100, n: cacheSize + 100}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo})
	a, b := newSubscriber(t), newSubscriber(t)
	ta, tb := NewTransport(noRTCP), NewTransport(noRTCP)
	t.Cleanup(ta.Close)
	t.Cleanup(tb.Close)
	ta.SetPath(a.path(conn))
	tb.SetPath(b.path(conn))
	da, db := ta.NewDownTrack(r, "v", "s", nil), tb.NewDownTrack(r, "v", "s", nil)
	bind(da, nil, 111, 96, twccTestID)
	r.AddDown(da)
	src.before = func(i int) {
		switch i {
		case 10:
			r.SetMuted(true) // a's numbering closes the gap of 10..19
		case 15:
			bind(db, nil, 222, 96, 0) // b starts after the mute, numbering from its first packet
			r.AddDown(db)
		case 20:
			r.SetMuted(false)
		}
	}
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	total := cacheSize + 100
	ga, gb := a.packets(total-10), b.packets(total-20)
	if len(ga) != total-10 || len(gb) != total-20 {
		t.Fatalf("a got %d, b %d", len(ga), len(gb))
	}
	// Source packet 600 went to a as its 590th and to b as its 580th.
	const idx = 600
	seqA, seqB := ga[idx-10].seq, gb[idx-20].seq
	if ga[idx-10].index != idx || gb[idx-20].index != idx || seqA == seqB {
		t.Fatalf("setup: a %+v b %+v", ga[idx-10], gb[idx-20])
	}
	nack := func(ssrc uint32, seq uint16) []rtcp.Packet {
		return []rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: []rtcp.NackPair{{PacketID: seq}}}}
	}
	da.HandleRTCP(nack(111, seqA))
	db.HandleRTCP(nack(222, seqB))
	ra, rb := a.packets(total-9), b.packets(total-19)
	if len(ra) != total-9 || len(rb) != total-19 {
		t.Fatalf("retransmissions: a got %d more, b %d", len(ra)-(total-10), len(rb)-(total-20))
	}
	if p := ra[len(ra)-1]; p.ssrc != 111 || p.seq != seqA || p.index != idx || p.twcc != total-9 {
		t.Fatalf("a's retransmission: %+v, want ssrc 111 seq %d index %d and a fresh transport-wide seq", p, seqA, idx)
	}
	if p := rb[len(rb)-1]; p.ssrc != 222 || p.seq != seqB || p.index != idx || p.twcc != -1 {
		t.Fatalf("b's retransmission: %+v, want ssrc 222 seq %d index %d", p, seqB, idx)
	}
	// Still cached but from a's first mapping: gone by now (600 packets
	// later the slot holds another). A recent one before b's mapping
	// changed nothing: covered above. A repeat within resendGap is folded.
	da.HandleRTCP(nack(111, ga[5].seq))
	da.HandleRTCP(nack(111, seqA))
	if extra := len(a.settled()); extra != total-9 {
		t.Fatalf("a got %d packets, want %d: an evicted packet or a repeated NACK was answered", extra, total-9)
	}
	if da.rtx.missed != 1 {
		t.Fatalf("%d NACKed packets missed, want 1 (the evicted one)", da.rtx.missed)
	}
}

// The TWCC feedback a subscriber sends reaches its Transport's hook, and
// the Transport knows when each sequence number left.
func TestTransportFeedbackReachesTheHook(t *testing.T) {
	src := &packets{raw: rawPacket(t, 500), n: 20}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo})
	tr := NewTransport(noRTCP)
	t.Cleanup(tr.Close)
	d := tr.NewDownTrack(r, "v", "s", nil)
	bind(d, &sink{}, 7, 96, twccTestID)
	r.AddDown(d)
	var fbs [][]byte
	tr.OnFeedback(func(fb []byte) { fbs = append(fbs, append([]byte(nil), fb...)) })
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	for seq := uint16(1); seq <= 20; seq++ {
		if _, size, ok := tr.Sent(seq); !ok || size < 500 {
			t.Fatalf("seq %d: sent record %v size %d", seq, ok, size)
		}
	}
	if _, _, ok := tr.Sent(21); ok {
		t.Fatal("a sequence number never used has a send record")
	}
	fb := &rtcp.TransportLayerCC{MediaSSRC: 7, BaseSequenceNumber: 1, PacketStatusCount: 20}
	d.HandleRTCP([]rtcp.Packet{fb, &rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: 7, FractionLost: 64, TotalLost: 3}}}})
	if len(fbs) != 1 || len(fbs[0]) < 20 || binary.BigEndian.Uint16(fbs[0][12:]) != 1 || binary.BigEndian.Uint16(fbs[0][14:]) != 20 || tr.Feedbacks() != 1 {
		t.Fatalf("hook got %d feedbacks: %x", len(fbs), fbs)
	}
	if rep := d.Report(); rep.FractionLost != 0.25 || rep.TotalLost != 3 {
		t.Fatalf("report %+v", rep)
	}
}

// Forwarding allocates nothing per copy, on the batched path with SRTP
// and on pion's stream: a run of many packets allocates what a run of one
// does (the loop's buffers, once).
func TestForwardingAllocatesNothingPerCopy(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	conn := node(t)
	for _, batched := range []bool{true, false} {
		src := &packets{raw: rawPacket(t, 1100)}
		r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo})
		var subs []*subscriber
		for i := 0; i < 10; i++ {
			tr := NewTransport(noRTCP)
			t.Cleanup(tr.Close)
			d := tr.NewDownTrack(r, "t", "s", nil)
			if batched {
				s := startSubscriber(t, true)
				subs = append(subs, s)
				tr.SetPath(s.path(conn))
			}
			bind(d, &sink{}, uint32(i), 96, twccTestID)
			r.AddDown(d)
		}
		run := func(n int) float64 {
			return testing.AllocsPerRun(5, func() {
				src.i, src.n = 0, n
				_ = r.Run()
			})
		}
		run(1) // warm up
		one, many := run(1), run(500)
		// The count is the process's: the transports' sender-report loops
		// allocate a report per track a second meanwhile. Per copy (5000
		// of them) there must be nothing.
		if perCopy := (many - one) / 5000; perCopy > 0.005 {
			t.Errorf("batched %v: %.0f allocations for 500 packets to 10 subscribers, %.0f for one", batched, many, one)
		}
		if batched {
			if n := subs[9].count(); n == 0 {
				t.Fatal("nothing arrived")
			}
		}
	}
}

// BenchmarkForward is the cost per copy of pion's stream fallback without
// SRTP and the kernel: the header rewrite and the bookkeeping.
func BenchmarkForward(b *testing.B) {
	src := &packets{raw: rawPacket(b, 1100)}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo})
	for i := 0; i < 50; i++ {
		d := NewDownTrack(r, "t", "s", nil)
		bind(d, &sink{}, uint32(i), 96, 0)
		r.AddDown(d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	src.n = b.N
	_ = r.Run()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/copy")
}

// discard is a BatchConn that sends nothing: the node's own cost per copy.
type discard struct{}

func (discard) WriteBatch(ms []ipv4.Message, _ int) (int, error) { return len(ms), nil }

// BenchmarkForwardBatched is the batched copy path of one packet to 50
// subscribers without the kernel: header rewrite, transport-wide sequence
// number, AES-GCM SRTP into the batch. op is one incoming packet.
func BenchmarkForwardBatched(b *testing.B) { benchBatched(b, discard{}, 50) }

// BenchmarkForwardBatchedSendmmsg is the same with the batches sent by
// sendmmsg over loopback to 50 sockets (read by goroutines that only count,
// on the other core). cpu-ns/copy is the forwarding thread's CPU time
// (RUSAGE_THREAD), which includes the kernel's loopback delivery.
func BenchmarkForwardBatchedSendmmsg(b *testing.B) { benchBatched(b, nil, 50) }

func benchBatched(b *testing.B, conn BatchConn, n int) {
	if conn == nil {
		conn = node(b)
	}
	src := &packets{raw: rawPacket(b, 1100)}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo})
	for i := 0; i < n; i++ {
		s := startSubscriber(b, true)
		tr := NewTransport(noRTCP)
		b.Cleanup(tr.Close)
		tr.SetPath(s.path(conn))
		d := tr.NewDownTrack(r, "t", "s", nil)
		bind(d, nil, uint32(i), 96, twccTestID)
		r.AddDown(d)
	}
	src.n = 1
	_ = r.Run() // warm up: sealers
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := threadCPU()
	b.ResetTimer()
	src.i, src.n = 0, b.N
	_ = r.Run()
	b.StopTimer()
	cpu := threadCPU() - cpu0
	runtime.ReadMemStats(&m1)
	copies := float64(b.N * n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/copies, "ns/copy")
	b.ReportMetric(float64(cpu.Nanoseconds())/copies, "cpu-ns/copy")
	// Run's buffers (a batch, a cache) are allocated once per Run.
	b.ReportMetric(max(0, float64(m1.Mallocs-m0.Mallocs)-runAllocs)/copies, "allocs/copy")
}

// runAllocs is what one Run allocates before its first packet (its batch
// and cache): more is per packet.
const runAllocs = 2 + 2*batchSize + 3

func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A track's sender report counts what went to this subscriber and maps
// wall clock to its RTP clock; a receiver report answering it gives the
// round trip.
func TestSenderReportAndRoundTrip(t *testing.T) {
	src := &packets{raw: rawPacket(t, 500), n: 30}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{ClockRate: 90000}})
	var written []rtcp.Packet
	tr := NewTransport(func(p []rtcp.Packet) error { written = append(written, p...); return nil })
	t.Cleanup(tr.Close)
	d := tr.NewDownTrack(r, "v", "s", nil)
	bind(d, &sink{}, 77, 96, 0)
	r.AddDown(d)
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	d.publish(monotime(), 3000*29) // what the loop publishes every 100 ms
	time.Sleep(20 * time.Millisecond)
	sr, ok := d.senderReport(time.Now())
	if !ok {
		t.Fatal("no sender report")
	}
	if sr.SSRC != 77 || sr.PacketCount != 30 || sr.OctetCount != 30*500 {
		t.Fatalf("sender report %+v, want SSRC 77, 30 packets, %d octets", sr, 30*500)
	}
	// 20 ms after the last packet the RTP clock ran on by ~1800 ticks.
	if ahead := int(sr.RTPTime) - 3000*29; ahead < 1500 || ahead > 4500 {
		t.Fatalf("RTP time %d ticks past the last packet's, want ~1800", ahead)
	}
	time.Sleep(30 * time.Millisecond)
	d.HandleRTCP([]rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{
		SSRC: 77, LastSenderReport: uint32(sr.NTPTime >> 16), Delay: 65536 / 100, // held 10 ms
	}}}})
	if rtt := d.Report().RTT; rtt < 15*time.Millisecond || rtt > 200*time.Millisecond {
		t.Fatalf("round trip %s, want ~20 ms (30 ms since the report, 10 of them held)", rtt)
	}
}

// The subscriber's SRTCP read off the socket is authenticated, checked
// against replays and acted on: NACK answered, PLI passed to the publisher,
// report and congestion feedback kept.
func TestTransportReadsTheSubscribersSRTCP(t *testing.T) {
	conn := node(t)
	src := &packets{raw: rawPacket(t, 700), n: 50}
	keyframes := 0
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo, Keyframe: func() { keyframes++ }})
	s := newSubscriber(t)
	rk := srtpgcm.Keys{Profile: srtpgcm.AES128GCM, Key: make([]byte, 16), Salt: make([]byte, 12)}
	_, _ = rand.Read(rk.Key)
	_, _ = rand.Read(rk.Salt)
	tr := NewTransport(noRTCP)
	t.Cleanup(tr.Close)
	p := s.path(conn)
	p.RemoteKeys = rk
	tr.SetPath(p)
	if !tr.ReadsRTCP() {
		t.Fatal("transport does not read RTCP")
	}
	d := tr.NewDownTrack(r, "v", "s", nil)
	bind(d, nil, 55, 96, twccTestID)
	r.AddDown(d)
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	sent := s.packets(50)
	var fbs int
	tr.OnFeedback(func([]byte) { fbs++ })
	enc, err := srtp.CreateContext(rk.Key, rk.Salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	rec := twcc.NewRecorder(9) // a subscriber's feedback, as pion builds it
	for _, g := range sent[:5] {
		rec.Record(55, uint16(g.twcc), int64(g.twcc)*1000)
	}
	plain, err := rtcp.Marshal(append([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 9, Reports: []rtcp.ReceptionReport{{SSRC: 55, FractionLost: 128, TotalLost: 4}}},
		&rtcp.TransportLayerNack{SenderSSRC: 9, MediaSSRC: 55, Nacks: []rtcp.NackPair{{PacketID: sent[10].seq, LostPackets: 1 << 1}}},
		&rtcp.PictureLossIndication{SenderSSRC: 9, MediaSSRC: 55},
	}, rec.BuildFeedbackPacket()...))
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := enc.EncryptRTCP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.HandleSRTCP(pkt) {
		t.Fatal("SRTCP not taken")
	}
	got := s.packets(52)
	if len(got) != 52 || got[50].seq != sent[10].seq || got[51].seq != sent[12].seq || got[51].index != 12 {
		t.Fatalf("resent %v, want packets 10 and 12", got[50:])
	}
	if rep := d.Report(); rep.FractionLost != 0.5 || rep.TotalLost != 4 {
		t.Fatalf("report %+v", rep)
	}
	if fbs != 1 || tr.Feedbacks() != 1 {
		t.Fatalf("%d feedbacks reached the hook", fbs)
	}
	if keyframes != 1 {
		t.Fatalf("%d keyframe requests, want 1", keyframes)
	}
	// The same packet again is a replay; a forged one is not taken (pion
	// gets it, and drops it).
	if !tr.HandleSRTCP(pkt) {
		t.Fatal("a replay was passed on")
	}
	forged := append([]byte(nil), pkt...)
	forged[9] ^= 0x40
	if tr.HandleSRTCP(forged) {
		t.Fatal("a forged packet was taken")
	}
	if taken, refused := tr.RTCPIn(); taken != 2 || refused != 1 {
		t.Fatalf("taken %d, refused %d; want 2 and 1", taken, refused)
	}
	if fbs != 1 || len(s.settled()) != 52 {
		t.Fatal("a refused packet was acted on")
	}
}

// BenchmarkForwardBatched500 is BenchmarkForwardBatched with 500
// subscribers: each copy's state is cold in the cache, as on a big node.
func BenchmarkForwardBatched500(b *testing.B) { benchBatched(b, discard{}, 500) }
