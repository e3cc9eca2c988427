package measure

import (
	"time"

	"golang.org/x/sys/unix"
)

// CPUTime is CPU time consumed. Exact comes from the scheduler's own
// nanosecond accounting (CLOCK_THREAD_CPUTIME_ID / CLOCK_PROCESS_CPUTIME_ID);
// User and Sys from getrusage, which the kernel samples at the tick (4 ms
// at HZ=250), so they only give the split between user and kernel time.
type CPUTime struct{ Exact, User, Sys time.Duration }

// Total is the exact CPU time, or user + system time if it is unknown.
func (c CPUTime) Total() time.Duration {
	if c.Exact > 0 {
		return c.Exact
	}
	return c.User + c.Sys
}

// Sub returns c - o.
func (c CPUTime) Sub(o CPUTime) CPUTime {
	return CPUTime{c.Exact - o.Exact, c.User - o.User, c.Sys - o.Sys}
}

func cpuTime(clock int32, who int) CPUTime {
	var c CPUTime
	var ts unix.Timespec
	if unix.ClockGettime(clock, &ts) == nil {
		c.Exact = time.Duration(ts.Nano())
	}
	var ru unix.Rusage
	if unix.Getrusage(who, &ru) == nil {
		c.User, c.Sys = time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
	}
	return c
}

// ThreadCPU returns the calling OS thread's CPU time; call it from a
// goroutine locked to its thread.
func ThreadCPU() CPUTime { return cpuTime(unix.CLOCK_THREAD_CPUTIME_ID, unix.RUSAGE_THREAD) }

// ProcessCPU returns the whole process's CPU time.
func ProcessCPU() CPUTime { return cpuTime(unix.CLOCK_PROCESS_CPUTIME_ID, unix.RUSAGE_SELF) }

// Pct returns cpu as a percentage of wall.
func Pct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * float64(cpu) / float64(wall)
}
