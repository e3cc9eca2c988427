package measure

import (
	"time"

	"golang.org/x/sys/unix"
)

// CPUTime is user + system CPU time.
type CPUTime struct{ User, Sys time.Duration }

// Total is user + system time.
func (c CPUTime) Total() time.Duration { return c.User + c.Sys }

// Sub returns c - o.
func (c CPUTime) Sub(o CPUTime) CPUTime { return CPUTime{c.User - o.User, c.Sys - o.Sys} }

func rusage(who int) CPUTime {
	var ru unix.Rusage
	if unix.Getrusage(who, &ru) != nil {
		return CPUTime{}
	}
	return CPUTime{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// ThreadCPU returns the calling OS thread's CPU time (RUSAGE_THREAD); call
// it from a goroutine locked to its thread.
func ThreadCPU() CPUTime { return rusage(unix.RUSAGE_THREAD) }

// ProcessCPU returns the whole process's CPU time (RUSAGE_SELF).
func ProcessCPU() CPUTime { return rusage(unix.RUSAGE_SELF) }

// Pct returns cpu as a percentage of wall.
func Pct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * float64(cpu) / float64(wall)
}
