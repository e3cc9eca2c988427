// Package rx is the timestamping receiver on the far side of a link, and
// the analysis of what arrived.
//
// A Receiver reads every frame of one interface through an AF_PACKET
// TPACKET_V3 ring. labrun's frames carry a sequence number (see
// trace.SeqOf); the receiver records the arrival time of each expected
// sequence number in a preallocated array and counts duplicates, reordered,
// out-of-range and unmarked frames. Frames that carry no mark, such as
// those of a real capture, are identified by their content instead (see
// Matcher). Reordering is judged within a stream (Config.Streams), such as
// the frames of one sending thread. Analyze turns that into Caliper's
// inter-arrival error and the rest of the rx_ metrics.
//
// # Timestamps
//
// Arrival times are the kernel's software receive timestamps (tp_sec,
// tp_nsec in the ring), which are CLOCK_REALTIME. The receiver enables
// SO_TIMESTAMPNS on its socket, which makes the kernel stamp every frame
// when the driver hands it to the stack (for a veth: when the peer's
// transmit queues it on the receive backlog, net.core.netdev_tstamp_prequeue
// = 1) rather than when the packet socket's hook runs later in softirq
// processing; a delay in softirq processing then does not show in the
// stamps. This switches on receive timestamping host-wide (a static key,
// one clock read per received packet) while the socket is open. Frames that
// arrive before the kernel has switched it on (it is deferred to a
// workqueue) are stamped at the packet hook instead; Result.EarlyStamped
// counts the others. On a 2-vCPU VM, frames sent over a veth from user
// space were stamped about 0.9 us after the send call began (p99 1.5 us)
// this way, against 1.4 us (p99 2 to 10 us) at the packet hook.
//
// # What can move a stamp
//
// With net.core.netdev_tstamp_prequeue = 1 (the default) the stamp is
// taken in netif_rx, which veth_xmit calls on the CPU that sends, inside
// the sender's send call, before receive packet steering (RPS) picks the
// CPU that runs the rest of the receive path. So only a stall on the
// sender's CPU between the moment the sender meant to send and its send
// call (the sender's own stall) can move a stamp. The receiving thread's
// stalls only delay reading the ring (frames wait there, or are dropped
// and counted when it is full), and a stall on the RPS CPU only delays
// the packet hook. With netdev_tstamp_prequeue = 0 the stamp is taken
// when the backlog is processed, on the RPS CPU if RPS is set (else the
// sender's): a stall of that CPU between the send and that softirq moves
// the stamp. Frames the kernel stamped at the packet hook (the first ones,
// before EarlyStamped counts) are stamped on that CPU too.
//
// The stamps are converted to the clock.Now scale (CLOCK_MONOTONIC) with
// the offset realtime - monotonic, sampled at Open and again at Stop: each
// sample reads monotonic, realtime, monotonic back to back (both through
// the vDSO) and keeps the try with the narrowest bracket. The uncertainty
// of one sample is half its bracket (Result.ClockUncertainty, tens of ns
// on a VM). Between the two samples the offset may move when NTP slews
// CLOCK_REALTIME (at most 500 ppm); Stop reports the change
// (Result.ClockDrift) and removes it by linear interpolation over the run.
// A step of the realtime clock during a run cannot be removed: it shows as
// a large ClockDrift, and such a run's times should not be trusted.
package rx

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/trace"
)

