package forward

import (
	"net"
	"testing"
	"time"
)

// A stamping reader reports when the kernel took each datagram in, not
// when it was read: a datagram left waiting is stamped with its arrival.
func TestStampingReaderStampsArrival(t *testing.T) {
	c := listen(t)
	r, err := NewStampingReader(c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// The kernel turns receive timestamps on for everyone some time after
	// the first socket asks (a deferred static key); until then it stamps
	// at the read. Wait for that with datagrams that wait 5 ms each.
	b := make([]byte, 64)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := out.Write([]byte("warm")); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		time.Sleep(5 * time.Millisecond)
		if _, _, err := r.ReadFromUDPAddrPort(b); err != nil {
			t.Fatal(err)
		}
		if time.Unix(0, r.Arrived()).Before(sent.Add(2 * time.Millisecond)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the kernel never stamped a datagram's arrival")
		}
	}
	before := time.Now()
	if _, err := out.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	after := time.Now()               // on loopback the datagram arrived within the write
	time.Sleep(50 * time.Millisecond) // it waits in the socket
	n, from, err := r.ReadFromUDPAddrPort(b)
	if err != nil || string(b[:n]) != "hello" || from.Port() != uint16(out.LocalAddr().(*net.UDPAddr).Port) {
		t.Fatalf("read %q from %v: %v", b[:n], from, err)
	}
	at := time.Unix(0, r.Arrived())
	// The kernel's clock may be read a little before Go's (coarse ticks).
	if at.Before(before.Add(-time.Millisecond)) || at.After(after.Add(time.Millisecond)) {
		t.Fatalf("stamped %v after the send began (the write took %v), want its arrival, not its read 50 ms later", at.Sub(before), after.Sub(before))
	}
}
