package link

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rxRing is a TPACKET_V2 receive ring on one interface: the kernel fills
// frame slots and flips their status to user; the input stage reads them
// in order and hands each slot back. Unlike TPACKET_V3's blocks, which the
// kernel passes on only when full or after a timeout of milliseconds, a V2
// slot is visible as soon as the frame is in it.
type rxRing struct {
	fd        int
	mem       []byte
	frameSize int
	frames    int
	next      int
	pfd       [2]unix.PollFd
	efd       int // eventfd that interrupts wait (stop)
}

// Layout of a V2 slot: struct tpacket2_hdr, then struct sockaddr_ll at
// TPACKET_ALIGN(sizeof(tpacket2_hdr)).
const (
	tp2Status   = 0
	tp2Len      = 4
	tp2Snaplen  = 8
	tp2Mac      = 12
	tp2Sec      = 16
	tp2Nsec     = 20
	tp2HdrLen   = 32
	sllPkttype  = tp2HdrLen + 10
	rxFrameSize = 2048 // holds a 1514-byte frame after the slot header
	rxBlockSize = 1 << 16
)

// openRxRing opens a packet socket in the calling thread's namespace,
// bound to ifindex, receiving every protocol but not the frames this host
// sends itself, with a ring of at least frames slots.
func openRxRing(ifindex, frames int) (*rxRing, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, fmt.Errorf("PACKET_VERSION: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return nil, fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
	}
	perBlock := rxBlockSize / rxFrameSize
	blocks := (frames + perBlock - 1) / perBlock
	req := unix.TpacketReq{Block_size: rxBlockSize, Block_nr: uint32(blocks), Frame_size: rxFrameSize, Frame_nr: uint32(blocks * perBlock)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, blocks*rxBlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mapping the receive ring: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("binding to interface %d: %w", ifindex, err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ok = true
	return &rxRing{fd: fd, mem: mem, frameSize: rxFrameSize, frames: blocks * perBlock, efd: efd}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (r *rxRing) status(s int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[s*r.frameSize+tp2Status]))
}

// ready reports whether the next slot holds a frame.
func (r *rxRing) ready() bool {
	return atomic.LoadUint32(r.status(r.next))&unix.TP_STATUS_USER != 0
}

// frame returns the next slot's frame (a view into the ring, writable),
// its kernel receive time (CLOCK_REALTIME ns) and packet type.
func (r *rxRing) frame() (f []byte, real int64, pkttype uint8) {
	base := r.next * r.frameSize
	b := r.mem[base : base+r.frameSize]
	mac := int(*(*uint16)(unsafe.Pointer(&b[tp2Mac])))
	snap := int(*(*uint32)(unsafe.Pointer(&b[tp2Snaplen])))
	sec := *(*uint32)(unsafe.Pointer(&b[tp2Sec]))
	nsec := *(*uint32)(unsafe.Pointer(&b[tp2Nsec]))
	if mac+snap > len(b) {
		snap = len(b) - mac
	}
	return b[mac : mac+snap], int64(sec)*1e9 + int64(nsec), b[sllPkttype]
}

// done hands the current slot back to the kernel and moves on.
func (r *rxRing) done() {
	atomic.StoreUint32(r.status(r.next), unix.TP_STATUS_KERNEL)
	r.next++
	if r.next == r.frames {
		r.next = 0
	}
}

// wait blocks until a frame is ready or timeoutNS passes.
func (r *rxRing) wait(timeoutNS int64) {
	r.pfd[0] = unix.PollFd{Fd: int32(r.fd), Events: unix.POLLIN}
	r.pfd[1] = unix.PollFd{Fd: int32(r.efd), Events: unix.POLLIN}
	ts := unix.NsecToTimespec(timeoutNS)
	unix.Ppoll(r.pfd[:], &ts, nil)
}

// interrupt ends a wait now and every later one (the forwarder stops).
func (r *rxRing) interrupt() {
	var one = [8]byte{1}
	unix.Write(r.efd, one[:])
}

// drops returns the frames the kernel dropped because the ring was full
// since the last call, and the frames it delivered.
func (r *rxRing) stats() (packets, drops uint64) {
	st, err := unix.GetsockoptTpacketStats(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0
	}
	return uint64(st.Packets), uint64(st.Drops)
}

func (r *rxRing) close() error {
	unix.Close(r.efd)
	err := unix.Munmap(r.mem)
	if cerr := unix.Close(r.fd); err == nil {
		err = cerr
	}
	return err
}

// MaxForwardMTU is the largest MTU whose frames fit the forwarder's
// receive slots.
const MaxForwardMTU = rxFrameSize - 128 - 14