// Config describes a receiver.
type Config struct {
	// Ifindex is the interface to receive on, in the namespace of the
	// thread that calls Open.
	Ifindex int
	// Expect is the number of sequence numbers expected (0 to Expect-1);
	// the arrival array is preallocated to this size. At most MaxExpect.
	Expect int
	// RingBytes is the size of the TPACKET_V3 receive ring. 0 sizes it
	// from Expect, room for every frame at about 128 B each, clamped to
	// [8 MiB, 512 MiB]. Otherwise it must be in [1 MiB, 2 GiB] and is
	// rounded up to whole blocks.
	RingBytes int
	// SnapLen is the number of bytes of each frame kept in the ring, at
	// least MinSnapLen. 0 means 128, enough for the headers and the
	// sequence number, or 65535 (whole frames) when Capture is set.
	SnapLen int
	// Capture, if set, is a pcapng file to write every arrived frame to,
	// with its kernel timestamp at nanosecond resolution.
	Capture string
	// CPU is the CPU to pin the receive thread to, or -1 for no pinning.
	CPU int
	// Streams, if set, gives the stream of each expected sequence number
	// (Expect entries): reordering is judged within a stream, such as the
	// frames one sending thread sends in order. nil: one stream.
	Streams []uint16
	// Match, if set, identifies frames by their content instead of
	// labrun's sequence mark (see Matcher): for the frames of a real
	// capture. It must hold Expect frames. Open builds its table, and
	// it belongs to the receiver from then on.
	Match *Matcher
	// Promisc receives frames addressed to any MAC (a named interface
	// behind a device under test), for as long as the receiver is open.
	Promisc bool
	// Hardware asks for the NIC's receive timestamps, on its PTP clock
	// /dev/ptp<PHC> (see hwstamp.go); the NIC must stamp received frames
	// already.
	Hardware bool
	PHC      int
	// Tap, if set, is called by the drain loop for every frame after it is
	// accounted: f is the part kept in the ring (valid only during the
	// call), wireLen its length on the wire, at its arrival (clock.Now
	// scale, without Stop's drift correction). It runs on the drain loop's
	// thread, so it must not block or allocate. For traffic that carries no
	// mark, such as a TCP flow's segments.
	Tap func(f []byte, wireLen int, at int64)
	// Fanout opens a socket and ring per CPU, joined in a PACKET_FANOUT_CPU
	// group: the kernel puts each frame in the ring of the CPU that
	// receives it, so senders on several CPUs (on a veth the receive work
	// runs on the sending CPU) do not take one ring's lock and cache lines
	// in turn for every frame. Each ring is RingBytes (one CPU may receive
	// every frame). Order is then judged by arrival stamps at Stop, not by
	// the walk, which visits the rings in turn. Not with Capture, Tap or
	// Hardware, which want the frames in one order as they are walked.
	Fanout bool
}

// Limits of a Config.
const (
	MaxExpect  = 100_000_000
	MinSnapLen = trace.HeaderLen + 4 + 8 // headers, magic, sequence number
	MaxSnapLen = 65535
)

// Ring geometry.
const (
	minBlock     = 64 << 10
	minAutoRing  = 8 << 20
	maxAutoRing  = 512 << 20
	minRing      = 1 << 20
	maxRing      = 2 << 30 // the kernel wants block size x count below 4 GiB
	autoPerFrame = 128
	defaultSnap  = 128
	captureSnap  = MaxSnapLen
	// retireMS is the block retire timeout (the kernel arms its timer on the
	// CPU that receives, which on a veth is the sender's: a short timeout
	// interrupts the sender often). A block that is not full is
	// handed to user space at most about twice this long after its first
	// frame (the kernel retires a block on the second timer tick that finds
	// it unchanged).
	retireMS = 64
	// minQuiet is the shortest quiet period Stop accepts: a frame in a
	// block the kernel has not retired yet becomes visible only then.
	minQuiet = 4 * retireMS * time.Millisecond
	// pollMS bounds the drain loop's sleep when no block arrives and no
	// stop is requested.
	pollMS = 50
	// stopPoll is how often Stop checks its conditions.
	stopPoll = time.Millisecond
	// The receiving thread's stalls: a block's walk that took longer than
	// threadStallMin + threadStallPerFrame per frame in it, at most
	// maxThreadStalls kept.
	threadStallMin      = 10 * time.Microsecond
	threadStallPerFrame = 200 * time.Nanosecond
	maxThreadStalls     = 1 << 14
)

