package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
)

type scenario struct {
	name                    string
	publishers, subscribers int
	// full is how many subscribers are full pion peers; the rest are thin
	// (thin.go). Publishers are always full.
	full     int
	videoBps int
	pinned   bool // the node runs on one core (capacity search)
	// simulcast: publishers send the camera in three layers and the
	// subscribers ask for mixed sizes (a third each small, medium, large).
	simulcast bool
}

// benchSimulcast is a browser's camera in the SPA's layers.
var benchSimulcast = []simpeer.LayerSpec{{RID: events.RIDQuarter, Bps: 150_000}, {RID: events.RIDHalf, Bps: 500_000}, {RID: events.RIDFull, Bps: 1_500_000}}

// tileSizes are the subscribers' sizes in a simulcast scenario, in turn.
var tileSizes = [][2]int{{320, 180}, {640, 360}, {1280, 720}}

type benchEnv struct {
	send     simpeer.SendFunc
	pusher   *simpeer.Pusher
	endpoint string
	api      *webrtc.API
	node     *nodeControl
	profile  string  // CPU profile of each measured window, to profile+"."+scenario
	quiet    float64 // wait before each scenario until others use under this share of a core
	retries  int     // plays of a scenario disturbed by others, at most
}

type result struct {
	scenario
	load         [3]float64    // load average when the scenario began
	others       time.Duration // CPU other processes used during the window
	streams      int           // subscriber-streams (one track to one subscriber)
	missing      int           // streams that never delivered a packet
	dur          time.Duration // measured
	node         window        // node CPU, GC over dur
	copies       uint64        // packets delivered to subscribers
	bytes        uint64
	sent, recv   uint64 // packets sent to subscribers, and received (unique)
	published    uint64 // packets the publishers wrote
	lat, joinLat []time.Duration
	// sockLat: publisher's write → the kernel's arrival at a thin
	// subscriber's socket (on loopback, the node's send), without the load
	// generator's own reading.
	sockLat []time.Duration
	layers  [3]uint64 // video copies received by layer (q, h, f; video without simulcast is q)
}

// stream is one track arriving at one subscriber: a *simpeer.In or a
// *thinStream.
type stream interface {
	FirstAt() time.Time
	Mark() (unique uint64, highest int64)
	Latencies() []int32
	ResetLatencies()
}

// member is one simulated participant.
type member struct {
	c    *simpeer.Client
	thin *thinNet
	pub  bool
}

func (m *member) streams() []stream {
	var out []stream
	if m.thin != nil {
		for _, s := range m.thin.list() {
			out = append(out, s)
		}
		return out
	}
	for _, in := range m.c.Ins() {
		out = append(out, in)
	}
	return out
}

// layerCounts returns the video packets received on s by layer.
func layerCounts(s stream) (out [3]uint64) {
	for i := range out {
		switch s := s.(type) {
		case *simpeer.In:
			out[i] = s.LayerPackets[i].Load()
		case *thinStream:
			out[i] = s.layers[i].Load()
		}
	}
	return out
}

// counters returns packets and bytes received on s so far.
func counters(s stream) (uint64, uint64) {
	switch s := s.(type) {
	case *simpeer.In:
		return s.Packets.Load(), s.Bytes.Load()
	case *thinStream:
		return s.packets.Load(), s.bytes.Load()
	}
	return 0, 0
}

func (e *benchEnv) client(room events.RoomCode, thin bool) (*member, error) {
	api, m := e.api, &member{}
	if thin {
		var err error
		if api, m.thin, err = thinAPI(); err != nil {
			return nil, err
		}
	}
	c, err := simpeer.New(api, room, e.send)
	if err != nil {
		return nil, err
	}
	c.Conn.Endpoint = e.endpoint
	e.pusher.Attach(c)
	m.c = c
	return m, nil
}

func (m *member) close(p *simpeer.Pusher) {
	m.c.Close()
	p.Detach(m.c)
	if m.thin != nil {
		m.thin.close()
	}
}

