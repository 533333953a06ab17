// Command relay measures the floor under veet's packet path on this
// machine: a bare UDP fan-out relay that does only what forwarding cannot
// avoid — read a publisher's datagram, rewrite its SSRC and sequence
// number per subscriber, seal it with AES-GCM SRTP into a reused buffer and
// hand the copies to the kernel with sendmmsg in batches of 32. No ICE,
// DTLS, RTCP, pacing, layers or signaling. Issue 14's per-copy targets were
// set as multiples of this figure ("2.3× the bare relay"), so a machine's
// relay figure turns them into targets for that machine.
//
// It runs itself twice: the relay as a child pinned to CPU 0 (taskset),
// and the senders and listeners here on CPU 1, like make bench -pin. The
// relay reports its own CPU (/proc/self/stat) over the window. Senders
// send what make bench's publishers do: a camera's frames, 30 a second in
// bursts of packets of up to 1,100 bytes of payload, and with -mesh a
// microphone's 80-byte packets, 50 a second.
//
//	go run ./bench/relay -subs 20,50,200,500 -mesh 5
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/veet-dev/veet/sfu/forward"
	"github.com/veet-dev/veet/sfu/forward/srtpgcm"
)

func main() {
	role := flag.String("role", "", "internal: relay")
	raw := flag.Bool("raw", true, "send with veet's raw sendmmsg (forward.RawConn) instead of x/net's WriteBatch")
	subs := flag.String("subs", "20,50,200,500", "one-publisher rooms: subscriber counts, one window each")
	mesh := flag.Int("mesh", 0, "also a room of this many participants, each sending camera and microphone to all the others (make bench's mesh=N)")
	rate := flag.Float64("mbit", 1.5, "camera bitrate, Mbit/s")
	window := flag.Duration("window", 10*time.Second, "measured time per room")
	flag.Parse()
	if *role == "relay" {
		relay(*raw)
		return
	}
	var rooms []room
	for _, f := range strings.Split(*subs, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "relay: bad subscriber count %q\n", f)
			os.Exit(2)
		}
		rooms = append(rooms, fanout(n))
	}
	if *mesh > 1 {
		rooms = append(rooms, room{senders: *mesh, listeners: *mesh, mesh: true, audio: true})
	}
	fmt.Printf("| room | copies/s | relay CPU %%core | µs CPU/copy | loss %% |\n")
	fmt.Println("| --- | --- | --- | --- | --- |")
	for _, rm := range rooms {
		r, err := run(rm, *rate, *window, *raw)
		if err != nil {
			fail(err)
		}
		fmt.Printf("| %s | %.0f | %.1f | %.2f | %.2f |\n", rm, r.copiesPerSec, r.corePct, r.usPerCopy, r.lossPct)
	}
}

const (
	videoPayload = 1100 // the load generator's largest camera payload
	audioPayload = 80   // and its microphone's, at 50 packets a second
	fps          = 30
)

// room is one shape: a publisher to listeners subscribers, or (mesh)
// participants that each send to all the others over the socket they
// listen on, as a browser's one connection to the node does.
type room struct {
	senders, listeners int
	mesh               bool
	audio              bool // a microphone beside each camera
}

func fanout(n int) room { return room{senders: 1, listeners: n} }

func (r room) String() string {
	if r.mesh {
		return fmt.Sprintf("%d ↔ %d", r.senders, r.listeners)
	}
	return fmt.Sprintf("1 → %d", r.listeners)
}

// result is one window's figures.
type result struct {
	copiesPerSec, corePct, usPerCopy, lossPct float64
	arrivedPerSec                             float64 // copies the listeners read
}

