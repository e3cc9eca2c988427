package flow

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/timer"
)

// The pacers of a paced TCP flow (PacedConfig.Pacer).
const (
	// PaceTimer: labrun's timer releases one write of Segment bytes per due
	// time, on a locked thread with the run's thread settings.
	PaceTimer = "timer"
	// PaceFQ: the kernel paces: SO_MAX_PACING_RATE on the socket and the fq
	// qdisc on the sender's interface; the application writes in bulk.
	PaceFQ = "fq"
	// PaceTCP: SO_MAX_PACING_RATE without fq: TCP's own pacing (an hrtimer
	// per socket, Linux 4.13 and later); the application writes in bulk.
	PaceTCP = "tcp"
	// PaceNone: unpaced bulk writes, as fast as the connection takes them.
	PaceNone = "none"
)

// Pacers lists the accepted PacedConfig.Pacer values.
var Pacers = []string{PaceTimer, PaceFQ, PaceTCP, PaceNone}

// Bounds of a PacedConfig.
const (
	MaxSegments = 10_000_000
	MaxSegment  = 65535
	// FrameOverhead is what a TCP segment adds to its payload on an
	// Ethernet wire with the timestamp option (Linux's default): Ethernet
	// header and FCS 18, IPv4 20, TCP 20 + 12. A 1448 B payload makes a
	// 1518 B frame, Caliper's UDP frame size.
	FrameOverhead = 70
	// sendTimeout bounds one blocking write (SO_SNDTIMEO) and connect.
	sendTimeout = 5 * time.Second
)

// ErrNoFQ is returned (wrapped) when the fq qdisc cannot be put on the
// sender's interface: the kernel lacks it (CONFIG_NET_SCH_FQ) or tc does.
var ErrNoFQ = errors.New("the fq qdisc is not available")

// PacedConfig describes one paced TCP flow: Count writes of Segment bytes
// each, Gap apart, from Client to a server on Server that reads and
// discards.
type PacedConfig struct {
	Client, Server Host
	Addr           netip.Addr // server address (an interface of Server's namespace)
	// Port is the server's port, 1..65535: a receiver on the server's
	// interface tells the flow's segments by it.
	Port  int
	Pacer string // one of Pacers
	// Count is the number of writes, 1..MaxSegments; Segment the bytes of
	// each, 1..MaxSegment (the connection's MSS, 1448 on a 1500 B MTU,
	// makes one segment per write).
	Count, Segment int
	// Gap is the requested inter-transmission time: the timer's period, or
	// for the kernel's pacers the rate (Segment + FrameOverhead bytes per
	// Gap). Required (> 0) also for PaceNone, where it is only the
	// reference the receiver's errors are measured against.
	Gap time.Duration
	// Timer and Thread are the timer and the thread settings of the
	// timed sending thread (PaceTimer).
	Timer  timer.Config
	Thread kernel.Settings
	// Duration bounds the sending, > 0 and at most MaxDuration; the flow
	// stops early when it runs out.
	Duration time.Duration
	CC       string // TCP_CONGESTION of the sender; "" = default
	// Ifname is the sender's interface, where PaceFQ puts its qdisc.
	Ifname string
}

// PacedResult is what the sending side of a paced flow saw.
type PacedResult struct {
	Written  int   // writes completed
	Received int64 // bytes the server read
	MSS      int   // the connection's MSS (TCP_MAXSEG)
	// Late holds the quantiles of (write start - due time) of the timed
	// writes (PaceTimer).
	LateP50, LateP99, LateMax time.Duration
	Timer                     timer.Stats
	Settings                  []kernel.Outcome
	Retransmits               uint32 // tcpi_total_retrans at the end
	PacingRate                uint64 // SO_MAX_PACING_RATE set, bytes/s (kernel pacers)
}

