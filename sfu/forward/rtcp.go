package forward

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

const srtpTag = srtpgcm.TagLen

// reports is what the subscriber said about a DownTrack in its receiver
// reports: what a bandwidth estimator and the node's figures read.
type reports struct {
	fractionLost atomic.Uint32
	totalLost    atomic.Uint32
	jitter       atomic.Uint32
	rtt          atomic.Int64 // ns, 0 before the first measured round trip
}

// Report is the latest of a subscriber's receiver reports on a track.
type Report struct {
	FractionLost float64 // of packets since the previous report
	TotalLost    uint32
	Jitter       uint32 // in RTP timestamp units
	RTT          time.Duration
}

// Report returns what the subscriber last reported.
func (d *DownTrack) Report() Report {
	return Report{
		FractionLost: float64(d.rep.fractionLost.Load()) / 256,
		TotalLost:    d.rep.totalLost.Load(),
		Jitter:       d.rep.jitter.Load(),
		RTT:          time.Duration(d.rep.rtt.Load()),
	}
}

// HandleRTCP acts on what the subscriber's connection said about this
// track, as pion's RTPSender.ReadRTCP returns it (the path without a Path:
// ICE-TCP and other SRTP profiles; with one, the Transport reads the
// subscriber's RTCP off the socket itself, see HandleSRTCP): it answers
// NACKs from the Receiver's packet cache with this subscriber's header,
// keeps the figures of receiver reports, and passes transport-wide
// congestion feedback to the Transport's hook. Keyframe requests are the
// caller's to pass on (Receiver.RequestKeyframe).
func (d *DownTrack) HandleRTCP(pkts []rtcp.Packet) {
	bd := d.bound.Load()
	if bd == nil {
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			if p.MediaSSRC == bd.ssrc {
				for _, n := range p.Nacks {
					d.resend(bd, n.PacketID, uint16(n.LostPackets))
				}
				d.flushResends()
			}
		case *rtcp.ReceiverReport:
			d.noteReports(bd, p.Reports)
		case *rtcp.SenderReport:
			d.noteReports(bd, p.Reports)
		case *rtcp.TransportLayerCC:
			// pion's send path only (ICE-TCP, other profiles): a dozen a
			// second, so marshalling again is fine.
			if d.tr != nil {
				if raw, err := p.Marshal(); err == nil {
					d.tr.feedback(raw)
				}
			}
		}
	}
}

func (d *DownTrack) noteReports(bd *binding, rs []rtcp.ReceptionReport) {
	for _, r := range rs {
		if r.SSRC == bd.ssrc {
			d.noteReport(r.FractionLost, r.TotalLost, r.Jitter, r.LastSenderReport, r.Delay)
		}
	}
}

// noteReport keeps one reception report block about this track.
func (d *DownTrack) noteReport(fractionLost uint8, totalLost, jitter, lsr, dlsr uint32) {
	d.rep.fractionLost.Store(uint32(fractionLost))
	d.rep.totalLost.Store(totalLost)
	d.rep.jitter.Store(jitter)
	if lsr != 0 && lsr == d.st.lastSR.Load() {
		// RFC 3550 §6.4.1: the time since our report, less the time the
		// subscriber held it (DLSR, in 1/65536 s).
		rtt := monotime() - d.st.lastSRAt.Load() - int64(dlsr)*int64(time.Second)/65536
		if rtt >= 0 {
			d.rep.rtt.Store(rtt)
		}
	}
}

// senderReport is the track's sender report as of now, if it sent anything.
func (d *DownTrack) senderReport(now time.Time) (rtcp.SenderReport, bool) {
	bd := d.bound.Load()
	packets := d.st.packets.Load()
	if bd == nil || packets == 0 {
		return rtcp.SenderReport{}, false
	}
	mono := monotime()
	// The RTP clock runs on from the last packet sent, as the subscriber's
	// decoder would see it.
	rate := int64(d.recv.opts.Codec.ClockRate)
	ts := d.st.ts.Load() + uint32((mono-d.st.at.Load())*rate/int64(time.Second))
	ntp := toNTP(now)
	d.st.lastSR.Store(uint32(ntp >> 16))
	d.st.lastSRAt.Store(mono)
	return rtcp.SenderReport{SSRC: bd.ssrc, NTPTime: ntp, RTPTime: ts, PacketCount: packets, OctetCount: d.st.octets.Load()}, true
}

