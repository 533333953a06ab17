package forward

import (
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

func TestQueueKeepsOrderAndArrivalsAndRefusesPastItsLimit(t *testing.T) {
	q := NewQueue(1000)
	before := monotime()
	for i := range 40 { // past the ring's first size
		if _, err := q.Write([]byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	buf := make([]byte, 1500)
	last := before
	for i := range 40 {
		n, err := q.Read(buf)
		if err != nil || n != 10 || buf[0] != byte(i) {
			t.Fatalf("read %d: %d bytes, first %d, %v", i, n, buf[0], err)
		}
		if at := q.Arrived(); at < last || at > monotime() {
			t.Fatalf("packet %d arrived at %d, before the one ahead of it (%d) or in the future", i, at, last)
		}
		last = q.Arrived()
	}
	// The limit is in bytes, as pion's buffer's is.
	big := make([]byte, 600)
	if _, err := q.Write(big); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Write(big); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("write past the limit: %v, want ErrQueueFull", err)
	}
	if q.Full() != 1 {
		t.Fatalf("refused %d, want 1", q.Full())
	}
	if _, err := q.Read(make([]byte, 100)); !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("read into a short buffer: %v", err)
	}
	if n, err := q.Read(buf); err != nil || n != 600 {
		t.Fatalf("read %d, %v", n, err)
	}
}

func TestQueueWakesItsReaderAndEndsOnClose(t *testing.T) {
	q := NewQueue(1000)
	got := make(chan error, 3)
	go func() {
		buf := make([]byte, 100)
		for {
			_, err := q.Read(buf)
			got <- err
			if err != nil {
				return
			}
		}
	}()
	time.Sleep(10 * time.Millisecond) // let it wait
	if _, err := q.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting reader: %v", err)
	}
	if _, err := q.Write([]byte{2}); err != nil {
		t.Fatal(err)
	}
	_ = q.Close()
	if err := <-got; err != nil {
		t.Fatalf("packet queued before the close: %v", err)
	}
	if err := <-got; err != io.EOF {
		t.Fatalf("after the close: %v, want io.EOF", err)
	}
	if _, err := q.Write([]byte{3}); err == nil {
		t.Fatal("write after close accepted")
	}
}

// aged is a Source of scripted packets, each having waited its age in the
// node when read.
type aged struct {
	pkts []agedPacket
	i    int
	last int64
}

type agedPacket struct {
	raw []byte
	age time.Duration
}

func (a *aged) Read(b []byte) (int, interceptor.Attributes, error) {
	if a.i == len(a.pkts) {
		return 0, nil, io.EOF
	}
	p := a.pkts[a.i]
	a.i++
	a.last = monotime() - int64(p.age)
	return copy(b, p.raw), nil, nil
}

func (a *aged) Arrived() int64 { return a.last }

// A node that fell behind drops what waited too long rather than forward
// old media, asks for a keyframe, and resumes video at the first fresh
// one — with no gap in the subscriber's sequence numbers.
func TestStalePacketsAreDroppedAndVideoResumesAtAFreshKeyframe(t *testing.T) {
	stale := 2 * StaleAfter
	src := &aged{}
	add := func(key bool, age time.Duration) {
		i := len(src.pkts)
		src.pkts = append(src.pkts, agedPacket{vp8Packet(uint16(100+i), uint32(3000*i), key), age})
	}
	for i := range 5 {
		add(i == 0, 0) // forwarded
	}
	for range 5 {
		add(false, stale) // dropped: waited too long
	}
	for range 3 {
		add(false, 0) // dropped: fresh, but they need the frames lost
	}
	add(true, stale) // a keyframe, but too late itself
	add(false, 0)
	add(false, 0)
	add(true, 0) // resumes here
	for range 3 {
		add(false, 0)
	}
	var asked atomic.Int32
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		Keyframe: func() { asked.Add(1) }})
	s := &sink{keep: true}
	d := NewDownTrack(r, "p-camera", "p", nil)
	bind(d, s, 7, 96, 0)
	r.AddDown(d)
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	if len(s.seqs) != 9 {
		t.Fatalf("forwarded %d packets, want 9 (5 before the stale ones, 4 from the fresh keyframe)", len(s.seqs))
	}
	for i := 1; i < len(s.seqs); i++ {
		if s.seqs[i] != s.seqs[i-1]+1 {
			t.Fatalf("sequence jumps %d → %d at %d", s.seqs[i-1], s.seqs[i], i)
		}
	}
	if st := r.Stats(); st.Stale != 11 || st.Packets != 20 {
		t.Fatalf("stats: %d stale of %d, want 11 of 20", st.Stale, st.Packets)
	}
	if asked.Load() < 1 {
		t.Fatal("no keyframe asked for when the dropping began")
	}
	// The second request (once packets were fresh again) falls inside the
	// first's KeyframeInterval: it is sent when that ends.
	deadline := time.Now().Add(5 * KeyframeInterval)
	for asked.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if asked.Load() != 2 {
		t.Fatalf("%d keyframe requests, want 2 (when dropping began, and when fresh packets still lacked one)", asked.Load())
	}
}

// Audio has no keyframes: it resumes with the first fresh packet.
func TestStaleAudioIsDroppedAndResumesAtOnce(t *testing.T) {
	src := &aged{}
	for i := range 9 {
		age := time.Duration(0)
		if i >= 3 && i < 6 {
			age = 2 * StaleAfter
		}
		raw := rawPacket(t, 100)
		raw[2], raw[3] = 0, byte(i)
		src.pkts = append(src.pkts, agedPacket{raw, age})
	}
	r := NewReceiver(src, Options{Kind: webrtc.RTPCodecTypeAudio})
	s := &sink{keep: true}
	d := NewDownTrack(r, "p-mic", "p", nil)
	bind(d, s, 9, 111, 0)
	r.AddDown(d)
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	if len(s.seqs) != 6 || r.Stats().Stale != 3 {
		t.Fatalf("forwarded %d, dropped %d; want 6 and 3", len(s.seqs), r.Stats().Stale)
	}
	for i := 1; i < len(s.seqs); i++ {
		if s.seqs[i] != s.seqs[i-1]+1 {
			t.Fatalf("sequence jumps %d → %d at %d", s.seqs[i-1], s.seqs[i], i)
		}
	}
}
