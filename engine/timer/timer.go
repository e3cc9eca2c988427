// Package timer waits until an absolute due time on CLOCK_MONOTONIC.
//
// Each mode is one way a packet sender can wait, as NetVCR compares them:
//
//	busy     poll the clock until the due time (accurate, one CPU at 100 %)
//	sleep    relative nanosleep(due - now), as usleep does; subject to the
//	         thread's timer slack (50 us by default on Linux)
//	firm     absolute clock_nanosleep with timer slack 1 ns, waking a margin
//	         early and spinning the rest; the margin follows the wake-up
//	         lateness it observes, so it is accurate like busy and cheap
//	         like sleep when the interval is long
//	timerfd  an absolute timerfd, read blocking
//	tick     wake only on a periodic tick (multiples of the period on
//	         CLOCK_MONOTONIC), like the 10 ms PIT of a 2.4 kernel
//
// A Timer belongs to one OS thread: create it, use it and close it from a
// goroutine that called runtime.LockOSThread, because timer slack is a
// per-thread setting. Wait never allocates and never uses Go's runtime
// timers (time.Sleep has about 1 ms granularity).
package timer

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Mode selects how a Timer waits.
type Mode int

// The timer modes.
const (
	Busy Mode = iota + 1
	Sleep
	Firm
	Timerfd
	Tick
)

var modeNames = map[Mode]string{Busy: "busy", Sleep: "sleep", Firm: "firm", Timerfd: "timerfd", Tick: "tick"}