// Stop reasons (Result.Stopped).
const (
	StopComplete   = "complete"    // marked frames + kernel drops reached the count sent
	StopQuiet      = "quiet"       // no frame for the quiet period
	StopBound      = "bound"       // the time bound ran out
	StopNotStarted = "not started" // Stop without Start: nothing was received
)

// Result is what a receiver saw.
type Result struct {
	// Arrival is the arrival time of each expected sequence number on the
	// clock.Now (CLOCK_MONOTONIC) scale, 0 for one that never arrived.
	Arrival []int64
	// Received counts the distinct expected sequence numbers that arrived.
	Received uint64
	// Dup counts frames whose sequence number had already arrived.
	Dup uint64
	// Reordered counts first arrivals whose sequence number is below the
	// highest one seen before them in their stream (Config.Streams).
	Reordered uint64
	// OutOfRange counts marked frames whose sequence number is Expect or
	// more.
	OutOfRange uint64
	// Unmarked counts frames without labrun's marker.
	Unmarked uint64
	// Total counts every frame seen.
	Total uint64
	// FirstAny and LastAny are the earliest and latest arrival of any frame
	// (clock.Now scale), 0 if none arrived.
	FirstAny, LastAny int64
	// KernelPackets and KernelDrops are PACKET_STATISTICS over the run:
	// tp_packets (which includes the drops) and tp_drops, frames the kernel
	// could not put in the ring because it was full.
	KernelPackets, KernelDrops uint64
	// KernelFreezes counts the times the V3 ring froze because user space
	// held every block (tp_freeze_q_cnt).
	KernelFreezes uint64
	// Malformed counts ring blocks whose layout did not fit; always 0 from
	// a working kernel.
	Malformed uint64
	// ClockOffset is realtime - monotonic (ns) sampled at Open and used to
	// convert the kernel's stamps.
	ClockOffset int64
	// ClockDrift is how much that offset changed between Open and Stop
	// (ns); it has been interpolated out of the arrival times.
	ClockDrift int64
	// ClockUncertainty bounds the error of the offset samples (ns).
	ClockUncertainty int64
	// EarlyStamped counts the frames the kernel stamped when the driver
	// handed them to the stack (TP_STATUS_TS_SOFTWARE); the others were
	// stamped later, when the packet socket's hook ran (see the package
	// documentation).
	EarlyStamped uint64
	// HardwareStamped counts the frames stamped by the NIC (with
	// Config.Hardware); PHCDrift is how much realtime - NIC clock moved
	// between Open and Stop (ns), PHCUncertainty the error bound of its
	// samples (ns).
	HardwareStamped          uint64
	PHCDrift, PHCUncertainty int64
	// Captured counts the frames written to the capture file.
	Captured uint64
	// Stopped says why Stop stopped waiting: StopComplete, StopQuiet,
	// StopBound or StopNotStarted.
	Stopped string
	// ThreadStalls are the receiving thread's own stalls while it walked
	// the ring (up to maxThreadStalls of them; ThreadStallCount counts
	// all): gaps between its clock readings, one per block, longer than
	// threadStallMin plus threadStallPerFrame per frame of the block. They
	// delay when frames are read, never the kernel's stamps (see the
	// package documentation).
	ThreadStalls     measure.Stalls
	ThreadStallCount int
	ThreadStallMax   int64
}

// Receiver is an AF_PACKET TPACKET_V3 receiver on one interface.
type Receiver struct {
	cfg   Config
	socks []rxSock // one; with Config.Fanout, one per CPU
	efd   int      // eventfd that wakes the drain loop to stop
	block int      // block size
	nblk  int
	snap  int
	w     walker
	open0 offsetSample
	phc   int // the NIC's clock with Config.Hardware, else -1
	phc0  phcSample

	marked, total            atomic.Uint64
	kPackets, kDrops, kFreez atomic.Uint64

	stalls   measure.Stalls // the drain loop's own, preallocated
	nStalls  int
	maxStall int64

	started atomic.Bool
	stop    atomic.Bool
	done    chan struct{}
	loopErr error // written by the drain loop before done closes

	mu     sync.Mutex
	closed bool
	res    *Result
	err    error
}

