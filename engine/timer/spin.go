package timer

import (
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
