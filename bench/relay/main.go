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
// and the sender and subscribers here on CPU 1, like make bench -pin. The
// relay reports its own CPU (/proc/self/stat) over the window.
//
//	go run ./bench/relay -subs 20,50,200,500
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
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
	subs := flag.String("subs", "20,50,200,500", "subscriber counts, one window each")
	rate := flag.Float64("mbit", 1.5, "publisher bitrate, Mbit/s of 1200-byte packets")
	window := flag.Duration("window", 10*time.Second, "measured time per count")
	flag.Parse()
	if *role == "relay" {
		relay(*raw)
		return
	}
	fmt.Printf("| subscribers | copies/s | relay CPU %%core | µs CPU/copy | loss %% |\n")
	fmt.Println("| --- | --- | --- | --- | --- |")
	for _, f := range strings.Split(*subs, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "relay: bad subscriber count %q\n", f)
			os.Exit(2)
		}
		r, err := run(n, *rate, *window, *raw)
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		fmt.Printf("| %d | %.0f | %.1f | %.2f | %.2f |\n", n, r.copiesPerSec, r.corePct, r.usPerCopy, r.lossPct)
	}
}

const size = 1200

// result is one window's figures.
type result struct {
	copiesPerSec, corePct, usPerCopy, lossPct float64
}

// run starts a relay child, n subscriber sockets and a publisher, and
// measures one window.
func run(n int, mbit float64, window time.Duration, raw bool) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return result{}, fmt.Errorf("pinning needs taskset (util-linux): %w", err)
	}
	_ = exec.Command("taskset", "-a", "-c", "-p", "1", strconv.Itoa(os.Getpid())).Run()

	var addrs []string
	var got atomic.Uint64
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return result{}, err
		}
		_ = c.SetReadBuffer(1 << 20)
		defer c.Close()
		addrs = append(addrs, c.LocalAddr().String())
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
	pub, err := net.DialUDP("udp4", nil, to)
	if err != nil {
		return result{}, err
	}
	defer pub.Close()

	pps := mbit * 1e6 / 8 / size
	stop := make(chan struct{})
	var sent atomic.Uint64
	go func() {
		pkt := make([]byte, size)
		pkt[0], pkt[1] = 0x80, 96
		binary.BigEndian.PutUint32(pkt[8:], 0x1234)
		tick := time.Duration(float64(time.Second) / pps)
		next := time.Now()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*3000)
			if _, err := pub.Write(pkt); err == nil {
				sent.Add(1)
			}
			next = next.Add(tick)
			time.Sleep(time.Until(next))
		}
	}()
	time.Sleep(2 * time.Second) // warm up
	s0, g0 := sent.Load(), got.Load()
	if _, err := fmt.Fprintln(pub, "x"); err != nil { // a short mark: the relay reports its CPU
		return result{}, err
	}
	cpu0, ok0 := readCPU(lines)
	time.Sleep(window)
	s1, g1 := sent.Load(), got.Load()
	_, _ = fmt.Fprintln(pub, "x")
	cpu1, ok1 := readCPU(lines)
	close(stop)

	copies := float64(s1-s0) * float64(n)
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
	return result{copies / window.Seconds(), 100 * cpu / window.Seconds(), 1e6 * cpu / copies, loss}, nil
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
	var to []*net.UDPAddr
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		a, err := net.ResolveUDPAddr("udp4", in.Text())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		to = append(to, a)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = c.SetWriteBuffer(4 << 20)
	_ = c.SetReadBuffer(1 << 20)
	fmt.Println(c.LocalAddr())

	key := make([]byte, 16)
	salt := make([]byte, 12)
	sealer, err := srtpgcm.NewSealer(srtpgcm.Keys{Profile: srtpgcm.AES128GCM, Key: key, Salt: salt})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var pc forward.BatchConn = ipv4.NewPacketConn(c)
	if raw {
		if pc, err = forward.NewRawConn(c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	const batch = 32
	ms := make([]ipv4.Message, batch)
	bufs := make([][]byte, batch)
	for i := range ms {
		bufs[i] = make([]byte, 1500+srtpgcm.TagLen)
		ms[i].Buffers = [][]byte{nil}
	}
	seqs := make([]uint16, len(to))
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			fmt.Println(cpuTime())
			continue
		}
		k := 0
		for i, a := range to {
			seqs[i]++
			ssrc := uint32(i + 1)
			b := bufs[k][:12]
			copy(b, buf[:12])
			binary.BigEndian.PutUint16(b[2:], seqs[i])
			binary.BigEndian.PutUint32(b[8:], ssrc)
			ms[k].Buffers[0] = sealer.Seal(b, b, buf[12:n], ssrc, 0, seqs[i])
			ms[k].Addr = a
			k++
			if k == batch || i == len(to)-1 {
				for sentN := 0; sentN < k; {
					m, err := pc.WriteBatch(ms[sentN:k], 0)
					if err != nil {
						break
					}
					sentN += m
				}
				k = 0
			}
		}
	}
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