// String returns the mode's name as scripts spell it.
func (m Mode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	for m, n := range modeNames {
		if n == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown timer mode %q (accepted: busy, sleep, firm, timerfd, tick)", s)
}

// Config describes a timer.
type Config struct {
	Mode Mode
	// Period is the tick period of Tick mode (e.g. 10 ms).
	Period time.Duration
	// Margin is Firm's initial wake-up margin; 0 means DefaultMargin.
	Margin time.Duration
	// MaxMargin bounds Firm's adaptive margin; 0 means DefaultMaxMargin.
	MaxMargin time.Duration
	// Stop, if set, ends a wait early once it holds true: Wait then
	// returns before the due time, within about MaxSlice. Every mode
	// sleeps at most MaxSlice at a time and looks at the flag between
	// slices (a busy wait looks every few microseconds); a wait shorter
	// than MaxSlice is one slice, as precise as without the flag.
	Stop *atomic.Bool
	// Stalls, if set, receives the spans the waiting thread did not run
	// (see StallLog); nil means no stall accounting.
	Stalls *StallLog
	// Late is what the replay does with a packet whose due time has
	// passed by more than its timer's ordinary error; see LatePolicy.
	Late LatePolicy
	// DropAfter is Drop's bound: a packet released more than this after
	// its due time is not sent. It must be > 0 with Drop, 0 otherwise.
	DropAfter time.Duration
	// CPU is Firm's CPU budget, a share of one CPU in (0, 1]: the margin
	// of each wait is capped at CPU times the time until its due time, so
	// the spinning takes at most that share of the time waited. 0 means
	// no budget.
	CPU float64
}

// LatePolicy says what a replay does after a packet left late.
type LatePolicy int

// The late policies.
const (
	// CatchUp keeps the schedule: packets whose due time passed during a
	// stall go at once, back to back, until the loop is on time again.
	CatchUp LatePolicy = iota
	// Shift moves the schedule: when a packet leaves more than
	// measure.StallThreshold (10 us) after its due time, the due times of
	// all later packets move later by its whole lateness, so the gaps
	// after it are the scheduled ones and the run ends later by the sum
	// of the shifts (tcpreplay's behaviour, which waits for each gap
	// from the previous send). Lateness up to 10 us moves nothing.
	Shift
	// Drop keeps the schedule and does not send a packet released more
	// than DropAfter after its due time; such packets are counted.
	Drop
)

var lateNames = map[LatePolicy]string{CatchUp: "catch_up", Shift: "shift", Drop: "drop"}

// LateForms lists the accepted spellings of a late policy.
const LateForms = `"catch_up", "shift", "drop"`

func (p LatePolicy) String() string {
	if s, ok := lateNames[p]; ok {
		return s
	}
	return fmt.Sprintf("LatePolicy(%d)", int(p))
}

// ParseLate returns the policy named s; "" is CatchUp.
func ParseLate(s string) (LatePolicy, error) {
	if s == "" {
		return CatchUp, nil
	}
	for p, n := range lateNames {
		if n == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown late policy %q (accepted: %s)", s, LateForms)
}

// MaxSlice is the longest a timer sleeps without looking at Config.Stop.
const MaxSlice = 20 * time.Millisecond

// never is the Stop flag of a timer configured without one.
var never atomic.Bool

// Firm's margin defaults.
const (
	DefaultMargin    = 50 * time.Microsecond
	DefaultMaxMargin = 500 * time.Microsecond
	minMargin        = 2 * time.Microsecond
)

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch c.Mode {
	case Busy, Sleep, Timerfd:
	case Firm:
		if c.Margin < 0 || c.MaxMargin < 0 || (c.MaxMargin > 0 && c.Margin > c.MaxMargin) {
			return fmt.Errorf("firm timer: margin %v and max margin %v must be >= 0 and margin <= max", c.Margin, c.MaxMargin)
		}
	case Tick:
		if c.Period <= 0 {
			return fmt.Errorf("tick timer: period must be > 0, got %v", c.Period)
		}
	default:
		return fmt.Errorf("unknown timer mode %d", int(c.Mode))
	}
	switch {
	case c.Late < CatchUp || c.Late > Drop:
		return fmt.Errorf("unknown late policy %d", int(c.Late))
	case c.Late == Drop && c.DropAfter <= 0:
		return fmt.Errorf("late policy drop: drop_after must be > 0, got %v", c.DropAfter)
	case c.Late != Drop && c.DropAfter != 0:
		return fmt.Errorf("drop_after %v applies only to the late policy drop, not %v", c.DropAfter, c.Late)
	case c.CPU < 0 || c.CPU > 1 || (c.CPU > 0 && c.Mode != Firm):
		return fmt.Errorf("cpu budget %v: only a firm timer takes one, as a share in (0, 1]", c.CPU)
	}
	return nil
}

// Stats describes what a timer did.
type Stats struct {
	Waits   int64 // calls to Wait
	Sleeps  int64 // waits that slept (entered the kernel)
	Late    int64 // Firm: wake-ups later than the due time (margin too small)
	Spin    int64 // nanoseconds spent polling the clock
	Margin  int64 // Firm: margin at the end, ns
	Slack   int64 // timer slack of the thread while waiting, ns (-1 if unknown)
	WakeEst int64 // Firm: the estimated 99.5th percentile of wake-up lateness, ns
}

// Timer waits until absolute CLOCK_MONOTONIC due times.
type Timer interface {
	// Wait returns once the clock has reached due (ns, clock.Now's scale)
	// and returns the clock reading at release. If due has passed it
	// returns at once. If Config.Stop becomes true it returns early, with
	// a reading before due.
	Wait(due int64) int64
	// Stats reports counters; call after the timed loop.
	Stats() Stats
	// Close releases the timer's resources and restores thread settings it
	// changed. Call it on the same thread that created the timer.
	Close() error
}

// New creates a timer for the calling OS thread.
func New(c Config) (Timer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Stop == nil {
		c.Stop = &never
	}
	switch c.Mode {
	case Busy:
		return &busy{stop: c.Stop, log: c.Stalls}, nil
	case Sleep:
		return newSleep(c)
	case Firm:
		return newFirm(c)
	case Timerfd:
		return newTimerfd(c)
	case Tick:
		return newTick(c)
	}
	panic("unreachable")
}