// Open opens an AF_PACKET socket for every protocol on cfg.Ifindex in the
// calling thread's network namespace and maps its receive ring. Nothing is
// received before Start; frames that arrive in between wait in the ring.
func Open(cfg Config) (*Receiver, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	block, nblk := geometry(cfg.RingBytes, cfg.SnapLen)
	r := &Receiver{cfg: cfg, efd: -1, phc: -1, block: block, nblk: nblk, snap: cfg.SnapLen, done: make(chan struct{})}
	if err := r.open(); err != nil {
		r.release()
		return nil, err
	}
	r.w.byStamp = cfg.Fanout
	r.w.tally = newTally(cfg.Expect)
	r.w.tap = cfg.Tap
	r.stalls = make(measure.Stalls, 0, maxThreadStalls)
	if cfg.Streams != nil {
		r.w.setStreams(cfg.Streams)
	}
	if cfg.Match != nil {
		cfg.Match.build()
		r.w.match = cfg.Match
	}
	// Touch the arrival array now so that page faults do not land in the
	// drain loop.
	for i := 0; i < len(r.w.arrival); i += 512 {
		r.w.arrival[i] = 0
	}
	if cfg.Capture != "" {
		c, err := createCapture(cfg.Capture, cfg.SnapLen)
		if err != nil {
			r.release()
			return nil, err
		}
		r.w.cap = c
	}
	r.open0 = sampleOffset()
	r.w.offset = r.open0.offset
	return r, nil
}

// fill applies defaults and checks the configuration.
func (c *Config) fill() error {
	if c.Ifindex <= 0 {
		return fmt.Errorf("rx: interface index %d: give the index of the receiving interface (> 0)", c.Ifindex)
	}
	if c.Expect < 0 || c.Expect > MaxExpect {
		return fmt.Errorf("rx: expect %d sequence numbers: out of range [0, %d]", c.Expect, MaxExpect)
	}
	if c.SnapLen == 0 {
		c.SnapLen = defaultSnap
		if c.Capture != "" {
			c.SnapLen = captureSnap
		}
	}
	if c.SnapLen < MinSnapLen || c.SnapLen > MaxSnapLen {
		return fmt.Errorf("rx: snap length %d B: must be in [%d, %d] (the sequence number ends at byte %d)",
			c.SnapLen, MinSnapLen, MaxSnapLen, MinSnapLen)
	}
	switch {
	case c.RingBytes == 0:
		c.RingBytes = min(max(c.Expect*autoPerFrame, minAutoRing), maxAutoRing)
	case c.RingBytes < minRing || c.RingBytes > maxRing:
		return fmt.Errorf("rx: ring of %d B: must be in [%d, %d], or 0 to size it from Expect", c.RingBytes, minRing, maxRing)
	}
	if c.Streams != nil && len(c.Streams) != c.Expect {
		return fmt.Errorf("rx: streams for %d sequence numbers, want one per expected sequence number (%d)", len(c.Streams), c.Expect)
	}
	if c.Match != nil {
		if c.Match.Len() != c.Expect {
			return fmt.Errorf("rx: a matcher of %d frames for %d expected sequence numbers: give it every frame of the run", c.Match.Len(), c.Expect)
		}
		if c.SnapLen < MatchPrefix+4 {
			return fmt.Errorf("rx: snap length %d B with a matcher: must be at least %d (the bytes it hashes)", c.SnapLen, MatchPrefix+4)
		}
	}
	if c.CPU < -1 {
		return fmt.Errorf("rx: CPU %d: give a CPU number, or -1 for no pinning", c.CPU)
	}
	if c.Fanout && (c.Capture != "" || c.Tap != nil || c.Hardware) {
		return errors.New("rx: a ring per CPU (Fanout) walks the rings in turn, not in arrival order: not with a capture, a tap or hardware stamps")
	}
	if c.CPU >= 0 {
		// The CPUs the process started with: any thread, the main one
		// included, may have been pinned or narrowed since (a sender's
		// thread, kernel.KeepOff).
		set := startCPUs
		if set.Count() == 0 {
			if err := unix.SchedGetaffinity(0, &set); err != nil {
				return fmt.Errorf("rx: reading the CPU affinity: %w", err)
			}
		}
		if c.CPU >= len(set)*64 || !set.IsSet(c.CPU) {
			return fmt.Errorf("rx: CPU %d is not among the %d CPUs this process may run on; give one of them, or -1", c.CPU, set.Count())
		}
	}
	return nil
}

