package sfu

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/pion/stun/v4"
)

// DiscoverPublicIP asks a STUN server (host:port) which address our UDP
// packets come from: on a Fargate task with a public IP (1:1 NAT) that is the
// IP to advertise in ICE candidates.
func DiscoverPublicIP(ctx context.Context, server string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp4", server)
	if err != nil {
		return "", fmt.Errorf("stun: dial %s: %w", server, err)
	}
	defer conn.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	buf := make([]byte, 1500)
	// UDP may lose the request: retry a few times within the timeout.
	for attempt := 0; attempt < 5 && ctx.Err() == nil; attempt++ {
		if _, err := conn.Write(req.Raw); err != nil {
			return "", fmt.Errorf("stun: send: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			continue
		}
		var res stun.Message
		res.Raw = buf[:n]
		if res.Decode() != nil || res.TransactionID != req.TransactionID {
			continue
		}
		var xor stun.XORMappedAddress
		if err := xor.GetFrom(&res); err == nil {
			return xor.IP.String(), nil
		}
		var mapped stun.MappedAddress
		if err := mapped.GetFrom(&res); err == nil {
			return mapped.IP.String(), nil
		}
		return "", fmt.Errorf("stun: %s answered without an address", server)
	}
	return "", fmt.Errorf("stun: no answer from %s", server)
}
