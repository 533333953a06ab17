package bwe

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// The in-place walk reads what pion's parser reads, for every kind of
// chunk: run lengths, one-bit and two-bit vectors, small, large and
// negative deltas, losses, and a vector that covers more than is left.
func TestFeedbackWalkMatchesPion(t *testing.T) {
	packets := []*rtcp.TransportLayerCC{
		{ // run lengths
			SenderSSRC: 1, MediaSSRC: 2, BaseSequenceNumber: 65530, PacketStatusCount: 9, ReferenceTime: 0x123456, FbPktCount: 3,
			PacketChunks: []rtcp.PacketStatusChunk{
				&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 4},
				&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 3},
				&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedLargeDelta, RunLength: 2},
			},
			RecvDeltas: []*rtcp.RecvDelta{
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 0},
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250},
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 63750},
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000},
				{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: -8000},
				{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: 100000},
			},
		},
		{ // vectors, the last one partly past the count
			BaseSequenceNumber: 7, PacketStatusCount: 17,
			PacketChunks: []rtcp.PacketStatusChunk{
				&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeOneBit, SymbolList: []uint16{1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1}},
				&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: []uint16{2, 1, 0, 0, 0, 0, 0}},
			},
		},
	}
	for _, sym := range []uint16{1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1} {
		if sym == 1 {
			packets[1].RecvDeltas = append(packets[1].RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 500})
		}
	}
	packets[1].RecvDeltas = append(packets[1].RecvDeltas,
		&rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: -250},
		&rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 750})
	for i, want := range packets {
		raw, err := marshalFeedback(want)
		if err != nil {
			t.Fatal(err)
		}
		var got rtcp.TransportLayerCC
		if err := got.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		fb, ok := parseFeedback(raw)
		if !ok || fb.base != got.BaseSequenceNumber || fb.count != int(got.PacketStatusCount) || fb.ref != int64(got.ReferenceTime) {
			t.Fatalf("packet %d: header %+v, pion %+v", i, fb, got)
		}
		deltas := got.RecvDeltas
		n := 0
		for {
			seq, sym, delta, ok := fb.next()
			if !ok {
				break
			}
			if seq != want.BaseSequenceNumber+uint16(n) {
				t.Fatalf("packet %d status %d: seq %d", i, n, seq)
			}
			if sym != notReceived {
				if len(deltas) == 0 || delta != deltas[0].Delta {
					t.Fatalf("packet %d status %d: delta %d, pion %v", i, n, delta, deltas)
				}
				deltas = deltas[1:]
			}
			n++
		}
		if n != int(want.PacketStatusCount) || len(deltas) != 0 {
			t.Fatalf("packet %d: walked %d of %d statuses, %d deltas left", i, n, want.PacketStatusCount, len(deltas))
		}
	}
}

// Truncated or foreign packets are refused or stop the walk; never a panic.
func TestFeedbackWalkRefusesBrokenPackets(t *testing.T) {
	good := &rtcp.TransportLayerCC{BaseSequenceNumber: 1, PacketStatusCount: 3,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedLargeDelta, RunLength: 3}},
		RecvDeltas: []*rtcp.RecvDelta{
			{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: 250}, {Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: 250},
			{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: 250}}}
	raw, err := marshalFeedback(good)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(raw); n++ {
		p := append([]byte(nil), raw[:n]...)
		if fb, ok := parseFeedback(p); ok {
			for {
				if _, _, _, ok := fb.next(); !ok {
					break
				}
			}
		}
	}
	nack, _ := (&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 1}}}).Marshal()
	if _, ok := parseFeedback(nack); ok {
		t.Fatal("a NACK was read as congestion feedback")
	}
}

func BenchmarkFeedbackWalk(b *testing.B) {
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: 1, PacketStatusCount: 30,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 30}}}
	for range 30 {
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000})
	}
	raw, _ := marshalFeedback(fb)
	b.ReportAllocs()
	for b.Loop() {
		f, _ := parseFeedback(raw)
		for {
			if _, _, _, ok := f.next(); !ok {
				break
			}
		}
	}
}

// marshalFeedback is fb on the wire. pion writes the RTCP header as the
// struct's Header says, which a packet built rather than parsed leaves
// empty: the type, format and length are set here.
func marshalFeedback(fb *rtcp.TransportLayerCC) ([]byte, error) {
	raw, err := fb.Marshal()
	if err != nil {
		return nil, err
	}
	for len(raw)%4 != 0 {
		raw = append(raw, 0)
	}
	raw[0] = raw[0]&0xe0 | 15
	raw[1] = 205
	binary.BigEndian.PutUint16(raw[2:], uint16(len(raw)/4-1))
	return raw, nil
}

// feedPacket hands e a feedback packet built with pion's types.
func feedPacket(t testing.TB, e *Estimator, fb *rtcp.TransportLayerCC, now time.Time) {
	t.Helper()
	raw, err := marshalFeedback(fb)
	if err != nil {
		t.Fatal(err)
	}
	e.OnFeedback(raw, now)
}