// geometry returns the block size and count of a ring of about ringBytes
// holding frames of up to snap bytes: blocks are a power of two of at
// least 64 KiB and at least two of the largest slots; the ring is rounded
// up to whole blocks.
func geometry(ringBytes, snap int) (block, nblk int) {
	slot := (macOff + snap + 15) &^ 15
	block = minBlock
	for block < bdHdrLen+2*slot {
		block *= 2
	}
	nblk = max((ringBytes+block-1)/block, 2)
	return block, nblk
}

// rxSock is one receiving socket and its mapped ring.
type rxSock struct {
	fd     int
	ring   []byte
	cur    int    // the next block to walk
	frames uint64 // frames walked in its ring
}

// fanoutGroups makes the fanout group ids of this process's receivers
// distinct (an id is per network namespace; a process's id in the high
// bits keeps two processes in one namespace apart).
var fanoutGroups atomic.Uint32

// open opens the receiving socket (with Config.Fanout, one per CPU in a
// fanout group) and the eventfd that stops the drain loop.
func (r *Receiver) open() error {
	n := 1
	if r.cfg.Fanout {
		n = max(runtime.NumCPU(), 1)
	}
	group := uint32(os.Getpid()<<4) ^ fanoutGroups.Add(1)
	for k := range n {
		s := rxSock{fd: -1}
		err := r.openSock(&s, k == 0)
		if s.fd >= 0 {
			r.socks = append(r.socks, s)
		}
		if err != nil {
			return err
		}
		if r.cfg.Fanout {
			// Joined right after the bind: until then the socket gets
			// every frame, and none is sent before Open returns.
			v := int(group&0xffff) | unix.PACKET_FANOUT_CPU<<16
			if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, v); err != nil {
				return fmt.Errorf("rx: joining socket %d of %d to a PACKET_FANOUT_CPU group: %w", k+1, n, err)
			}
		}
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("rx: creating the stop eventfd: %w", err)
	}
	r.efd = efd
	return nil
}

