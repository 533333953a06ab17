package sfu_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/veet-dev/veet/sfu"
)

// A minimal STUN server answers with the address it sees, like a public one.
func TestDiscoverPublicIPAsksSTUN(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var req stun.Message
			req.Raw = append([]byte(nil), buf[:n]...)
			if req.Decode() != nil {
				continue
			}
			ua := from.(*net.UDPAddr)
			res := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: net.IPv4(203, 0, 113, 7), Port: ua.Port})
			_, _ = pc.WriteTo(res.Raw, from)
		}
	}()
	ip, err := sfu.DiscoverPublicIP(context.Background(), pc.LocalAddr().String(), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ip != "203.0.113.7" {
		t.Fatalf("public IP %s, want 203.0.113.7", ip)
	}
}