// toNTP is t in NTP's 32.32 fixed point seconds since 1900.
func toNTP(t time.Time) uint64 {
	const unixToNTP = 2208988800
	s := uint64(t.Unix()) + unixToNTP
	f := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return s<<32 | f
}

// retransmitter answers one DownTrack's NACKs.
type retransmitter struct {
	b      *batch
	s      sender
	p      inPacket
	o      out
	recent [64]struct {
		seq uint16
		at  int64
		n   uint8 // times resent
	}
	sent, missed uint64
}

// rtxBatch is small: a NACK names a few packets.
const rtxBatch = 8

// resendGap keeps one NACKed packet from going out twice within it, or
// within the subscriber's round trip if longer: a subscriber repeats its
// NACKs until the packet arrives, and on a congested link (a long queue)
// answering each repeat would only add to the congestion that lost it.
// maxResends bounds how often one packet is sent again.
const (
	resendGap  = 20 * int64(time.Millisecond)
	maxResends = 3
)

// resend sends again packet pid and those of the bitmask blp (RFC 4585
// §6.2.1) that the cache still has; flushResends sends them off.
func (d *DownTrack) resend(bd *binding, pid, blp uint16) {
	segs := d.segs.Load()
	if segs == nil {
		return
	}
	d.rtxMu.Lock()
	defer d.rtxMu.Unlock()
	if d.rtx == nil {
		d.rtx = &retransmitter{b: newBatch(rtxBatch)}
	}
	x := d.rtx
	var path *Path
	if d.tr != nil {
		path = d.tr.path.Load()
	}
	hi := d.st.ext.Load()
	now := monotime()
	gap := max(resendGap, d.rep.rtt.Load()*5/4)
	for i := -1; i < 16; i++ {
		seq := pid
		if i >= 0 {
			if blp&(1<<i) == 0 {
				continue
			}
			seq = pid + uint16(i) + 1
		}
		r := &x.recent[seq%uint16(len(x.recent))]
		if r.seq == seq && r.at != 0 && (now-r.at < gap || r.n >= maxResends) {
			continue
		}
		// The NACKed number, extended to the nearest of the highest sent,
		// and the mapping it was sent under.
		ext := uint64(int64(hi) + int64(int16(seq-uint16(hi))))
		var seg *segment
		for j := len(*segs) - 1; j >= 0; j-- {
			if (*segs)[j].from <= ext {
				seg = &(*segs)[j]
				break
			}
		}
		if seg == nil || seg.recv == nil || seg.recv.cache == nil {
			x.missed++
			continue
		}
		slot, raw := seg.recv.cache.lock(seq + seg.offset)
		if slot == nil {
			x.missed++
			continue
		}
		if x.p.parse(raw) && (d.tr == nil || d.tr.allowResend(now, len(raw))) {
			o := &x.o
			*o = out{pt: bd.pt, ssrc: bd.ssrc, seq: seq, ts: x.p.ts + seg.tsOffset}
			if bd.twccID != 0 {
				o.twccID = bd.twccID
				o.twccSeq = d.tr.stamp(now, wireOverhead+12+len(x.p.csrc)+8+len(x.p.body)+srtpTag)
			}
			if sent, _ := x.s.send(x.b, path, bd, &x.p, o, uint32(ext>>16)); sent {
				x.sent++
				if r.seq != seq || r.at == 0 {
					r.n = 0
				}
				r.seq, r.at, r.n = seq, now, r.n+1
			}
		}
		slot.mu.Unlock()
	}
}

func (d *DownTrack) flushResends() {
	d.rtxMu.Lock()
	defer d.rtxMu.Unlock()
	if d.rtx != nil && d.rtx.b.n > 0 {
		d.rtx.b.flush()
	}
}