// Validate checks c.
func (c PacedConfig) Validate() error {
	if err := checkEnds("paced", c.Client, c.Server, c.Addr, c.Port, c.Duration); err != nil {
		return err
	}
	switch {
	case c.Port == 0:
		return fmt.Errorf("paced: port 0: accepted 1..65535 (the receiver filters the flow by it)")
	case !slices.Contains(Pacers, c.Pacer):
		return fmt.Errorf("paced: pacer %q: accepted %s", c.Pacer, strings.Join(Pacers, ", "))
	case c.Count < 1 || c.Count > MaxSegments:
		return fmt.Errorf("paced: count %d: accepted 1..%d segments", c.Count, MaxSegments)
	case c.Segment < 1 || c.Segment > MaxSegment:
		return fmt.Errorf("paced: segment %d B: accepted 1..%d bytes (the MSS, 1448 on a 1500 B MTU, is one segment per write)", c.Segment, MaxSegment)
	case c.Gap <= 0 || c.Gap > time.Second:
		return fmt.Errorf("paced: gap %v: accepted 1ns..1s (the requested inter-transmission time)", c.Gap)
	case c.Pacer != PaceNone && time.Duration(c.Count)*c.Gap > c.Duration:
		return fmt.Errorf("paced: %d segments %v apart take %v, longer than the duration %v that bounds the flow: accepted segments x gap <= duration (raise the duration or send fewer segments)", c.Count, c.Gap, time.Duration(c.Count)*c.Gap, c.Duration)
	case c.Pacer == PaceFQ && c.Ifname == "":
		return fmt.Errorf("paced: pacer fq needs the sender's interface (Ifname) for its qdisc")
	}
	if c.Pacer == PaceTimer {
		if err := c.Timer.Validate(); err != nil {
			return fmt.Errorf("paced: %w", err)
		}
	}
	if err := checkCCName(c.CC); err != nil {
		return fmt.Errorf("paced: %w", err)
	}
	return nil
}

// PacingRate is the SO_MAX_PACING_RATE, bytes per second, of the kernel's
// pacers: one frame of Segment + FrameOverhead bytes per Gap.
func (c PacedConfig) PacingRate() uint64 {
	return uint64(float64(c.Segment+FrameOverhead) / c.Gap.Seconds())
}

// Paced runs one paced flow and returns when the server has read all the
// client wrote, or when ctx is cancelled (the sockets are then closed and
// the result so far comes back with an error wrapping ctx's). The whole
// call is bounded by c.Duration + DrainTimeout. With PaceFQ and no fq
// qdisc it returns an error wrapping ErrNoFQ before sending anything.
func Paced(ctx context.Context, c PacedConfig) (PacedResult, error) {
	var res PacedResult
	if err := c.Validate(); err != nil {
		return res, err
	}
	if c.Pacer == PaceFQ {
		if err := AddFQ(c.Client, c.Ifname); err != nil {
			return res, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Duration+DrainTimeout)
	defer cancel()
	ln, err := listen(ctx, c.Server, c.Addr, c.Port, 0)
	if err != nil {
		return res, fmt.Errorf("paced: %w", err)
	}
	defer ln.Close()
	served := make(chan bulkServed, 1)
	go func() { served <- serveBulk(ctx, ln, 0) }()

	fd, err := connectRaw(c)
	if err != nil {
		ln.Close()
		<-served
		return res, fmt.Errorf("paced: %w", err)
	}
	rc := &rawConn{fd: fd}
	defer rc.close()
	// Cancelling ends a blocked write: shut the socket down under it.
	stopShut := context.AfterFunc(ctx, rc.shutdown)
	defer stopShut()
	if mss, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG); err == nil {
		res.MSS = mss
	}
	if c.Pacer == PaceFQ || c.Pacer == PaceTCP {
		res.PacingRate = c.PacingRate()
		if err := unix.SetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_MAX_PACING_RATE, res.PacingRate); err != nil {
			rc.close()
			<-served // the server sees the end: every goroutine is back
			return res, fmt.Errorf("paced: setting SO_MAX_PACING_RATE to %d B/s: %w", res.PacingRate, err)
		}
	}

	var werr error
	if c.Pacer == PaceTimer {
		werr = sendTimed(ctx, c, fd, &res)
	} else {
		res.Written, werr = sendBulk(ctx, c, fd)
	}
	if werr == nil {
		werr = unix.Shutdown(fd, unix.SHUT_WR)
	}
	if werr != nil {
		rc.close() // the server sees the end instead of waiting for it
	}
	r := <-served
	res.Received = r.bytes
	res.Retransmits = rc.retransmits()
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("paced: stopped after %d of %d writes (%d bytes received): %w", res.Written, c.Count, res.Received, context.Cause(ctx))
	case werr != nil:
		return res, fmt.Errorf("paced: sending after %d writes: %w", res.Written, werr)
	case r.err != nil:
		return res, fmt.Errorf("paced: receiving after %d bytes: %w", res.Received, r.err)
	case res.Received != int64(res.Written)*int64(c.Segment):
		return res, fmt.Errorf("paced: the server received %d bytes but the client wrote %d", res.Received, int64(res.Written)*int64(c.Segment))
	}
	return res, nil
}

