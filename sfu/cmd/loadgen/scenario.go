package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/simpeer"
)

type scenario struct {
	name                    string
	publishers, subscribers int
	videoBps                int
}

type benchEnv struct {
	send     simpeer.SendFunc
	pusher   *simpeer.Pusher
	endpoint string
	api      *webrtc.API
	nodePID  int
}

type result struct {
	scenario
	streams      int           // subscriber-streams (one track to one subscriber)
	missing      int           // streams that never delivered a packet
	dur          time.Duration // measured
	cpu          time.Duration // node CPU over dur
	copies       uint64        // packets delivered to subscribers
	bytes        uint64
	sent, recv   uint64 // packets sent to subscribers, and received (unique)
	lat, joinLat []time.Duration
}

func (e *benchEnv) client(room events.RoomCode) (*simpeer.Client, error) {
	c, err := simpeer.New(e.api, room, e.send)
	if err != nil {
		return nil, err
	}
	c.Conn.Endpoint = e.endpoint
	e.pusher.Attach(c)
	return c, nil
}

// run plays one scenario in a fresh room and measures it.
func (e *benchEnv) run(sc scenario, dur time.Duration) (result, error) {
	res := result{scenario: sc, dur: dur}
	room := events.NewRoomCode()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var all, pubs []*simpeer.Client
	defer func() {
		if len(all) > 0 {
			// The meeting ends for everyone at once, as when a host ends it.
			cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = all[0].Command(cctx, events.Command{Type: events.CmdCloseRoom})
			ccancel()
		}
		time.Sleep(time.Second) // let the node close the room before the next scenario
		for _, c := range all {
			c.Close()
			e.pusher.Detach(c)
		}
	}()
	for range sc.publishers {
		c, err := e.client(room)
		if err != nil {
			return res, err
		}
		all = append(all, c)
		pubs = append(pubs, c)
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		err = c.Join(pctx)
		if err == nil {
			_, err = c.Publish(pctx, sc.videoBps, events.SourceMicrophone, events.SourceCamera)
		}
		pcancel()
		if err != nil {
			return res, err
		}
	}
	for range sc.subscribers {
		c, err := e.client(room)
		if err != nil {
			return res, err
		}
		all = append(all, c)
		if err := c.Join(ctx); err != nil {
			return res, err
		}
		time.Sleep(20 * time.Millisecond) // joins arrive over time, not all in one instant
	}

	// Every participant should get both tracks of every other publisher.
	want := func(c *simpeer.Client) int {
		n := 2 * len(pubs)
		if slices.Contains(pubs, c) {
			n -= 2
		}
		return n
	}
	for _, c := range all {
		res.streams += want(c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got := 0
		for _, c := range all {
			for _, in := range c.Ins() {
				if !in.FirstAt().IsZero() {
					got++
				}
			}
		}
		if got >= res.streams {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	byID := map[events.ParticipantID]*simpeer.Client{}
	for _, c := range all {
		byID[c.ID] = c
	}
	for _, c := range all {
		got := 0
		for _, in := range c.Ins() {
			if in.FirstAt().IsZero() {
				continue
			}
			got++
			if pub := byID[events.ParticipantID(in.StreamID)]; pub != nil {
				start := c.JoinedAt
				if pub.PublishedAt.After(start) {
					start = pub.PublishedAt
				}
				res.joinLat = append(res.joinLat, in.FirstAt().Sub(start))
			}
		}
		res.missing += max(0, want(c)-got)
	}

	time.Sleep(2 * time.Second) // warm-up: keyframes, NACK storms of the start
	// Loss is counted from sequence numbers at each subscriber (the node
	// keeps them contiguous), which needs no clock agreement between
	// senders and receivers.
	type mark struct {
		unique, packets, bytes uint64
		highest                int64
	}
	before := map[*simpeer.In]mark{}
	for _, c := range all {
		for _, in := range c.Ins() {
			in.ResetLatencies()
			u, h := in.Mark()
			before[in] = mark{u, in.Packets.Load(), in.Bytes.Load(), h}
		}
	}
	cpu0, err := procCPU(e.nodePID)
	if err != nil {
		return res, err
	}
	time.Sleep(dur)
	cpu1, _ := procCPU(e.nodePID)
	res.cpu = cpu1 - cpu0
	for _, p := range pubs {
		p.StopPublishing()
	}
	time.Sleep(500 * time.Millisecond) // packets in flight, and their repairs
	for _, c := range all {
		for _, in := range c.Ins() {
			b := before[in]
			u, h := in.Mark()
			res.recv += u - b.unique
			res.sent += uint64(h - b.highest)
			res.copies += in.Packets.Load() - b.packets
			res.bytes += in.Bytes.Load() - b.bytes
			for _, us := range in.Latencies() {
				res.lat = append(res.lat, time.Duration(us)*time.Microsecond)
			}
		}
	}
	if os.Getenv("LOADGEN_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "%s: latency p90 %s p95 %s p98 %s p999 %s max %s; copies %d unique %d\n", sc.name,
			ms(pct(res.lat, 0.9)), ms(pct(res.lat, 0.95)), ms(pct(res.lat, 0.98)), ms(pct(res.lat, 0.999)), ms(pct(res.lat, 1)), res.copies, res.recv)
	}
	return res, nil
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

func printTable(w io.Writer, rs []result) {
	head := []string{"scenario", "streams", "fwd Mbit/s", "node CPU %core", "µs CPU/copy", "CPU s/fwd Mbit",
		"CPU ms/s per stream", "loss %", "latency p50/p99 ms", "join→1st pkt p50/p99 ms"}
	fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat(" --- |", len(head)))
	for _, r := range rs {
		secs := r.dur.Seconds()
		mbit := float64(r.bytes) * 8 / 1e6
		loss := 0.0
		if r.sent > 0 {
			loss = 100 * (1 - float64(r.recv)/float64(r.sent))
		}
		streams := fmt.Sprint(r.streams)
		if r.missing > 0 {
			streams += fmt.Sprintf(" (%d never arrived)", r.missing)
		}
		cells := []string{
			r.name, streams,
			fmt.Sprintf("%.1f", mbit/secs),
			fmt.Sprintf("%.1f", 100*r.cpu.Seconds()/secs),
			fmt.Sprintf("%.2f", float64(r.cpu.Microseconds())/float64(max(r.copies, 1))),
			fmt.Sprintf("%.5f", r.cpu.Seconds()/max(mbit, 1e-9)),
			fmt.Sprintf("%.2f", 1000*r.cpu.Seconds()/secs/float64(max(r.streams, 1))),
			fmt.Sprintf("%.2f", loss),
			ms(pct(r.lat, 0.5)) + " / " + ms(pct(r.lat, 0.99)),
			ms(pct(r.joinLat, 0.5)) + " / " + ms(pct(r.joinLat, 0.99)),
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
}
