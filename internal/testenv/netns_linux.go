package testenv

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// NetNS is a network namespace of the test's own, joined to the host by a
// veth pair with addresses from the benchmarking range 198.18.0.0/15: the
// host end has HostIP, the namespace's end PeerIP. Traffic the host sends
// into the namespace can be shaped (Shape), as a subscriber's downlink.
// It is removed when the test ends.
type NetNS struct {
	Name           string
	HostIP, PeerIP net.IP
	hostDev        string
	t              testing.TB
}

// StartNetNS creates a namespace, or skips the test saying why it cannot
// (not root, no ip/tc, a kernel or sandbox without namespaces or veth).
func StartNetNS(t testing.TB) *NetNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root: this test shapes a subscriber's link in one")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: this test shapes a subscriber's link in a network namespace", tool)
		}
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := fmt.Sprintf("%06x", b[:])
	// A /30 inside 198.18.0.0/15 picked at random, so tests on one machine
	// (and other engineers') do not collide.
	base := 0xc6120000 | uint32(binary.BigEndian.Uint16(b[:2])&0x7fff)<<2 // 198.18.0.0 + 4k, k < 2^15
	host, peer := ip4(base+1), ip4(base+2)
	n := &NetNS{Name: "veet-" + id, HostIP: host, PeerIP: peer, hostDev: "vh" + id, t: t}
	peerDev := "vp" + id
	if err := run("ip", "netns", "add", n.Name); err != nil {
		t.Skipf("cannot create a network namespace here (%v): this test needs one", err)
	}
	t.Cleanup(func() {
		if err := run("ip", "netns", "del", n.Name); err != nil {
			t.Errorf("removing network namespace %s: %v", n.Name, err)
		}
		_ = run("ip", "link", "del", n.hostDev) // gone with the namespace, normally
	})
	steps := [][]string{
		{"ip", "link", "add", n.hostDev, "type", "veth", "peer", "name", peerDev},
		{"ip", "link", "set", peerDev, "netns", n.Name},
		{"ip", "addr", "add", host.String() + "/30", "dev", n.hostDev},
		{"ip", "link", "set", n.hostDev, "up"},
		{"ip", "netns", "exec", n.Name, "ip", "addr", "add", peer.String() + "/30", "dev", peerDev},
		{"ip", "netns", "exec", n.Name, "ip", "link", "set", peerDev, "up"},
		{"ip", "netns", "exec", n.Name, "ip", "link", "set", "lo", "up"},
	}
	for i, s := range steps {
		if err := run(s...); err != nil {
			if i == 0 {
				t.Skipf("cannot create a veth pair here (%v): this test needs one", err)
			}
			t.Fatalf("network namespace: %v", err)
		}
	}
	return n
}

func ip4(v uint32) net.IP { return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)) }

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Shape limits what the host sends into the namespace to rate (tc's
// units, e.g. "600kbit", "10mbit") with a token bucket (tbf; this kernel
// has no netem): a queue of at most latency, beyond which packets drop.
func (n *NetNS) Shape(rate, burst, latency string) {
	n.t.Helper()
	if err := run("tc", "qdisc", "replace", "dev", n.hostDev, "root", "tbf", "rate", rate, "burst", burst, "latency", latency); err != nil {
		n.t.Fatalf("shaping: %v", err)
	}
}

// Do runs f on an OS thread inside the namespace: sockets it opens stay
// there. The thread is discarded afterwards.
func (n *NetNS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fd, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			errc <- err
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Net is a pion transport.Net whose sockets and interfaces are the
// namespace's: a pion peer built with it lives behind the veth pair.
func (n *NetNS) Net() (transport.Net, error) {
	var std *stdnet.Net
	err := n.Do(func() (err error) {
		std, err = stdnet.NewNet() // reads the namespace's interfaces
		return err
	})
	if err != nil {
		return nil, err
	}
	return &nsNet{Net: std, ns: n}, nil
}

type nsNet struct {
	*stdnet.Net
	ns *NetNS
}

func (n *nsNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	err = n.ns.Do(func() error { c, err = n.Net.ListenPacket(network, address); return err })
	return c, err
}

func (n *nsNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = n.ns.Do(func() error { c, err = n.Net.ListenUDP(network, laddr); return err })
	return c, err
}

func (n *nsNet) ListenTCP(network string, laddr *net.TCPAddr) (l transport.TCPListener, err error) {
	err = n.ns.Do(func() error { l, err = n.Net.ListenTCP(network, laddr); return err })
	return l, err
}

func (n *nsNet) Dial(network, address string) (c net.Conn, err error) {
	err = n.ns.Do(func() error { c, err = n.Net.Dial(network, address); return err })
	return c, err
}

func (n *nsNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = n.ns.Do(func() error { c, err = n.Net.DialUDP(network, laddr, raddr); return err })
	return c, err
}

func (n *nsNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (c transport.TCPConn, err error) {
	err = n.ns.Do(func() error { c, err = n.Net.DialTCP(network, laddr, raddr); return err })
	return c, err
}