// rawConn is the client's socket: closed once, and never shut down or
// read after that (its number may belong to another file by then).
type rawConn struct {
	fd     int
	mu     sync.Mutex
	closed bool
}

func (r *rawConn) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		unix.Close(r.fd)
	}
}

func (r *rawConn) shutdown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		unix.Shutdown(r.fd, unix.SHUT_RDWR)
	}
}

// retransmits reads tcpi_total_retrans, 0 once closed.
func (r *rawConn) retransmits() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0
	}
	info, err := unix.GetsockoptTCPInfo(r.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0
	}
	return info.Total_retrans
}

// connectRaw makes a blocking TCP socket in the client's namespace with
// TCP_NODELAY, SO_SNDTIMEO and the congestion control set, and connects it.
func connectRaw(c PacedConfig) (int, error) {
	fd := -1
	err := c.Client.Do(func() error {
		family := unix.AF_INET
		if c.Addr.Is6() {
			family = unix.AF_INET6
		}
		var err error
		if fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("making a TCP socket: %w", err)
		}
		tv := unix.NsecToTimeval(int64(sendTimeout))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
			return fmt.Errorf("setting SO_SNDTIMEO: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("setting TCP_NODELAY: %w", err)
		}
		if c.CC != "" {
			if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, c.CC); err != nil {
				return fmt.Errorf("congestion control %q: %w", c.CC, err)
			}
		}
		var sa unix.Sockaddr = &unix.SockaddrInet4{Port: c.Port, Addr: c.Addr.As4()}
		if c.Addr.Is6() {
			sa = &unix.SockaddrInet6{Port: c.Port, Addr: c.Addr.As16()}
		}
		for {
			err = unix.Connect(fd, sa)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("connecting to %s: %w", netip.AddrPortFrom(c.Addr, uint16(c.Port)), err)
		}
		return nil
	})
	if err != nil && fd >= 0 {
		unix.Close(fd)
		fd = -1
	}
	return fd, err
}

// writeAll writes b to the blocking socket fd. It does not allocate
// unless it fails.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return fmt.Errorf("a write blocked for %v (SO_SNDTIMEO): the connection is stuck", sendTimeout)
		case err != nil:
			return err
		}
		b = b[n:]
	}
	return nil
}

