package timer

import (
	"sync/atomic"
	_ "unsafe" // for go:linkname

	"github.com/labrun/labrun/engine/clock"
)

// The runtime documents entersyscall and exitsyscall as linkname targets it
// keeps stable ("Do not remove or change the type signature"; gVisor uses
// them).
//
//go:linkname entersyscall runtime.entersyscall
func entersyscall()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()

// spinUntil polls the clock from the reading now until due and returns the
// first reading at or after it.
//
// While it polls, the goroutine is marked as being in a system call, as it
// would be in a blocking read. The Go scheduler preempts a goroutine that
// runs for more than 10 ms; for a goroutine locked to its thread that means
// handing its P to another thread and back, a stall of 30-300 us measured
// here, about once every 11 ms of polling (256-293 stalls over 30 us in 3 s,
// against 58-126 for the same loop in C). A goroutine in a system call is
// not preempted; at most its P is taken back for other work, and on return
// it gets an idle one at once (the replay raises GOMAXPROCS by two for the
// run). With this, Go's polling loop stalls as often as C's (66-70).
//
// Between entersyscall and exitsyscall nothing may grow the stack, so this
// function and all it calls are nosplit.
//
//go:nosplit
func spinUntil(now, due int64) int64 {
	if now >= due {
		return now
	}
	entersyscall()
	for now < due {
		now = clock.Now()
	}
	exitsyscall()
	return now
}

// spinUntilStop is spinUntil that also returns, before due, once stop
// holds; it looks at the flag every 1024 clock readings (some 25 us).
//
//go:nosplit
func spinUntilStop(now, due int64, stop *atomic.Bool) int64 {
	if now >= due {
		return now
	}
	entersyscall()
	for i := uint32(1); now < due; i++ {
		now = clock.Now()
		if i&1023 == 0 && stop.Load() {
			break
		}
	}
	exitsyscall()
	return now
}

// SpinWhile polls *p until it holds something other than old or the clock
// reaches until, and returns the last clock reading. It is the wait of a
// pipeline stage for its peer's counter: like the spin of Wait, the
// goroutine counts as being in a system call meanwhile, so the Go
// scheduler does not preempt it.
//
//go:nosplit
func SpinWhile(p *atomic.Uint64, old uint64, until int64) int64 {
	now := clock.Now()
	if p.Load() != old || now >= until {
		return now
	}
	entersyscall()
	for p.Load() == old && now < until {
		now = clock.Now()
	}
	exitsyscall()
	return now
}

// SleepUntil sleeps until the clock reaches t with an absolute
// clock_nanosleep; it wakes the thread's timer slack late or more.
func SleepUntil(t int64) { sleepUntil(t) }
