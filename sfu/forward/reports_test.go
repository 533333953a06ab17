package forward

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Every transport's tracks get a sender report about once a second from
// the one shared clock, the transports spread over its ticks; a closed
// transport gets no more, and the clock stops with the last one.
func TestSenderReportsShareOneClock(t *testing.T) {
	const n = 20
	var mu sync.Mutex
	at := make([][]time.Time, n)
	ssrcs := make([][]uint32, n)
	trs := make([]*Transport, n)
	r := NewReceiver(&packets{raw: rawPacket(t, 500), n: 30}, Options{Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{ClockRate: 90000}})
	var downs []*DownTrack
	for i := range trs {
		trs[i] = NewTransport(func(pkts []rtcp.Packet) error {
			mu.Lock()
			defer mu.Unlock()
			at[i] = append(at[i], time.Now())
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok {
					ssrcs[i] = append(ssrcs[i], sr.SSRC)
				}
			}
			return nil
		})
		d := trs[i].NewDownTrack(r, "v", "s", nil)
		bind(d, &sink{}, uint32(100+i), 96, 0)
		r.AddDown(d)
		downs = append(downs, d)
	}
	t.Cleanup(func() {
		for _, tr := range trs {
			tr.Close()
		}
	})
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	for _, d := range downs {
		d.publish(monotime(), 3000*29)
	}

	// Two and a half rounds.
	time.Sleep(reportEvery*5/2 + reportEvery/reportPhases)
	trs[0].Close()
	mu.Lock()
	closedAt := len(at[0])
	var firsts []time.Time
	for i := range at {
		if len(at[i]) < 2 {
			mu.Unlock()
			t.Fatalf("transport %d: %d sender reports in 2.5 rounds, want 2 or more", i, len(at[i]))
		}
		for _, s := range ssrcs[i] {
			if s != uint32(100+i) {
				mu.Unlock()
				t.Fatalf("transport %d got a report on SSRC %d", i, s)
			}
		}
		if gap := at[i][1].Sub(at[i][0]); gap < reportEvery/2 || gap > 2*reportEvery {
			mu.Unlock()
			t.Fatalf("transport %d: reports %s apart, want about %s", i, gap, reportEvery)
		}
		firsts = append(firsts, at[i][0])
	}
	mu.Unlock()
	// The transports report on different ticks, not all at once.
	ticks := map[int64]bool{}
	for _, f := range firsts {
		ticks[f.Sub(firsts[0]).Round(reportEvery/reportPhases).Milliseconds()] = true
	}
	if len(ticks) < reportPhases/2 {
		t.Fatalf("the first reports fell on %d ticks, want them spread over %d", len(ticks), reportPhases)
	}

	time.Sleep(reportEvery * 3 / 2)
	mu.Lock()
	after := len(at[0])
	mu.Unlock()
	if after != closedAt {
		t.Fatalf("a closed transport got %d more reports", after-closedAt)
	}
	for _, tr := range trs {
		tr.Close()
	}
	deadline := time.Now().Add(3 * reportEvery / reportPhases * 10)
	for {
		reporting.mu.Lock()
		running := reporting.running
		reporting.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the report clock runs on with no transport left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// On a Path the node seals the sender reports itself and sends them with
// the copies, under SRTCP the subscriber decrypts (and whose replay check
// each tick's report passes); without one, pion's RTCP writer gets them.
func TestSenderReportsTakeThePath(t *testing.T) {
	conn := node(t)
	s := newSubscriber(t)
	var mu sync.Mutex
	var viaPion []*rtcp.SenderReport
	tr := NewTransport(func(pkts []rtcp.Packet) error {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				viaPion = append(viaPion, sr)
			}
		}
		return nil
	})
	t.Cleanup(tr.Close)
	tr.SetPath(s.path(conn))
	r := NewReceiver(&packets{raw: rawPacket(t, 500), n: 30}, Options{Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{ClockRate: 90000}})
	d := tr.NewDownTrack(r, "v", "s", nil)
	bind(d, nil, 77, 96, 0)
	r.AddDown(d)
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	d.publish(monotime(), 3000*29)
	if got := s.packets(30); len(got) != 30 {
		t.Fatalf("%d copies arrived, want 30", len(got))
	}

	deadline := time.Now().Add(4 * reportEvery)
	for len(s.senderReports()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	srs := s.senderReports()
	if len(srs) < 2 {
		t.Fatalf("%d sender reports reached the subscriber in 4 rounds, want 2 or more", len(srs))
	}
	for _, sr := range srs {
		if sr.SSRC != 77 || sr.PacketCount != 30 || sr.OctetCount != 30*500 {
			t.Fatalf("sender report %+v, want SSRC 77, 30 packets, %d octets", sr, 30*500)
		}
	}
	s.packets(0) // fails the test on a packet that did not decrypt
	mu.Lock()
	n := len(viaPion)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d reports went through pion as well", n)
	}

	tr.SetPath(nil)
	deadline = time.Now().Add(3 * reportEvery)
	for {
		mu.Lock()
		n := len(viaPion)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("without a Path no report went through pion")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
