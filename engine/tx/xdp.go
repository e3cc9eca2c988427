package tx

import (
	"errors"
	"fmt"
	"math/bits"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultXDPBatch is an XDP sink's default frames per kick. On a veth at
// topspeed 512 frames a kick (the kernel taking them all in one call)
// spent 281-291 ns a 60-byte frame where the kernel's default of 32 a
// call spent 331-344 (BenchmarkXDPSend).
const DefaultXDPBatch = 512

// xdpChunk is the UMEM chunk a frame is copied into: the smallest the
// kernel accepts (XDP_UMEM_MIN_CHUNK_SIZE), one frame each.
const xdpChunk = 2048

// MaxXDPFrame is the longest frame (no FCS) an XDP sink sends: a chunk.
const MaxXDPFrame = xdpChunk

// defaultXDPFrames is the default ring for batches of batch frames: room
// for one batch to fill while the last completes, and no more, so the
// chunks a batch fills are still in the cache (2 KiB each).
func defaultXDPFrames(batch int) int {
	return max(64, 1<<bits.Len(uint(2*batch-1)))
}

// XDPConfig configures an XDP sink.
type XDPConfig struct {
	// Ifindex is the interface to send on, in the network namespace of the
	// thread calling NewXDP; Queue its transmit queue (0 on a veth).
	Ifindex int
	Queue   int
	// Batch is the number of frames per kick, 1..MaxBatch; 0 means
	// DefaultXDPBatch.
	Batch int
	// Frames is the number of ring slots (and UMEM chunks), a power of
	// two of at least Batch; 0 means twice Batch rounded up to a power of
	// two, at least 64.
	Frames int
	// MaxFrame is the largest frame (no FCS) that will be sent. 0 means
	// DefaultMaxFrame. Longer frames, and frames longer than the interface
	// MTU allows, are refused by Send and counted in Stats.Errors.
	MaxFrame int
	// RetryLimit is the back-off spent waiting for the kernel to take
	// frames before the rest are given up. 0 means DefaultRetryLimit.
	RetryLimit time.Duration
}

// xdpRing is one of an AF_XDP socket's mapped rings: producer and
// consumer indexes (free-running uint32) and the descriptors.
type xdpRing struct {
	mem        []byte
	prod, cons *uint32
	desc       unsafe.Pointer
	mask       uint32
}

func mapXDPRing(fd int, pgoff int64, off unix.XDPRingOffset, n, size int) (xdpRing, error) {
	mem, err := unix.Mmap(fd, pgoff, int(off.Desc)+n*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return xdpRing{}, err
	}
	return xdpRing{mem: mem, prod: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		cons: (*uint32)(unsafe.Pointer(&mem[off.Consumer])), desc: unsafe.Pointer(&mem[off.Desc]), mask: uint32(n - 1)}, nil
}

// XDP is a Sink sending whole Ethernet frames through an AF_XDP socket in
// copy mode (XDP_COPY): Send copies a frame into a UMEM chunk and puts its
// descriptor on the TX ring; a kick (one sendto) has the kernel build a
// socket buffer from each descriptor and hand it straight to the driver,
// past the queueing discipline, like PACKET_QDISC_BYPASS. It is a Roomer
// Batcher.
//
// Against the AF_PACKET TX ring the kernel does less per frame: no
// header parsing or flow dissection of the frame (packet_parse_headers),
// no virtio header, no per-slot status words. On a veth at topspeed it
// spent 281-291 ns a 60-byte frame where the linear TX ring spent 353-359
// (BenchmarkXDPSend against BenchmarkPacketSend). No XDP program is
// needed to send. Copy mode works on any interface; zero copy would need
// driver support a veth does not have.
//
// The kernel copies a frame out of its chunk while taking its descriptor,
// inside the kick, so a chunk is reused once the ring's consumer index has
// passed it and the completion ring (which must still be drained) has
// reported as many frames done.
//
// Send does not allocate, lock or enter the Go scheduler on its normal
// path: kicks are MSG_DONTWAIT system calls made with unix.RawSyscall6.
// An XDP is used by one goroutine at a time.
type XDP struct {
	sock
	batch  int
	max    int // longest frame: min(MaxFrame, MTU + Ethernet header)
	umem   []byte
	tx, cr xdpRing
	n      uint32 // slots
	prod   uint32 // next TX descriptor to fill
	pub    uint32 // producer index published to the kernel
	taken  uint32 // TX consumer index seen: descriptors the kernel took
	done   uint32 // completions drained
	closed bool
	wedged error // set when the kernel stopped taking frames
}

// NewXDP opens an AF_XDP socket in the network namespace of the calling
// thread (lock the thread with runtime.LockOSThread if it was put in a
// namespace), registers and maps its UMEM and rings, and binds it in copy
// mode to cfg.Ifindex's cfg.Queue.
func NewXDP(cfg XDPConfig) (*XDP, error) {
	batch := cfg.Batch
	if batch == 0 {
		batch = DefaultXDPBatch
	}
	if batch < 1 || batch > MaxBatch {
		return nil, fmt.Errorf("tx xdp: Batch %d out of range: want 1..%d (0 means %d)", cfg.Batch, MaxBatch, DefaultXDPBatch)
	}
	if err := checkCommon("xdp", batch, 0, cfg.RetryLimit); err != nil {
		return nil, err
	}
	n := cfg.Frames
	if n == 0 {
		n = defaultXDPFrames(batch)
	}
	if n < batch || n&(n-1) != 0 || n > 1<<20 {
		return nil, fmt.Errorf("tx xdp: Frames %d: want a power of two from Batch (%d) to %d", n, batch, 1<<20)
	}
	mf := cfg.MaxFrame
	if mf == 0 {
		mf = DefaultMaxFrame
	}
	if mf < ethHeader || mf > xdpChunk {
		return nil, fmt.Errorf("tx xdp: MaxFrame %d out of range: want %d..%d bytes (one UMEM chunk; 0 means %d)", mf, ethHeader, xdpChunk, DefaultMaxFrame)
	}
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("tx xdp: Queue %d: want 0 or more", cfg.Queue)
	}
	ifi, err := net.InterfaceByIndex(cfg.Ifindex)
	if err != nil {
		return nil, fmt.Errorf("tx xdp: interface index %d not found in this thread's network namespace: %w", cfg.Ifindex, err)
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tx xdp: AF_XDP socket (needs CAP_NET_RAW and a kernel with XDP sockets): %w", err)
	}
	limit := cfg.RetryLimit
	if limit == 0 {
		limit = DefaultRetryLimit
	}
	x := &XDP{sock: sock{fd: fd, bo: backoff{limit: int64(limit)}}, batch: batch, max: min(mf, ifi.MTU+ethHeader), n: uint32(n)}
	if err := x.setup(cfg, n); err != nil {
		x.closed = true
		x.release()
		return nil, fmt.Errorf("tx xdp on %s queue %d: %w", ifi.Name, cfg.Queue, err)
	}
	return x, nil
}