// openSock opens one receiving socket into s, maps its ring and binds it to
// the interface; first says it is the receiver's first (promiscuous mode
// and hardware stamps are set up once, on it).
func (r *Receiver) openSock(s *rxSock, first bool) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("rx: opening an AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	s.fd = fd
	opt := func(name string, level, o, v int) error {
		if err := unix.SetsockoptInt(fd, level, o, v); err != nil {
			return fmt.Errorf("rx: setting %s: %w", name, err)
		}
		return nil
	}
	if err := opt("PACKET_VERSION to TPACKET_V3", unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return err
	}
	// Frames this host sends on the interface are not arrivals.
	if err := opt("PACKET_IGNORE_OUTGOING", unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return err
	}
	if err := opt("SO_TIMESTAMPNS", unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return err
	}
	if r.cfg.Promisc && first {
		if err := r.enablePromisc(fd); err != nil {
			return err
		}
	}
	if r.cfg.Hardware && first {
		if err := r.enableHardware(fd); err != nil {
			return err
		}
	}
	// The snap length: a one-instruction filter accepting r.snap bytes of
	// every frame (a V3 ring has no snap length of its own).
	filter := [1]unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: uint32(r.snap)}}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: 1, Filter: &filter[0]}); err != nil {
		return fmt.Errorf("rx: attaching the snap length filter: %w", err)
	}
	frame := 2048 // V3 ignores the frame size, but it must divide the block
	req := unix.TpacketReq3{
		Block_size: uint32(r.block), Block_nr: uint32(r.nblk),
		Frame_size: uint32(frame), Frame_nr: uint32(r.block / frame * r.nblk),
		Retire_blk_tov: retireMS,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("rx: setting up a receive ring of %d blocks of %d B: %w", r.nblk, r.block, err)
	}
	ring, err := unix.Mmap(fd, 0, r.block*r.nblk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("rx: mapping the receive ring (%d B): %w", r.block*r.nblk, err)
	}
	s.ring = ring
	// Only now start receiving, and only on the one interface.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: r.cfg.Ifindex}); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("rx: no interface with index %d in this network namespace (Open binds in the calling thread's namespace): %w",
				r.cfg.Ifindex, err)
		}
		return fmt.Errorf("rx: binding to interface %d: %w", r.cfg.Ifindex, err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Start starts the drain loop on its own goroutine, locked to its thread
// (pinned to cfg.CPU if set), and returns at once. Calls after the first,
// or after Stop or Close, do nothing.
func (r *Receiver) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.started.Load() {
		return
	}
	r.started.Store(true)
	go r.loop()
}

// loop drains the ring until stop is set: it walks every block the kernel
// has retired, in ring order, returns it, and sleeps in poll when none is
// ready. Its thread stays locked when it returns, so the runtime discards
// it with its pinning.
func (r *Receiver) loop() {
	defer close(r.done)
	runtime.LockOSThread()
	if r.cfg.CPU >= 0 {
		var set unix.CPUSet
		set.Set(r.cfg.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			r.loopErr = fmt.Errorf("rx: pinning the receive thread to CPU %d: %w", r.cfg.CPU, err)
		}
	}
	fds := make([]unix.PollFd, 0, len(r.socks)+1)
	for _, s := range r.socks {
		fds = append(fds, unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR})
	}
	fds = append(fds, unix.PollFd{Fd: int32(r.efd), Events: unix.POLLIN})
	for {
		last := clock.Now()
		for walked := true; walked; {
			walked = false
			for k := range r.socks {
				if r.walkReady(&r.socks[k], &last) {
					walked = true
				}
			}
		}
		if r.stop.Load() {
			return
		}
		if _, err := unix.Poll(fds, pollMS); err != nil && err != unix.EINTR {
			if r.loopErr == nil {
				r.loopErr = fmt.Errorf("rx: polling the receive socket: %w", err)
			}
			return
		}
	}
}

// walkReady walks the blocks of s the kernel has retired, in ring order,
// returns them, and reports whether there was any.
func (r *Receiver) walkReady(s *rxSock, last *int64) bool {
	walked := false
	for {
		b := s.ring[s.cur*r.block : (s.cur+1)*r.block]
		st := (*uint32)(unsafe.Pointer(&b[bdStatus]))
		if atomic.LoadUint32(st)&unix.TP_STATUS_USER == 0 {
			return walked
		}
		walked = true
		n := ne.Uint32(b[bdNumPkts:])
		s.frames += uint64(n)
		r.w.block(b)
		*last = r.stalled(*last, n)
		atomic.StoreUint32(st, unix.TP_STATUS_KERNEL)
		r.marked.Store(r.w.marked)
		r.total.Store(r.w.total)
		if s.cur++; s.cur == r.nblk {
			s.cur = 0
		}
	}
}