// run starts a relay child, the room's sockets and its senders, and
// measures one window.
func run(rm room, mbit float64, window time.Duration, raw bool) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return result{}, fmt.Errorf("pinning needs taskset (util-linux): %w", err)
	}
	_ = exec.Command("taskset", "-a", "-c", "-p", "1", strconv.Itoa(os.Getpid())).Run()

	var addrs []string
	var listeners []*net.UDPConn
	var got atomic.Uint64
	for range rm.listeners {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return result{}, err
		}
		_ = c.SetReadBuffer(1 << 20)
		defer c.Close()
		addrs = append(addrs, c.LocalAddr().String())
		listeners = append(listeners, c)
		go func() {
			pc := ipv4.NewPacketConn(c)
			ms := make([]ipv4.Message, 32)
			for i := range ms {
				ms[i].Buffers = [][]byte{make([]byte, 1500)}
			}
			for {
				k, err := pc.ReadBatch(ms, 0)
				if err != nil {
					return
				}
				got.Add(uint64(k))
			}
		}()
	}

	child := exec.Command("taskset", "-c", "0", self, "-role", "relay", "-raw="+strconv.FormatBool(raw))
	child.Env = append(os.Environ(), "GOMAXPROCS=1") // as make bench -pin runs the node
	child.Stdin = strings.NewReader(strings.Join(addrs, "\n") + "\n")
	out, err := child.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return result{}, err
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		return result{}, fmt.Errorf("relay child said nothing")
	}
	to, err := net.ResolveUDPAddr("udp4", lines.Text())
	if err != nil {
		return result{}, err
	}
	mark, err := net.DialUDP("udp4", nil, to)
	if err != nil {
		return result{}, err
	}
	defer mark.Close()

	// A mesh participant sends from the socket it listens on (the relay
	// leaves it out of its own packets' copies); a one-publisher room's
	// publisher has a socket of its own.
	senders := listeners
	if !rm.mesh {
		senders = []*net.UDPConn{mark}
		to = nil // mark is connected
	}
	stop := make(chan struct{})
	var sent atomic.Uint64
	for i, c := range senders {
		go camera(uint32(2*i+1), mbit).send(c, to, &sent, stop)
		if rm.audio {
			go microphone(uint32(2*i+2)).send(c, to, &sent, stop)
		}
	}
	time.Sleep(2 * time.Second) // warm up
	s0, g0 := sent.Load(), got.Load()
	if _, err := fmt.Fprintln(mark, "x"); err != nil { // a short mark: the relay reports its CPU
		return result{}, err
	}
	cpu0, ok0 := readCPU(lines)
	time.Sleep(window)
	s1, g1 := sent.Load(), got.Load()
	_, _ = fmt.Fprintln(mark, "x")
	cpu1, ok1 := readCPU(lines)
	close(stop)

	perPacket := rm.listeners
	if rm.mesh {
		perPacket--
	}
	copies := float64(s1-s0) * float64(perPacket)
	cpu := (cpu1 - cpu0).Seconds()
	loss := 0.0
	if copies > 0 {
		loss = 100 * (1 - float64(g1-g0)/copies)
		if loss < 0 {
			loss = 0 // in flight at the window's edges
		}
	}
	if copies == 0 || !ok0 || !ok1 {
		return result{}, fmt.Errorf("nothing measured: %v copies sent, relay CPU %v → %v", copies, cpu0, cpu1)
	}
	return result{copies / window.Seconds(), 100 * cpu / window.Seconds(), 1e6 * cpu / copies, loss,
		float64(g1-g0) / window.Seconds()}, nil
}

// source is what one publisher's track sends: every period a burst of
// packets of payload bytes, the RTP clock advancing by step.
type source struct {
	pt      byte
	ssrc    uint32
	period  time.Duration
	burst   int
	payload int
	step    uint32
}

// camera is 30 frames a second, mbit in all, in packets of at most
// videoPayload; microphone one Opus-sized packet every 20 ms.
func camera(ssrc uint32, mbit float64) source {
	frame := int(mbit * 1e6 / 8 / fps)
	return source{pt: 96, ssrc: ssrc, period: time.Second / fps, burst: (frame + videoPayload - 1) / videoPayload,
		payload: videoPayload, step: 90000 / fps}
}

func microphone(ssrc uint32) source {
	return source{pt: 111, ssrc: ssrc, period: 20 * time.Millisecond, burst: 1, payload: audioPayload, step: 960}
}

