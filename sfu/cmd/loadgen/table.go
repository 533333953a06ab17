package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

func (r result) lossPct() float64 {
	if r.sent == 0 {
		return 0
	}
	return 100 * (1 - float64(r.recv)/float64(r.sent))
}

func (r result) mbitPerSec() float64 { return float64(r.bytes) * 8 / 1e6 / r.dur.Seconds() }

// starved reports whether less arrived than the publisher's camera alone
// should have brought every subscriber (5 % slack).
func (r result) starved(videoBps int) bool {
	return r.mbitPerSec() < 0.95*float64(r.subscribers*r.publishers)*float64(videoBps)/1e6
}

// forwarding is the latency through the node: to the thin subscribers'
// sockets when the row has them, else to the subscribers' reads.
func (r result) forwarding() []time.Duration {
	if len(r.sockLat) > 0 {
		return r.sockLat
	}
	return r.lat
}

// behind says which side of a starved run fell short: the publishers'
// writes, or the copies of them that reached each subscriber.
func (r result) behind() string {
	secs := r.dur.Seconds()
	if r.published == 0 || r.subscribers == 0 || secs == 0 {
		return "the publishers wrote nothing"
	}
	each := float64(r.copies) / float64(r.subscribers) / secs
	return fmt.Sprintf("the publishers wrote %.0f packets/s, each subscriber got %.0f/s", float64(r.published)/secs, each)
}

// lossCell is the subscribers' loss, and what the node dropped as stale,
// which their sequence numbers do not show.
func (r result) lossCell() string {
	c := fmt.Sprintf("%.2f", r.lossPct())
	if r.node.stale > 0 {
		c += fmt.Sprintf(" (+ %.1f %% of the published dropped stale)", 100*float64(r.node.stale)/float64(max(r.published, 1)))
	}
	return c
}

func printTable(w io.Writer, rs []result) {
	head := []string{"scenario", "streams", "fwd Mbit/s", "node CPU %core", "µs CPU/copy", "CPU s/fwd Mbit",
		"CPU ms/s per stream", "loss %", "latency p50/p99 ms", "to socket p50/p99 ms", "node fan-out delay p50/p99 ms", "GC pause p99/max ms", "node alloc B/copy",
		"join→1st pkt p50/p99 ms", "others %core", "load avg", "video copies/s q / h / f"}
	fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat(" --- |", len(head)))
	for _, r := range rs {
		secs := r.dur.Seconds()
		mbit := float64(r.bytes) * 8 / 1e6
		streams := fmt.Sprint(r.streams)
		if r.missing > 0 {
			streams += fmt.Sprintf(" (%d never arrived)", r.missing)
		}
		gc := "none"
		if r.node.pausesCounted > 0 {
			gc = fmt.Sprintf("%.2f / %.2f", 1000*r.node.pauseP99, 1000*r.node.pauseMax)
			if r.node.pauseMax > 1e300 {
				gc = fmt.Sprintf("%.2f / over %.0f", 1000*r.node.pauseP99, 1000*r.node.pauseP99)
			}
		}
		socket := "—" // no thin subscribers
		if len(r.sockLat) > 0 {
			socket = ms(pct(r.sockLat, 0.5)) + " / " + ms(pct(r.sockLat, 0.99))
		}
		cells := []string{
			r.name, streams,
			fmt.Sprintf("%.1f", mbit/secs),
			fmt.Sprintf("%.1f", 100*r.node.cpu.Seconds()/secs),
			fmt.Sprintf("%.2f", float64(r.node.cpu.Nanoseconds())/1000/float64(max(r.copies, 1))),
			fmt.Sprintf("%.5f", r.node.cpu.Seconds()/max(mbit, 1e-9)),
			fmt.Sprintf("%.2f", 1000*r.node.cpu.Seconds()/secs/float64(max(r.streams, 1))),
			r.lossCell(),
			ms(pct(r.lat, 0.5)) + " / " + ms(pct(r.lat, 0.99)),
			socket,
			fmt.Sprintf("≤ %s / ≤ %s", ms2(r.node.delayP50), ms2(r.node.delayP99)),
			gc,
			fmt.Sprintf("%.1f", float64(r.node.allocBytes)/float64(max(r.copies, 1))),
			ms(pct(r.joinLat, 0.5)) + " / " + ms(pct(r.joinLat, 0.99)),
			fmt.Sprintf("%.0f", 100*r.others.Seconds()/secs),
			fmt.Sprintf("%.1f", r.load[0]),
			"—",
		}
		if r.simulcast {
			cells[len(cells)-1] = fmt.Sprintf("%.0f / %.0f / %.0f", float64(r.layers[0])/secs, float64(r.layers[1])/secs, float64(r.layers[2])/secs)
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
}

func ms2(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
