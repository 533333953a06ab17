package forward

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// reportEvery is the sender report interval per forwarded track.
const reportEvery = time.Second

// reportPhases is how many ticks of reportEvery/reportPhases a round of
// sender reports is spread over: each Transport reports on one of them.
const reportPhases = 10

// reporter sends the sender reports of every Transport in the process from
// one goroutine. With a ticker per Transport a node of 500 subscribers
// woke 500 times a second to send one small packet each, about 6 % of its
// CPU (make bench, 1 → 50). Spread over ten phases, it wakes ten times a
// second and sends a tenth of the reports each time, so no tick holds up
// the forwarding loops for long.
type reporter struct {
	mu      sync.Mutex
	phases  [reportPhases][]*Transport
	next    int // phase of the next Transport added
	count   int
	running bool
}

// reporting is the process's reporter: one clock for all the transports of
// a node (or of several, in tests), started with the first and stopped
// with the last.
var reporting reporter

func (r *reporter) add(t *Transport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t.phase = r.next
	r.next = (r.next + 1) % reportPhases
	r.phases[t.phase] = append(r.phases[t.phase], t)
	r.count++
	if !r.running {
		r.running = true
		go r.loop()
	}
}

func (r *reporter) remove(t *Transport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.phases[t.phase]
	for i, x := range ts {
		if x == t {
			ts[i] = ts[len(ts)-1]
			ts[len(ts)-1] = nil
			r.phases[t.phase] = ts[:len(ts)-1]
			r.count--
			return
		}
	}
}

// loop sends one phase's reports each tick, until no Transport is left.
func (r *reporter) loop() {
	tick := time.NewTicker(reportEvery / reportPhases)
	defer tick.Stop()
	var (
		phase int
		ts    []*Transport
		srs   []rtcp.Packet
		b     = newBatch(batchSize)
	)
	for range tick.C {
		r.mu.Lock()
		if r.count == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		phase = (phase + 1) % reportPhases
		ts = append(ts[:0], r.phases[phase]...)
		r.mu.Unlock()
		now := time.Now()
		for i, t := range ts {
			if !t.closed.Load() {
				srs = t.sendReports(now, b, srs[:0])
			}
			ts[i] = nil
		}
		if b.n > 0 {
			b.flush()
		}
	}
}

// reportsPerPacket bounds a compound of sender reports well under the MTU.
const reportsPerPacket = 16

// sendReports sends a sender report for each of the Transport's tracks
// that has sent something, reading what each DownTrack's forwarding loop
// publishes a few times a second. On a Path they are sealed here and join
// the tick's batch b; otherwise pion sends them, one compound at a time.
// srs is scratch space for pion's, returned for reuse.
func (t *Transport) sendReports(now time.Time, b *batch, srs []rtcp.Packet) []rtcp.Packet {
	p := t.path.Load()
	if p == nil || p.seal == nil {
		for _, d := range t.bound() {
			if sr, ok := d.senderReport(now); ok {
				srs = append(srs, &sr)
			}
			if len(srs) == reportsPerPacket {
				_ = t.writeRTCP(srs)
				srs = srs[:0]
			}
		}
		if len(srs) > 0 {
			_ = t.writeRTCP(srs)
		}
		return srs[:0]
	}
	var pkt []byte
	count := 0
	for _, d := range t.bound() {
		sr, ok := d.senderReport(now)
		if !ok {
			continue
		}
		if pkt == nil {
			pkt = appendReceiverReport(b.next(p.Conn)[:0], t.rtcpSSRC)
		}
		pkt = appendSenderReport(pkt, &sr)
		if count++; count == reportsPerPacket {
			t.commitReports(b, p, pkt)
			pkt, count = nil, 0
		}
	}
	if pkt != nil {
		t.commitReports(b, p, pkt)
	}
	return srs
}

// commitReports seals a compound of reports and queues it in b. Its first
// packet is an empty receiver report from the Transport's own RTCP SSRC,
// which keys the SRTCP index (RFC 3711 §3.4, the first packet's sender):
// pion counts the indexes of what it sends under the tracks' SSRCs, and
// the receiver's replay window would refuse ours under those same SSRCs
// whenever the connection moved from one send path to the other.
func (t *Transport) commitReports(b *batch, p *Path, pkt []byte) {
	t.srtcpIndex++
	sealed := p.seal.Seal(pkt, t.srtcpIndex)
	b.commit(len(sealed), p.Addr)
}

// appendReceiverReport appends an RTCP receiver report without report
// blocks (RFC 3550 §6.4.2) from ssrc.
func appendReceiverReport(b []byte, ssrc uint32) []byte {
	b = append(b, 0x80, 201, 0, 1)
	return binary.BigEndian.AppendUint32(b, ssrc)
}

// appendSenderReport appends sr, without report blocks (RFC 3550 §6.4.1).
func appendSenderReport(b []byte, sr *rtcp.SenderReport) []byte {
	be := binary.BigEndian
	b = append(b, 0x80, 200, 0, 6)
	b = be.AppendUint32(b, sr.SSRC)
	b = be.AppendUint64(b, sr.NTPTime)
	b = be.AppendUint32(b, sr.RTPTime)
	b = be.AppendUint32(b, sr.PacketCount)
	return be.AppendUint32(b, sr.OctetCount)
}