// sendBulk writes Count*Segment bytes as fast as the socket takes them,
// in writes of up to 64 KiB, until the bytes or Duration run out.
func sendBulk(ctx context.Context, c PacedConfig, fd int) (int, error) {
	buf := make([]byte, max(c.Segment, (64<<10)/c.Segment*c.Segment))
	end := time.Now().Add(c.Duration)
	total := int64(c.Count) * int64(c.Segment)
	var sent int64
	for sent < total && ctx.Err() == nil && time.Now().Before(end) {
		b := buf[:min(int64(len(buf)), total-sent)]
		if err := writeAll(fd, b); err != nil {
			return int(sent / int64(c.Segment)), err
		}
		sent += int64(len(b))
	}
	return int(sent / int64(c.Segment)), nil
}

// timedSender is the state of the timed sending thread; loop uses only
// what is allocated here.
type timedSender struct {
	fd    int
	buf   []byte
	late  []int64 // per write: start - due, ns
	gap   int64
	end   int64 // clock.Now after which nothing more is written
	stop  atomic.Bool
	wrote int
}

// sendTimed runs the timed writes on a locked thread with c.Thread's
// settings, and fills res.
func sendTimed(ctx context.Context, c PacedConfig, fd int, res *PacedResult) error {
	s := &timedSender{fd: fd, buf: make([]byte, c.Segment), late: make([]int64, c.Count), gap: int64(c.Gap)}
	for i := 0; i < len(s.late); i += 512 {
		s.late[i] = 0 // fault the pages in before the loop
	}
	stopWatch := context.AfterFunc(ctx, func() { s.stop.Store(true) })
	defer stopWatch()
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread's settings die with it.
		runtime.LockOSThread()
		done <- s.run(c, res)
	}()
	err := <-done
	res.Written = s.wrote
	if s.wrote > 0 {
		l := slices.Clone(s.late[:s.wrote])
		slices.Sort(l)
		res.LateP50 = time.Duration(measure.Quantile(l, 0.5))
		res.LateP99 = time.Duration(measure.Quantile(l, 0.99))
		res.LateMax = time.Duration(l[len(l)-1])
	}
	return err
}

// run applies the thread settings, makes the timer and runs the loop.
func (s *timedSender) run(c PacedConfig, res *PacedResult) error {
	out, undo := kernel.ApplyThread(c.Thread)
	defer undo()
	res.Settings = out
	if err := kernel.CheckRequired(out); err != nil {
		return err
	}
	tc := c.Timer
	tc.Stop = &s.stop
	tm, err := timer.New(tc)
	if err != nil {
		return fmt.Errorf("timer: %w", err)
	}
	defer tm.Close()
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	start := clock.Now() + int64(time.Millisecond) // room to enter the loop
	s.end = start + int64(c.Duration)
	err = s.loop(tm, start)
	res.Timer = tm.Stats()
	return err
}

// loop is the timed loop: wait for the due time, write one segment. It
// does not allocate, lock or log.
func (s *timedSender) loop(tm timer.Timer, start int64) error {
	for i := range s.late {
		due := start + int64(i)*s.gap
		if due > s.end {
			return nil
		}
		tm.Wait(due)
		if s.stop.Load() {
			return nil
		}
		s.late[i] = clock.Now() - due
		if err := writeAll(s.fd, s.buf); err != nil {
			return err
		}
		s.wrote++
	}
	return nil
}

// AddFQ puts the fq qdisc at the root of ifname in h's namespace (tc
// qdisc replace). It fails with ErrNoFQ, and tc's message, when the kernel
// or tc cannot; the qdisc goes away with the namespace.
func AddFQ(h Host, ifname string) error {
	tc, err := exec.LookPath("tc")
	if err != nil {
		return fmt.Errorf("%w: the tc command (iproute2) is not installed", ErrNoFQ)
	}
	var out []byte
	err = h.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		out, err = exec.CommandContext(ctx, tc, "qdisc", "replace", "dev", ifname, "root", "fq").CombinedOutput()
		return err
	})
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%w on %s: tc qdisc replace dev %s root fq: %s (the kernel needs CONFIG_NET_SCH_FQ)", ErrNoFQ, ifname, ifname, msg)
	}
	return nil
}
