//go:build linux

package forward

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// RawConn sends batches with sendmmsg issued as a raw system call. A UDP
// send on a non-blocking socket does not block, so the Go scheduler need
// not hear of it: with the ordinary (entersyscall) form, the first system
// call after the process went idle wakes the runtime's sysmon thread, which
// then polls every 20 µs for a while — on a node that goes idle between
// packets, thousands of needless context switches a second.
type RawConn struct {
	c  *net.UDPConn
	rc syscall.RawConn
}

// NewRawConn wraps c for batches.
func NewRawConn(c *net.UDPConn) (*RawConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &RawConn{c: c, rc: rc}, nil
}

// WriteBatch implements BatchConn for callers without a batch's scratch
// (it allocates); batches use sendRaw.
func (r *RawConn) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	var s rawScratch
	s.init(len(ms))
	return r.send(&s, ms)
}

type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// rawScratch is a batch's own system call arguments.
type rawScratch struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	n     int
	errno syscall.Errno
	write func(fd uintptr) bool
}

func (s *rawScratch) init(size int) {
	s.hdrs = make([]mmsghdr, size)
	s.iovs = make([]unix.Iovec, size)
	s.names = make([]unix.RawSockaddrInet4, size)
	s.write = func(fd uintptr) bool {
		n, _, e := syscall.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n), 0, 0, 0)
		s.n, s.errno = int(n), e
		return e != syscall.EAGAIN
	}
}

// send sends ms (IPv4 destinations) in one sendmmsg; like WriteBatch it
// returns how many went, and the error of the first that did not.
func (r *RawConn) send(s *rawScratch, ms []ipv4.Message) (int, error) {
	for i := range ms {
		a, ok := ms[i].Addr.(*net.UDPAddr)
		ip := a.IP.To4()
		if !ok || ip == nil || len(ms[i].Buffers) != 1 {
			if i == 0 {
				return 0, syscall.EINVAL
			}
			ms = ms[:i]
			break
		}
		name := &s.names[i]
		name.Family = unix.AF_INET
		name.Port = uint16(a.Port)<<8 | uint16(a.Port)>>8
		copy(name.Addr[:], ip)
		b := ms[i].Buffers[0]
		s.iovs[i].Base = unsafe.SliceData(b)
		s.iovs[i].SetLen(len(b))
		h := &s.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(name))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
	s.n = len(ms)
	if err := r.rc.Write(s.write); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, s.errno
	}
	return s.n, nil
}

// RawReader reads datagrams with recvfrom issued as a raw system call, for
// the reason RawConn sends that way: the socket is non-blocking, so the
// scheduler need not know, and the ordinary form would wake sysmon on
// every packet that finds the process idle. One goroutine reads with it.
type RawReader struct {
	c     *net.UDPConn
	rc    syscall.RawConn
	err   error
	buf   []byte
	n     int
	errno syscall.Errno
	from  unix.RawSockaddrInet6 // big enough for either family
	read1 func(fd uintptr) bool

	// With kernel timestamps (NewStampingReader): recvmsg's arguments, and
	// the last datagram's arrival.
	msg unix.Msghdr
	iov unix.Iovec
	oob [64]byte
	at  int64
}

// NewRawReader returns a reader of c.
func NewRawReader(c *net.UDPConn) *RawReader {
	r := &RawReader{c: c}
	r.rc, r.err = c.SyscallConn()
	r.read1 = func(fd uintptr) bool {
		salen := uint32(unsafe.Sizeof(r.from))
		n, _, e := syscall.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.buf))), uintptr(len(r.buf)),
			0, uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&salen)))
		r.n, r.errno = int(n), e
		return e != syscall.EAGAIN
	}
	return r
}

// NewStampingReader is a RawReader that also learns when the kernel
// received each datagram (SO_TIMESTAMPNS): Arrived. A load generator takes
// a packet's latency at its socket with it, not at whenever its own busy
// goroutines got round to reading.
func NewStampingReader(c *net.UDPConn) (*RawReader, error) {
	r := NewRawReader(c)
	if r.err != nil {
		return nil, r.err
	}
	var serr error
	if err := r.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	r.read1 = func(fd uintptr) bool {
		r.iov.Base = unsafe.SliceData(r.buf)
		r.iov.SetLen(len(r.buf))
		r.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.from)), Namelen: uint32(unsafe.Sizeof(r.from)), Iov: &r.iov}
		r.msg.SetIovlen(1)
		r.msg.Control = &r.oob[0]
		r.msg.SetControllen(len(r.oob))
		n, _, e := syscall.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), 0)
		r.n, r.errno = int(n), e
		r.at = 0
		// One control message is asked for: a struct timespec.
		if e == 0 && r.msg.Controllen >= unix.SizeofCmsghdr+16 {
			h := (*unix.Cmsghdr)(unsafe.Pointer(&r.oob[0]))
			if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS {
				ts := (*unix.Timespec)(unsafe.Pointer(&r.oob[unix.SizeofCmsghdr]))
				r.at = ts.Nano()
			}
		}
		return e != syscall.EAGAIN
	}
	return r, nil
}

// Arrived is when the kernel received the datagram last read (Unix
// nanoseconds), 0 when unknown or not a stamping reader.
func (r *RawReader) Arrived() int64 { return r.at }

// ReadFromUDPAddrPort is net.UDPConn's.
func (r *RawReader) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	if r.err != nil || len(b) == 0 {
		return r.c.ReadFromUDPAddrPort(b)
	}
	for {
		r.buf = b
		err := r.rc.Read(r.read1)
		r.buf = nil
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		switch r.errno {
		case 0:
		case syscall.EINTR:
			continue
		default:
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: r.c.LocalAddr(), Err: r.errno}
		}
		switch r.from.Family {
		case unix.AF_INET:
			sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.from))
			return r.n, netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), sa.Port<<8|sa.Port>>8), nil
		case unix.AF_INET6:
			return r.n, netip.AddrPortFrom(netip.AddrFrom16(r.from.Addr), r.from.Port<<8|r.from.Port>>8), nil
		}
		return r.n, netip.AddrPort{}, nil
	}
}
