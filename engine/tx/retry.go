package tx

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
)

// DefaultRetryLimit is the back-off spent on one frame (or the rest of a
// batch) refused with ENOBUFS or EAGAIN before it is given up.
const DefaultRetryLimit = time.Second

// Back-off schedule: retry at once a few times, then yield the CPU a few
// times, then sleep, doubling from minSleep up to maxSleep.
const (
	spinTries  = 4
	yieldTries = 4
	minSleep   = 2 * time.Microsecond
	maxSleep   = time.Millisecond
)

// backoff paces the retries of a send the kernel refused for lack of
// buffer space. It does not allocate.
type backoff struct {
	limit int64 // ns
	start int64 // clock.Now of the first retry of the current frame
	n     int   // retries of the current frame
	ts    unix.Timespec
}

// reset starts a new frame's budget.
func (b *backoff) reset() { b.n = 0 }

// wait waits before the next attempt and reports whether one is still
// allowed; false when the frame's budget is spent.
func (b *backoff) wait() bool {
	now := clock.Now()
	if b.n == 0 {
		b.start = now
	}
	left := b.start + b.limit - now
	if left <= 0 {
		return false
	}
	b.n++
	switch {
	case b.n <= spinTries:
		// Retry at once: the queue often drains within a few hundred ns.
	case b.n <= spinTries+yieldTries:
		// Short and bounded unless the CPU is contended: no need to hand
		// the P back to the Go scheduler.
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	default:
		d := int64(minSleep) << min(b.n-spinTries-yieldTries-1, 20)
		d = min(d, int64(maxSleep), left)
		b.ts = clock.Timespec(d)
		// A sleep blocks: tell the runtime (Syscall, not RawSyscall) so
		// the P can be retaken and nothing waits on this thread.
		unix.Syscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&b.ts)), 0, 0)
	}
	return true
}

// retryable reports whether errno means "not sent now, try again":
// ENOBUFS and EAGAIN (no room), and ECONNREFUSED, which a connected UDP
// socket returns once for an ICMP port unreachable that an earlier
// datagram drew (a receiver that listens with a packet socket only); the
// datagram of the failing call was not sent.
func retryable(errno unix.Errno) bool {
	return errno == unix.ENOBUFS || errno == unix.EAGAIN || errno == unix.ECONNREFUSED
}

// injector makes the next n send system calls fail with errno without
// reaching the kernel, and caps the frames per sendmmsg call at maxVlen
// when that is > 0. It exists for tests; its zero value does nothing.
type injector struct {
	errno   unix.Errno
	n       int
	maxVlen int
}

// sock is the part shared by the socket sinks: the descriptor, the
// counters, the back-off and the send system calls.
type sock struct {
	fd  int
	st  Stats
	bo  backoff
	inj injector
	// blocking makes sends go through unix.Syscall (runtime notified)
	// instead of unix.RawSyscall; the sends are MSG_DONTWAIT and cannot
	// block, so the default is raw (see the package benchmarks).
	blocking bool
}

func (s *sock) syscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, unix.Errno) {
	s.st.Syscalls++
	if s.inj.n > 0 {
		s.inj.n--
		return 0, s.inj.errno
	}
	var r uintptr
	var errno unix.Errno
	if s.blocking {
		r, _, errno = unix.Syscall6(trap, a1, a2, a3, a4, a5, a6)
	} else {
		r, _, errno = unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
	}
	return r, errno
}

// sendto sends one buffer on the connected or bound socket.
func (s *sock) sendto(p *byte, n int) unix.Errno {
	_, errno := s.syscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(p)), uintptr(n),
		unix.MSG_DONTWAIT, 0, 0)
	return errno
}

// sendOne sends buf with sendto, retrying ENOBUFS and EAGAIN with back-off;
// what accepts is counted in Packets and Bytes, what is given up in Errors.
func (s *sock) sendOne(what string, buf []byte, frameLen int) error {
	var p *byte
	if len(buf) > 0 {
		p = &buf[0]
	}
	s.bo.reset()
	for {
		errno := s.sendto(p, len(buf))
		if errno == 0 {
			s.st.Packets++
			s.st.Bytes += int64(frameLen)
			return nil
		}
		if retryable(errno) && s.bo.wait() {
			s.st.Retries++
			continue
		}
		s.st.Errors++
		return s.sendErr(what, "sendto", 1, errno)
	}
}

// sendErr describes a frame (or frames) given up. Only on the error path.
func (s *sock) sendErr(what, call string, frames int, errno unix.Errno) error {
	if retryable(errno) {
		return fmt.Errorf("tx %s: %s: gave up on %d frame(s) after retrying %s for %v (raise RetryLimit or SndBuf, or lower the rate): %w",
			what, call, frames, unix.ErrnoName(errno), time.Duration(s.bo.limit), errno)
	}
	return fmt.Errorf("tx %s: %s: %d frame(s) refused with %s: %w", what, call, frames, unix.ErrnoName(errno), errno)
}

// setSndBuf sets SO_SNDBUFFORCE (needs CAP_NET_ADMIN), falling back to
// SO_SNDBUF, which the kernel caps at net.core.wmem_max.
func setSndBuf(fd, n int) error {
	if n <= 0 {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n); err == nil {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n); err != nil {
		return fmt.Errorf("SO_SNDBUF %d: %w", n, err)
	}
	return nil
}

// checkCommon validates the fields PacketConfig and UDPConfig share.
func checkCommon(what string, batch, sndBuf int, limit time.Duration) error {
	if batch < 0 || batch > MaxBatch {
		return fmt.Errorf("tx %s: Batch %d out of range: want 1..%d (0 means 1)", what, batch, MaxBatch)
	}
	if sndBuf < 0 {
		return fmt.Errorf("tx %s: SndBuf %d is negative: want bytes, or 0 to leave the default", what, sndBuf)
	}
	if limit < 0 {
		return fmt.Errorf("tx %s: RetryLimit %v is negative: want a duration, or 0 for %v", what, limit, DefaultRetryLimit)
	}
	return nil
}