// stalled reads the clock after a block of n frames was walked and
// records a stall if the walk since last took longer than it should.
func (r *Receiver) stalled(last int64, n uint32) int64 {
	now := clock.Now()
	if g := now - last; g > int64(threadStallMin)+int64(n)*int64(threadStallPerFrame) {
		r.nStalls++
		r.maxStall = max(r.maxStall, g)
		if len(r.stalls) < cap(r.stalls) {
			r.stalls = append(r.stalls, measure.Stall{From: last, To: now})
		}
	}
	return now
}

// Counts returns the marked frames and all frames walked so far. They
// advance a block at a time: a block reaches the drain loop when it is
// full or at most about 2*4 ms after its first frame.
func (r *Receiver) Counts() (marked, total uint64) {
	return r.marked.Load(), r.total.Load()
}

// readStats adds the kernel's counters since the last read (reading them
// resets them) to the run's.
func (r *Receiver) readStats() error {
	for _, s := range r.socks {
		st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			return fmt.Errorf("rx: reading PACKET_STATISTICS: %w", err)
		}
		r.kPackets.Add(uint64(st.Packets))
		r.kDrops.Add(uint64(st.Drops))
		r.kFreez.Add(uint64(st.Freeze_q_cnt))
	}
	return nil
}

// Stop waits until the marked frames walked plus the kernel's drops reach
// sent, or no frame has arrived for quiet (at least 16 ms, the time a
// partly filled block can take to reach user space), or bound has passed;
// then it stops the drain loop, reads PACKET_STATISTICS, closes the socket
// and the capture and returns what arrived. Stop is idempotent: later calls
// return the same result and error. The error reports a failure of the
// drain loop, the statistics or the capture; the result is valid even then.
func (r *Receiver) Stop(sent uint64, quiet, bound time.Duration) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res != nil {
		return r.res, r.err
	}
	if r.closed {
		return nil, errors.New("rx: Stop after Close: the receiver's results are gone")
	}
	var errs []error
	reason := StopNotStarted
	if r.started.Load() {
		var err error
		reason, err = r.wait(sent, max(quiet, minQuiet), bound)
		errs = append(errs, err)
		r.halt()
		errs = append(errs, r.loopErr)
	}
	errs = append(errs, r.readStats())
	if r.w.byStamp {
		r.w.reordered = r.w.reorderedByStamp()
	}
	stop := sampleOffset()
	res := &Result{
		Arrival: r.w.arrival, Received: r.w.received, Dup: r.w.dup, Reordered: r.w.reordered,
		OutOfRange: r.w.outOfRange, Unmarked: r.w.unmarked, Total: r.w.total,
		FirstAny: r.w.first, LastAny: r.w.last,
		KernelPackets: r.kPackets.Load(), KernelDrops: r.kDrops.Load(), KernelFreezes: r.kFreez.Load(),
		Malformed: r.w.malformed, EarlyStamped: r.w.early, HardwareStamped: r.w.hw,
		ClockOffset: r.open0.offset, ClockDrift: stop.offset - r.open0.offset,
		ClockUncertainty: (max(r.open0.bracket, stop.bracket) + 1) / 2,
		Stopped:          reason,
		ThreadStalls:     r.stalls, ThreadStallCount: r.nStalls, ThreadStallMax: r.maxStall,
	}
	if r.w.cap != nil {
		res.Captured = r.w.cap.n
	}
	correctDrift(res, r.open0, stop)
	if r.phc >= 0 {
		s, err := samplePHC(r.phc)
		errs = append(errs, err)
		res.PHCDrift, res.PHCUncertainty = s.offset-r.phc0.offset, (max(s.bracket, r.phc0.bracket)+1)/2
	}
	errs = append(errs, r.release())
	r.res, r.err = res, errors.Join(errs...)
	return r.res, r.err
}