func (x *XDP) setup(cfg XDPConfig, n int) error {
	var err error
	x.umem, err = unix.Mmap(-1, 0, n*xdpChunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("UMEM of %d bytes: %w", n*xdpChunk, err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))), Len: uint64(len(x.umem)), Size: xdpChunk}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(x.fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		return fmt.Errorf("XDP_UMEM_REG of %d chunks: %w", n, e)
	}
	// bind wants a fill ring (for receiving); sending never maps it.
	for _, o := range []struct {
		opt  int
		name string
	}{{unix.XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING"}, {unix.XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING"}, {unix.XDP_TX_RING, "XDP_TX_RING"}} {
		if err := unix.SetsockoptInt(x.fd, unix.SOL_XDP, o.opt, n); err != nil {
			return fmt.Errorf("%s of %d: %w", o.name, n, err)
		}
	}
	var off unix.XDPMmapOffsets
	size := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(x.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
		return fmt.Errorf("XDP_MMAP_OFFSETS: %w", e)
	}
	if x.tx, err = mapXDPRing(x.fd, unix.XDP_PGOFF_TX_RING, off.Tx, n, int(unsafe.Sizeof(unix.XDPDesc{}))); err != nil {
		return fmt.Errorf("mmap TX ring: %w", err)
	}
	if x.cr, err = mapXDPRing(x.fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, n, 8); err != nil {
		return fmt.Errorf("mmap completion ring: %w", err)
	}
	if err := unix.Bind(x.fd, &unix.SockaddrXDP{Flags: unix.XDP_COPY, Ifindex: uint32(cfg.Ifindex), QueueID: uint32(cfg.Queue)}); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("bind (copy mode): %w: the interface has no queue %d, or the kernel refuses XDP sockets on it", err, cfg.Queue)
		}
		return fmt.Errorf("bind (copy mode): %w", err)
	}
	// Let one kick send a whole batch: the kernel's default is 32 frames
	// a call (XDP_MAX_TX_SKB_BUDGET, Linux 6.17 on). An older kernel
	// refuses the option; kicks then loop over calls of 32.
	_ = unix.SetsockoptInt(x.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, min(max(x.batch, 32), n))
	return nil
}

