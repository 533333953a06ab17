package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// The publish connection's interceptors read the header the node parsed
// once into the stream's reused one, instead of each packet allocating
// its own (pion's GetRTPHeader).
func TestInterceptorsShareTheStreamsParsedHeader(t *testing.T) {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 4242, SSRC: 77}, Payload: make([]byte, 100)}
	if err := p.Header.SetExtension(5, []byte{0, 9}); err != nil {
		t.Fatal(err)
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	a := interceptor.Attributes{}
	var h rtp.Header
	got := func() *rtp.Header {
		clear(a)
		sharedHeader(a, &h, raw)
		g, err := a.GetRTPHeader(raw)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := got(); g != &h || g.SequenceNumber != 4242 || g.SSRC != 77 || len(g.GetExtension(5)) != 2 {
		t.Fatalf("interceptors got %p (seq %d, ssrc %d), want the stream's header %p", g, g.SequenceNumber, g.SSRC, &h)
	}
	if n := testing.AllocsPerRun(100, func() { got() }); n != 0 {
		t.Fatalf("%.1f allocations per packet, want 0", n)
	}
}