// send writes the source's packets from c until stop; to is nil on a
// connected socket.
func (src source) send(c *net.UDPConn, to *net.UDPAddr, sent *atomic.Uint64, stop <-chan struct{}) {
	pkt := make([]byte, 12+src.payload)
	pkt[0], pkt[1] = 0x80, src.pt
	binary.BigEndian.PutUint32(pkt[8:], src.ssrc)
	var seq uint16
	t := time.NewTicker(src.period)
	defer t.Stop()
	for ts := uint32(0); ; ts += src.step {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		binary.BigEndian.PutUint32(pkt[4:], ts)
		for range src.burst {
			binary.BigEndian.PutUint16(pkt[2:], seq)
			seq++
			if writeTo(c, to, pkt) == nil {
				sent.Add(1)
			}
		}
	}
}

func writeTo(c *net.UDPConn, to *net.UDPAddr, b []byte) error {
	if to == nil {
		_, err := c.Write(b)
		return err
	}
	_, err := c.WriteToUDP(b, to)
	return err
}

func readCPU(lines *bufio.Scanner) (time.Duration, bool) {
	if !lines.Scan() {
		return 0, false
	}
	d, err := time.ParseDuration(lines.Text())
	return d, err == nil
}

// relay is the child: it reads subscriber addresses from stdin, prints its
// socket's address, then forwards; a datagram shorter than an RTP header
// makes it print its CPU time so far.
func relay(raw bool) {
	// Each subscriber has its own keys, as each of a node's DTLS sessions
	// does: one sealer for all would keep one key schedule hot in the cache
	// and make the floor lower than any forwarder can go.
	type subscriber struct {
		addr   *net.UDPAddr
		at     netip.AddrPort // to know a mesh participant's own packets
		sealer *srtpgcm.Sealer
		seq    uint16
	}
	var subs []subscriber
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		a, err := net.ResolveUDPAddr("udp4", in.Text())
		if err != nil {
			fail(err)
		}
		i := len(subs)
		key, salt := make([]byte, 16), make([]byte, 12)
		key[0], key[1], salt[0] = byte(i), byte(i>>8), byte(i)
		sealer, err := srtpgcm.NewSealer(srtpgcm.Keys{Profile: srtpgcm.AES128GCM, Key: key, Salt: salt})
		if err != nil {
			fail(err)
		}
		subs = append(subs, subscriber{addr: a, at: unmapped(a.AddrPort()), sealer: sealer})
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fail(err)
	}
	_ = c.SetWriteBuffer(4 << 20)
	_ = c.SetReadBuffer(1 << 20)
	fmt.Println(c.LocalAddr())

	var pc forward.BatchConn = ipv4.NewPacketConn(c)
	if raw {
		if pc, err = forward.NewRawConn(c); err != nil {
			fail(err)
		}
	}
	const batch = 32
	ms := make([]ipv4.Message, batch)
	bufs := make([][]byte, batch)
	for i := range ms {
		bufs[i] = make([]byte, 1500+srtpgcm.TagLen)
		ms[i].Buffers = [][]byte{nil}
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n < 12 {
			fmt.Println(cpuTime())
			continue
		}
		from = unmapped(from)
		k := 0
		for i := range subs {
			s := &subs[i]
			if s.at == from {
				continue // a participant's own packets do not come back
			}
			s.seq++
			ssrc := uint32(i + 1)
			b := bufs[k][:12]
			copy(b, buf[:12])
			binary.BigEndian.PutUint16(b[2:], s.seq)
			binary.BigEndian.PutUint32(b[8:], ssrc)
			ms[k].Buffers[0] = s.sealer.Seal(b, b, buf[12:n], ssrc, 0, s.seq)
			ms[k].Addr = s.addr
			if k++; k == batch {
				send(pc, ms[:k])
				k = 0
			}
		}
		if k > 0 {
			send(pc, ms[:k])
		}
	}
}

// send hands ms to the kernel; a datagram it refuses is skipped, as the
// node's batch does, and shows as loss in the table.
func send(pc forward.BatchConn, ms []ipv4.Message) {
	for len(ms) > 0 {
		m, err := pc.WriteBatch(ms, 0)
		if err != nil {
			m++
		}
		ms = ms[m:]
	}
}

// unmapped is a, its IPv4 address not written as IPv6 (::ffff:a.b.c.d), so
// that the same socket compares equal however the address was learnt.
func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "relay:", err)
	os.Exit(1)
}

// cpuTime is this process's user+system CPU time from /proc/self/stat.
func cpuTime() string {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return err.Error()
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (time.Duration(u+st) * time.Second / 100).String() // USER_HZ
}