// wait polls the counters until one of Stop's conditions holds.
func (r *Receiver) wait(sent uint64, quiet, bound time.Duration) (string, error) {
	start := time.Now()
	deadline := start.Add(bound)
	last, changed := r.total.Load(), start
	var statErr error
	for {
		if err := r.readStats(); err != nil && statErr == nil {
			statErr = err
		}
		if r.marked.Load()+r.kDrops.Load() >= sent {
			return StopComplete, statErr
		}
		now := time.Now()
		if t := r.total.Load(); t != last {
			last, changed = t, now
		} else if now.Sub(changed) >= quiet {
			return StopQuiet, statErr
		}
		if !now.Before(deadline) {
			return StopBound, statErr
		}
		time.Sleep(min(stopPoll, deadline.Sub(now)))
	}
}

// halt stops the drain loop after it has walked the blocks already
// retired, and waits for it.
func (r *Receiver) halt() {
	r.stop.Store(true)
	var one [8]byte
	ne.PutUint64(one[:], 1)
	_, _ = unix.Write(r.efd, one[:])
	<-r.done
}

// correctDrift removes the change of realtime - monotonic between the two
// samples from the arrival times, interpolating it linearly in time.
func correctDrift(res *Result, a, b offsetSample) {
	drift := b.offset - a.offset
	span := b.mono - a.mono
	if drift == 0 || span <= 0 {
		return
	}
	k := float64(drift) / float64(span)
	fix := func(t int64) int64 {
		if t == 0 {
			return 0
		}
		return t - int64(math.Round(k*float64(t-a.mono)))
	}
	for i, t := range res.Arrival {
		if t != 0 {
			res.Arrival[i] = max(fix(t), 1)
		}
	}
	res.FirstAny, res.LastAny = fix(res.FirstAny), fix(res.LastAny)
}

// Close releases the receiver without a result: for error paths. It stops
// the drain loop if it runs. Close after Stop does nothing.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	if r.started.Load() {
		r.halt()
	}
	return r.release()
}

// release unmaps the ring and closes the descriptors and the capture.
func (r *Receiver) release() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for k := range r.socks {
		s := &r.socks[k]
		if s.ring != nil {
			if err := unix.Munmap(s.ring); err != nil {
				errs = append(errs, fmt.Errorf("rx: unmapping the ring: %w", err))
			}
			s.ring = nil
		}
		if s.fd >= 0 {
			if err := unix.Close(s.fd); err != nil {
				errs = append(errs, fmt.Errorf("rx: closing a descriptor: %w", err))
			}
			s.fd = -1
		}
	}
	for _, fd := range []*int{&r.efd, &r.phc} {
		if *fd >= 0 {
			if err := unix.Close(*fd); err != nil {
				errs = append(errs, fmt.Errorf("rx: closing a descriptor: %w", err))
			}
			*fd = -1
		}
	}
	if r.w.cap != nil {
		errs = append(errs, r.w.cap.close())
	}
	return errors.Join(errs...)
}

// offsetSample is one reading of realtime - monotonic.
type offsetSample struct {
	mono    int64 // monotonic time of the reading
	offset  int64 // realtime - monotonic, ns
	bracket int64 // width of the monotonic bracket around the realtime read
}

// offsetTries is how many back-to-back readings sampleOffset takes.
const offsetTries = 32

// sampleOffset reads monotonic, realtime, monotonic offsetTries times and
// keeps the reading with the narrowest bracket.
func sampleOffset() offsetSample {
	best := offsetSample{bracket: math.MaxInt64}
	for range offsetTries {
		m0 := clock.Now()
		rt := time.Now().UnixNano()
		m1 := clock.Now()
		if b := m1 - m0; b < best.bracket {
			mid := m0 + b/2
			best = offsetSample{mono: mid, offset: rt - mid, bracket: b}
		}
	}
	return best
}

// startCPUs is the process's CPU affinity when it started.
var startCPUs unix.CPUSet

func init() { unix.SchedGetaffinity(0, &startCPUs) }
