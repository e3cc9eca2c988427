package measure

import (
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// StallThreshold is the shortest gap between two consecutive clock
// readings of a spinning thread that counts as a stall: the thread did not
// run for that long. A spinning Go loop reads the clock every 25-60 ns, so
// 10 us is hundreds of readings; bench/stalls uses the same threshold, so
// its floor and a sender's stall counts are comparable.
const StallThreshold = 10_000 // ns

// InterruptThreshold is the shortest gap between two consecutive clock
// readings of a spinning thread that is recorded for attribution: a timer
// tick, an interrupt or a short exit to the hypervisor takes the CPU for
// 1-10 us, moves a send by as much, and is not counted as a stall. Such an
// interruption is kept in the thread's spans (Result.Stalls and the
// per-packet stall time, so the clean figures leave out what it touched)
// and counted apart (stall_short_count).
const InterruptThreshold = 1_000 // ns

// ThreadSched is what the kernel's scheduler says about one thread.
type ThreadSched struct {
	// Nivcsw counts involuntary context switches: the scheduler took
	// the CPU from the thread while it could still run (getrusage
	// RUSAGE_THREAD).
	Nivcsw int64
	// RunqWait is the time the thread spent runnable but waiting for a
	// CPU, ns (second field of /proc/thread-self/schedstat); -1 when the
	// kernel does not keep schedstats.
	RunqWait int64
}

// ThreadSchedNow reads the calling thread's scheduler counters; call it
// from a goroutine locked to its thread. It does not allocate.
func ThreadSchedNow() ThreadSched {
	s := ThreadSched{RunqWait: -1}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) == nil {
		s.Nivcsw = ru.Nivcsw
	}
	var buf [128]byte
	// openat with a path already in memory: unix.Open would allocate
	// the C string.
	r, _, errno := unix.Syscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&schedstatPath[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if errno != 0 {
		return s
	}
	fd := int(r)
	n, _ := unix.Read(fd, buf[:])
	unix.Close(fd)
	if v, ok := field(buf[:max(n, 0)], 1); ok {
		s.RunqWait = v
	}
	return s
}

var fdcwd = int64(unix.AT_FDCWD)

// atFDCWD is AT_FDCWD as the kernel reads it, an int in a register.
var atFDCWD = uintptr(fdcwd)

var schedstatPath = []byte("/proc/thread-self/schedstat\x00")

// field parses the k-th (from 0) space-separated decimal field of b.
func field(b []byte, k int) (int64, bool) {
	i := 0
	for ; k > 0; k-- {
		for i < len(b) && b[i] != ' ' {
			i++
		}
		for i < len(b) && b[i] == ' ' {
			i++
		}
	}
	var v int64
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		v = v*10 + int64(b[j]-'0')
	}
	return v, j > i
}

// Sub returns s - o; a run-queue wait unknown in either is unknown.
func (s ThreadSched) Sub(o ThreadSched) ThreadSched {
	d := ThreadSched{Nivcsw: s.Nivcsw - o.Nivcsw, RunqWait: s.RunqWait - o.RunqWait}
	if s.RunqWait < 0 || o.RunqWait < 0 {
		d.RunqWait = -1
	}
	return d
}

// StealTicks reads the steal time of all CPUs from the first line of
// /proc/stat, in clock ticks (USER_HZ, 100 a second); -1 if unreadable.
// Many hypervisors do not report steal at all (the field stays 0 while the
// host plainly takes the CPU, as on the machines labrun was measured on):
// a 0 here is no evidence of a quiet host.
func StealTicks() int64 {
	var buf [512]byte
	fd, err := unix.Open("/proc/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	n, _ := unix.Read(fd, buf[:])
	unix.Close(fd)
	line, _, _ := strings.Cut(string(buf[:max(n, 0)]), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	v, err := strconv.ParseInt(f[8], 10, 64)
	if err != nil {
		return -1
	}
	return v
}