// run plays a scenario and measures it; when other processes took more
// than e.quiet+0.1 of a core during the window it plays it again (up to
// e.retries times) and keeps the quietest run.
func (e *benchEnv) run(sc scenario, dur time.Duration) (result, error) {
	var best result
	for i := 0; ; i++ {
		r, err := e.runOnce(sc, dur)
		if err != nil {
			return r, err
		}
		if i == 0 || r.others < best.others {
			best = r
		}
		share := best.others.Seconds() / dur.Seconds()
		if e.quiet <= 0 || share <= e.quiet+0.1 || i >= e.retries {
			return best, nil
		}
		fmt.Fprintf(os.Stderr, "loadgen: %s: others took %.0f %% of a core during the window; again\n", sc.name, 100*share)
	}
}

// runOnce plays one scenario in a fresh room and measures it.
func (e *benchEnv) runOnce(sc scenario, dur time.Duration) (result, error) {
	if e.quiet > 0 {
		waitQuiet(e.node, e.quiet, 10*time.Minute)
	}
	res := result{scenario: sc, dur: dur, load: loadAvg()}
	room := events.NewRoomCode()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var all, pubs []*member
	defer func() {
		if len(all) > 0 {
			// The meeting ends for everyone at once, as when a host ends it.
			cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = all[0].c.Command(cctx, events.Command{Type: events.CmdCloseRoom})
			ccancel()
		}
		time.Sleep(time.Second + time.Duration(len(all))*2*time.Millisecond) // let the node close the room
		for _, m := range all {
			m.close(e.pusher)
		}
	}()
	for range sc.publishers {
		m, err := e.client(room, false)
		if err != nil {
			return res, err
		}
		m.pub = true
		if sc.simulcast {
			m.c.Simulcast = benchSimulcast
		}
		all = append(all, m)
		pubs = append(pubs, m)
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		err = m.c.Join(pctx)
		if err == nil {
			_, err = m.c.Publish(pctx, sc.videoBps, events.SourceMicrophone, events.SourceCamera)
		}
		pcancel()
		if err != nil {
			return res, err
		}
	}
	var subs []*member
	for i := range sc.subscribers {
		m, err := e.client(room, sc.full >= 0 && i >= sc.full)
		if err != nil {
			return res, err
		}
		all = append(all, m)
		subs = append(subs, m)
		if err := m.c.Join(ctx); err != nil {
			return res, err
		}
		time.Sleep(20 * time.Millisecond) // joins arrive over time, not all in one instant
	}
	if sc.simulcast {
		if err := askSizes(ctx, subs, pubs); err != nil {
			return res, err
		}
	}

	// Every participant should get both tracks of every other publisher.
	want := func(m *member) int {
		n := 2 * len(pubs)
		if m.pub {
			n -= 2
		}
		return n
	}
	for _, m := range all {
		res.streams += want(m)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got := 0
		for _, m := range all {
			for _, s := range m.streams() {
				if !s.FirstAt().IsZero() {
					got++
				}
			}
		}
		if got >= res.streams {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range all {
		got := 0
		for _, s := range m.streams() {
			first := s.FirstAt()
			if first.IsZero() {
				continue
			}
			got++
			start := m.c.JoinedAt
			if pub := publisherOf(m, s, pubs); pub != nil && pub.c.PublishedAt.After(start) {
				start = pub.c.PublishedAt
			}
			res.joinLat = append(res.joinLat, first.Sub(start))
		}
		res.missing += max(0, want(m)-got)
	}

	time.Sleep(2 * time.Second) // warm-up: keyframes, NACK storms of the start
	// Loss is counted from sequence numbers at each subscriber (the node
	// keeps them contiguous), which needs no clock agreement between
	// senders and receivers.
	type mark struct {
		unique, packets, bytes uint64
		highest                int64
		layers                 [3]uint64
	}
	before := map[stream]mark{}
	for _, m := range all {
		for _, s := range m.streams() {
			s.ResetLatencies()
			u, h := s.Mark()
			p, b := counters(s)
			before[s] = mark{u, p, b, h, layerCounts(s)}
		}
	}
	if e.profile != "" {
		_ = e.node.ask("profile "+e.profile+"."+slug(sc.name), nil)
	}
	m0, err := e.node.metrics()
	if err != nil {
		return res, err
	}
	busy0, self0 := machineBusy(), selfCPU()
	pub0 := published(pubs)
	time.Sleep(dur)
	res.published = published(pubs) - pub0
	busy1, self1 := machineBusy(), selfCPU()
	m1, err := e.node.metrics()
	if err != nil {
		return res, err
	}
	res.others = max(0, (busy1-busy0)-(self1-self0)-(m1.CPU-m0.CPU))
	if e.profile != "" {
		_ = e.node.ask("stop-profile", nil)
		_ = e.node.ask("allocs "+e.profile+"."+slug(sc.name)+".allocs", nil)
	}
	res.node = diff(m0, m1)
	for _, p := range pubs {
		p.c.StopPublishing()
	}
	time.Sleep(500 * time.Millisecond) // packets in flight, and their repairs
	for _, m := range all {
		for _, s := range m.streams() {
			b, ok := before[s]
			if !ok {
				continue
			}
			u, h := s.Mark()
			p, by := counters(s)
			res.recv += u - b.unique
			res.sent += uint64(h - b.highest)
			res.copies += p - b.packets
			res.bytes += by - b.bytes
			for i, n := range layerCounts(s) {
				res.layers[i] += n - b.layers[i]
			}
			for _, us := range s.Latencies() {
				res.lat = append(res.lat, time.Duration(us)*time.Microsecond)
			}
			if t, ok := s.(*thinStream); ok {
				for _, us := range t.SocketLatencies() {
					res.sockLat = append(res.sockLat, time.Duration(us)*time.Microsecond)
				}
			}
		}
	}
	if os.Getenv("LOADGEN_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "%s: latency p90 %s p95 %s p98 %s p999 %s max %s; copies %d unique %d; GCs %d, %d B and %d objects allocated\n", sc.name,
			ms(pct(res.lat, 0.9)), ms(pct(res.lat, 0.95)), ms(pct(res.lat, 0.98)), ms(pct(res.lat, 0.999)), ms(pct(res.lat, 1)),
			res.copies, res.recv, res.node.gcs, res.node.allocBytes, res.node.allocObjects)
	}
	return res, nil
}

// askSizes has each subscriber show every publisher's camera at a size of
// tileSizes, in turn, once its subscribe offer named the camera's mid.
// published is how many packets pubs have written so far.
func published(pubs []*member) (n uint64) {
	for _, p := range pubs {
		for _, o := range p.c.Outs() {
			n += o.Sent.Load()
		}
	}
	return n
}

func askSizes(ctx context.Context, subs, pubs []*member) error {
	for i, m := range subs {
		w, h := tileSizes[i%len(tileSizes)][0], tileSizes[i%len(tileSizes)][1]
		var sizes []events.VideoSize
		for _, p := range pubs {
			id := string(p.c.ID) + "-" + string(events.SourceCamera)
			deadline := time.Now().Add(20 * time.Second)
			for m.c.Mid(id) == "" {
				if time.Now().After(deadline) {
					return fmt.Errorf("no subscribe offer with %s for %s", id, m.c.ID)
				}
				time.Sleep(50 * time.Millisecond)
			}
			sizes = append(sizes, events.VideoSize{Mid: m.c.Mid(id), Width: w, Height: h})
		}
		if err := m.c.VideoSizes(ctx, sizes...); err != nil {
			return err
		}
	}
	return nil
}

// publisherOf finds whose track s is: by stream id for a full subscriber,
// and for a thin one (which sees only SSRCs) the one publisher there is.
func publisherOf(m *member, s stream, pubs []*member) *member {
	if in, ok := s.(*simpeer.In); ok {
		for _, p := range pubs {
			if string(p.c.ID) == in.StreamID {
				return p
			}
		}
		return nil
	}
	if len(pubs) == 1 {
		return pubs[0]
	}
	return nil
}

func slug(s string) string {
	return regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(s, "-")
}

// loadAvg is /proc/loadavg's three figures.
func loadAvg() [3]float64 {
	var l [3]float64
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := regexp.MustCompile(`\s+`).Split(string(data), 4)[:3]
	for i := range f {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