func (x *XDP) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(x.tx.desc, uintptr(i&x.tx.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}

// Send implements Sink. The frame is copied into the UMEM before Send
// returns, so the caller may reuse it.
func (x *XDP) Send(frame []byte, _ int64) error {
	n := len(frame)
	if n < ethHeader || n > x.max || x.closed || x.wedged != nil {
		if err := x.check(frame); err != nil {
			x.st.Errors++
			return err
		}
	}
	var kerr error
	if x.prod-x.done == x.n {
		// Every chunk is in flight: send what is queued and wait for
		// the kernel to complete the oldest.
		if kerr = x.kick(); x.wedged != nil {
			x.st.Errors++
			return kerr
		}
		if err := x.waitChunk(); err != nil {
			x.st.Errors++
			return errors.Join(kerr, err)
		}
	}
	i := x.prod
	addr := uint64(i&x.tx.mask) * xdpChunk
	copy(x.umem[addr:addr+uint64(n)], frame)
	d := x.desc(i)
	d.Addr, d.Len, d.Options = addr, uint32(n), 0
	x.prod++
	if x.prod-x.pub >= uint32(x.batch) {
		return errors.Join(kerr, x.kick())
	}
	return kerr
}

// check is the slow path of Send's checks.
func (x *XDP) check(frame []byte) error {
	n := len(frame)
	switch {
	case x.closed:
		return errors.New("tx xdp: Send after Close")
	case x.wedged != nil:
		return x.wedged
	case n < ethHeader:
		return fmt.Errorf("tx xdp: frame of %d bytes shorter than an Ethernet header (%d)", n, ethHeader)
	default:
		return fmt.Errorf("tx xdp: frame of %d bytes longer than %d (MaxFrame, or the interface MTU plus the Ethernet header)", n, x.max)
	}
}

// kick publishes the queued descriptors and calls the kernel until it has
// taken them all. A call that took none backs off (spin, yield, sleep)
// within RetryLimit; when that is spent the sink is wedged: the frames
// still queued are counted in Errors and every later Send fails.
func (x *XDP) kick() error {
	if x.pub != x.prod {
		atomic.StoreUint32(x.tx.prod, x.prod) // release: descriptors first
		x.pub = x.prod
	}
	x.bo.reset()
	for x.taken != x.pub {
		_, errno := x.syscall6(unix.SYS_SENDTO, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		took := x.reap()
		if x.taken == x.pub {
			break
		}
		if errno != 0 && !retryable(errno) && errno != unix.EBUSY {
			return x.wedge(fmt.Errorf("tx xdp: send: %w", errno))
		}
		if took {
			x.bo.reset() // progress: a kernel taking 32 a call, or a busy device draining
			continue
		}
		if !x.bo.wait() {
			return x.wedge(fmt.Errorf("tx xdp: the kernel took no frame from the TX ring for %v (%d queued)",
				time.Duration(x.bo.limit), x.pub-x.taken))
		}
		x.st.Retries++
	}
	x.reapDone()
	return nil
}

// reap counts the descriptors the kernel took since the last look and
// reports whether there were any.
func (x *XDP) reap() bool {
	c := atomic.LoadUint32(x.tx.cons)
	if c == x.taken {
		return false
	}
	for i := x.taken; i != c; i++ {
		x.st.Bytes += int64(x.desc(i).Len)
	}
	x.st.Packets += int64(c - x.taken)
	x.taken = c
	return true
}

// reapDone drains the completion ring: chunks the kernel is done with.
func (x *XDP) reapDone() {
	p := atomic.LoadUint32(x.cr.prod)
	if p != x.done {
		x.done = p
		atomic.StoreUint32(x.cr.cons, p)
	}
}

// waitChunk waits, within RetryLimit, for the oldest chunk to complete.
func (x *XDP) waitChunk() error {
	x.bo.reset()
	for {
		x.reapDone()
		if x.prod-x.done < x.n {
			return nil
		}
		if !x.bo.wait() {
			return fmt.Errorf("tx xdp: no frame completed for %v with all %d chunks in flight", time.Duration(x.bo.limit), x.n)
		}
		x.st.Retries++
	}
}

// wedge gives up the frames the kernel has not taken: they are counted in
// Errors, and every later Send returns err.
func (x *XDP) wedge(err error) error {
	x.st.Errors += int64(x.pub - x.taken)
	x.wedged = err
	return err
}

// Pending implements Batcher: frames queued and not yet handed to the kernel.
func (x *XDP) Pending() int { return int(x.prod - x.pub) }

// Room implements Roomer: how many frames Send queues, this one included,
// before one sends the batch.
func (x *XDP) Room() int { return x.batch - int(x.prod-x.pub) }

// Flush implements Batcher: it sends the queued frames.
func (x *XDP) Flush() error {
	if x.closed || x.wedged != nil || x.prod == x.pub {
		return nil
	}
	return x.kick()
}

// Close implements Sink: it flushes, waits (within RetryLimit) for the
// kernel to complete what it took, unmaps the rings and UMEM and closes
// the socket. Closing again does nothing.
func (x *XDP) Close() error {
	if x.closed {
		return nil
	}
	err := x.Flush()
	x.closed = true
	if x.wedged == nil {
		x.bo.reset()
		for x.reapDone(); x.done != x.taken; x.reapDone() {
			if !x.bo.wait() {
				err = errors.Join(err, fmt.Errorf("tx xdp: %d frames not completed after %v at close", x.taken-x.done, time.Duration(x.bo.limit)))
				break
			}
		}
	}
	return errors.Join(err, x.release())
}

// release closes the socket and unmaps what was mapped.
func (x *XDP) release() error {
	var err error
	if cerr := unix.Close(x.fd); cerr != nil {
		err = fmt.Errorf("tx xdp: close: %w", cerr)
	}
	for _, m := range []*[]byte{&x.tx.mem, &x.cr.mem, &x.umem} {
		if *m != nil {
			if uerr := unix.Munmap(*m); uerr != nil {
				err = errors.Join(err, fmt.Errorf("tx xdp: munmap: %w", uerr))
			}
			*m = nil
		}
	}
	return err
}

// Stats implements Sink.
func (x *XDP) Stats() Stats { return x.st }
