package timer

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
)

// modes is one configuration of every timer mode.
var modes = []Config{
	{Mode: Busy},                           // polls the clock
	{Mode: Sleep},                          // relative nanosleep
	{Mode: Firm},                           // absolute sleep to the default margin, then polls
	{Mode: Timerfd},                        // blocking read of an absolute timerfd
	{Mode: Tick, Period: time.Millisecond}, // wakes on 1 ms boundaries
}

// onThread runs f on a goroutine locked to its OS thread, as the replay
// loop uses a Timer. The thread goes back to the runtime's pool only if its
// timer slack is what it was before f; otherwise the goroutine exits still
// locked and the runtime discards the thread. f reports failures with
// t.Error (t.Fatal is for the test goroutine only).
func onThread(t testing.TB, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		before, err := Slack()
		if err != nil {
			t.Errorf("reading timer slack: %v", err)
			return
		}
		f()
		if after, err := Slack(); err != nil || after != before {
			t.Errorf("thread timer slack is %d after the test, was %d (err %v); thread discarded", after, before, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
}

// newTimer creates c's timer on the calling (locked) thread.
func newTimer(t testing.TB, c Config) Timer {
	tm, err := New(c)
	if err != nil {
		t.Errorf("New(%+v): %v", c, err)
		return nil
	}
	return tm
}

// checkStats asserts the counters every mode must keep consistent after
// waits calls to Wait, of which the spinning ones took at most maxSpin ns
// from the call to the release.
func checkStats(t testing.TB, c Config, st Stats, waits, maxSpin int64) {
	t.Helper()
	if st.Waits != waits {
		t.Errorf("%v: Stats().Waits = %d after %d calls", c.Mode, st.Waits, waits)
	}
	if st.Sleeps < 0 || st.Sleeps > st.Waits {
		t.Errorf("%v: Sleeps = %d, want within [0, Waits = %d]", c.Mode, st.Sleeps, st.Waits)
	}
	if st.Late < 0 || st.Late > st.Sleeps {
		t.Errorf("%v: Late = %d, want within [0, Sleeps = %d]", c.Mode, st.Late, st.Sleeps)
	}
	if st.Spin < 0 || st.Spin > maxSpin {
		t.Errorf("%v: Spin = %d ns, want within [0, %d] (the time spent inside Wait)", c.Mode, st.Spin, maxSpin)
	}
	switch c.Mode {
	case Busy:
		if st.Sleeps != 0 || st.Slack != -1 {
			t.Errorf("busy: Sleeps = %d, Slack = %d; want 0 and -1", st.Sleeps, st.Slack)
		}
	case Firm, Tick:
		if st.Slack != 1 {
			t.Errorf("%v: Stats().Slack = %d, want 1", c.Mode, st.Slack)
		}
	}
	if c.Mode == Firm {
		max := int64(c.MaxMargin)
		if max == 0 {
			max = int64(DefaultMaxMargin)
		}
		if st.Margin < int64(minMargin) || st.Margin > max {
			t.Errorf("firm: Margin = %d, want within [%d, %d]", st.Margin, minMargin, max)
		}
	} else if st.Late != 0 || st.Margin != 0 {
		t.Errorf("%v: Late = %d, Margin = %d; only firm keeps them", c.Mode, st.Late, st.Margin)
	}
}

// Wait never releases before the due time, whatever the mode and the
// distance to the due time, and returns a real clock reading; tick
// releases only at or after the first tick boundary at or after due.
func TestWaitNeverEarly(t *testing.T) {
	// Distances from now to the due time, ns.
	ahead := []int64{
		0,         // due now: already reached when Wait reads the clock
		1_000,     // shorter than any sleep
		10_000,    // shorter than firm's initial margin
		100_000,   // longer than firm's initial margin
		333_333,   // not a multiple of the tick period
		1_000_000, // one tick period
	}
	const rounds = 10
	for _, c := range modes {
		t.Run(c.Mode.String(), func(t *testing.T) {
			onThread(t, func() {
				tm := newTimer(t, c)
				if tm == nil {
					return
				}
				defer func() {
					if err := tm.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				}()
				var waits, inside int64
				for range rounds {
					for _, d := range ahead {
						sleeps := tm.Stats().Sleeps
						before := clock.Now()
						due := before + d
						got := tm.Wait(due)
						after := clock.Now()
						waits++
						inside += got - before
						if got < due {
							t.Errorf("Wait(now+%d) returned %d ns before the due time", d, due-got)
						}
						if got > after {
							t.Errorf("Wait returned %d, after the next clock reading %d", got, after)
						}
						if c.Mode == Tick && tm.Stats().Sleeps > sleeps {
							p := int64(c.Period)
							if boundary := (due + p - 1) / p * p; got < boundary {
								t.Errorf("tick: Wait(%d) released at %d, before the tick boundary %d", due, got, boundary)
							}
						}
					}
				}
				checkStats(t, c, tm.Stats(), waits, inside)
			})
		})
	}
}

// A due time that has passed returns at once: the clock reading (>= due),
// no sleep, and the call is counted.
func TestWaitPastDoesNotSleep(t *testing.T) {
	// How far in the past the due time is, ns.
	past := []int64{
		0,             // due is the clock reading just taken
		1,             // 1 ns ago
		5_000_000,     // longer ago than any margin or tick period
		1_000_000_000, // long ago
	}
	for _, c := range modes {
		t.Run(c.Mode.String(), func(t *testing.T) {
			onThread(t, func() {
				tm := newTimer(t, c)
				if tm == nil {
					return
				}
				defer tm.Close()
				var inside int64
				for i, d := range past {
					s0 := tm.Stats()
					before := clock.Now()
					due := before - d
					got := tm.Wait(due)
					inside += got - before
					s1 := tm.Stats()
					if got < due || got < before {
						t.Errorf("Wait(now-%d) = %d, want >= due %d and >= the earlier reading %d", d, got, due, before)
					}
					if s1.Sleeps != s0.Sleeps {
						t.Errorf("Wait(now-%d) slept: Sleeps %d -> %d", d, s0.Sleeps, s1.Sleeps)
					}
					if s1.Waits != s0.Waits+1 || s1.Waits != int64(i+1) {
						t.Errorf("Wait(now-%d): Waits %d -> %d after %d calls", d, s0.Waits, s1.Waits, i+1)
					}
				}
				checkStats(t, c, tm.Stats(), int64(len(past)), inside)
			})
		})
	}
}

// Firm and tick set the thread's timer slack to 1 ns while they exist and
// Close restores the value from before New; the other modes leave it and
// report it (busy reports -1: it never sleeps).
func TestSlack(t *testing.T) {
	const mine = 77_777 // a slack no default has, so a restore is visible
	for _, c := range modes {
		t.Run(c.Mode.String(), func(t *testing.T) {
			onThread(t, func() {
				orig, err := Slack()
				if err != nil {
					t.Error(err)
					return
				}
				defer func() { _, _ = setSlack(orig) }()
				if _, err := setSlack(mine); err != nil {
					t.Error(err)
					return
				}
				tm := newTimer(t, c)
				if tm == nil {
					return
				}
				during, _ := Slack()
				tm.Wait(clock.Now() + 20_000)
				st := tm.Stats()
				closeErr := tm.Close()
				after, _ := Slack()
				if closeErr != nil {
					t.Errorf("Close: %v", closeErr)
				}
				want, wantStat := int64(mine), int64(mine)
				switch c.Mode {
				case Firm, Tick:
					want, wantStat = 1, 1
				case Busy:
					wantStat = -1
				}
				if during != want {
					t.Errorf("thread slack while the timer exists = %d, want %d", during, want)
				}
				if st.Slack != wantStat {
					t.Errorf("Stats().Slack = %d, want %d", st.Slack, wantStat)
				}
				if after != mine {
					t.Errorf("thread slack after Close = %d, want %d as before New", after, mine)
				}
			})
		})
	}
}

// A signal that interrupts the sleep (the Go runtime and other processes
// send them: SIGURG, SIGCHLD, SIGPROF) must not release the wait early.
func TestWaitResumesAfterSignal(t *testing.T) {
	// The syscall each sleeping mode blocks in.
	sleeping := []struct {
		c       Config
		syscall int
	}{
		{Config{Mode: Sleep}, unix.SYS_NANOSLEEP},                                // relative nanosleep
		{Config{Mode: Firm}, unix.SYS_CLOCK_NANOSLEEP},                           // absolute sleep to the margin
		{Config{Mode: Timerfd}, unix.SYS_READ},                                   // blocking read of the timerfd
		{Config{Mode: Tick, Period: time.Millisecond}, unix.SYS_CLOCK_NANOSLEEP}, // absolute sleep to the tick
	}
	const ahead = 300 * time.Millisecond
	for _, tc := range sleeping {
		t.Run(tc.c.Mode.String(), func(t *testing.T) {
			type result struct{ due, got int64 }
			tids := make(chan int, 1)
			res := make(chan result, 1)
			waiter := func() {
				tm := newTimer(t, tc.c)
				if tm == nil {
					tids <- 0
					close(res)
					return
				}
				defer tm.Close()
				tids <- unix.Gettid()
				due := clock.Now() + int64(ahead)
				res <- result{due, tm.Wait(due)}
			}
			finished := make(chan struct{})
			defer func() { <-finished }() // onThread's own checks report before the test ends
			go func() {
				defer close(finished)
				onThread(t, waiter)
			}()
			tid := <-tids
			if tid == 0 {
				<-res
				return
			}
			// Poll, with a bound, until the thread is blocked in its
			// syscall, then interrupt it.
			path := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
			want := strconv.Itoa(tc.syscall) + " "
			deadline := time.Now().Add(60 * time.Second)
			signalled := false
			var r result
			var ok bool
		poll:
			for {
				select {
				case r, ok = <-res:
					break poll
				default:
				}
				if b, err := os.ReadFile(path); err == nil && strings.HasPrefix(string(b), want) && !signalled {
					if err := unix.Tgkill(unix.Getpid(), tid, unix.SIGURG); err != nil {
						t.Fatalf("tgkill: %v", err)
					}
					signalled = true
				}
				if time.Now().After(deadline) {
					t.Fatalf("the waiting thread did not finish within the bound (signalled %v)", signalled)
				}
				runtime.Gosched()
			}
			if !ok {
				return
			}
			if !signalled {
				t.Logf("the wait ended before the thread was seen in syscall %d; nothing interrupted", tc.syscall)
			}
			if r.got < r.due {
				t.Errorf("Wait returned %v before the due time after a signal", time.Duration(r.due-r.got))
			}
		})
	}
}

// Wait must not allocate, neither when the due time has passed (the
// topspeed path) nor when it sleeps or spins.
func TestWaitDoesNotAllocate(t *testing.T) {
	// How far ahead of now each call's due time is, ns.
	cases := []struct {
		name  string
		ahead int64
		runs  int
	}{
		{"past", -1_000_000, 1000}, // already due: no syscall
		{"1us", 1_000, 200},        // busy spins, the others may sleep
		{"200us", 200_000, 20},     // beyond firm's margin: every mode but busy sleeps
	}
	for _, c := range modes {
		for _, tc := range cases {
			t.Run(c.Mode.String()+"/"+tc.name, func(t *testing.T) {
				onThread(t, func() {
					tm := newTimer(t, c)
					if tm == nil {
						return
					}
					defer tm.Close()
					n := testing.AllocsPerRun(tc.runs, func() {
						tm.Wait(clock.Now() + tc.ahead)
					})
					if n != 0 {
						t.Errorf("Wait(now%+d ns) allocates %v times per call", tc.ahead, n)
					}
				})
			})
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		c    Config
		want string // error substring; "" = valid
	}{
		{Config{Mode: Busy}, ""},    // busy needs nothing
		{Config{Mode: Sleep}, ""},   // sleep needs nothing
		{Config{Mode: Timerfd}, ""}, // timerfd needs nothing
		{Config{Mode: Firm}, ""},    // firm with default margins
		{Config{Mode: Firm, Margin: 10 * time.Microsecond, MaxMargin: 100 * time.Microsecond}, ""},  // explicit margins
		{Config{Mode: Firm, Margin: 100 * time.Microsecond, MaxMargin: 100 * time.Microsecond}, ""}, // margin == max is allowed
		{Config{Mode: Firm, MaxMargin: time.Millisecond}, ""},                                       // max only: default initial margin
		{Config{Mode: Tick, Period: 10 * time.Millisecond}, ""},                                     // tick with its period
		{Config{Mode: Busy, Period: -1}, ""},                                                        // fields of other modes are ignored
		{Config{}, "unknown timer mode 0"},                                                          // the zero mode is not a mode
		{Config{Mode: 99}, "unknown timer mode 99"},                                                 // out of range
		{Config{Mode: Tick}, "tick timer: period must be > 0, got 0s"},                              // tick without period
		{Config{Mode: Tick, Period: -time.Millisecond}, "tick timer: period must be > 0, got -1ms"}, // negative period
		{Config{Mode: Firm, Margin: 600 * time.Microsecond, MaxMargin: 500 * time.Microsecond},
			"firm timer: margin 600µs and max margin 500µs must be >= 0 and margin <= max"}, // margin > max margin
		{Config{Mode: Firm, Margin: -time.Microsecond}, "firm timer: margin -1µs and max margin 0s must be >= 0"}, // negative margin
		{Config{Mode: Firm, MaxMargin: -time.Microsecond}, "max margin -1µs must be >= 0"},                        // negative max margin
		{Config{Mode: Busy, Late: Shift}, ""},                                                // shift needs nothing
		{Config{Mode: Busy, Late: Drop, DropAfter: time.Millisecond}, ""},                    // drop with its bound
		{Config{Mode: Firm, CPU: 0.05}, ""},                                                  // firm with a budget
		{Config{Mode: Busy, Late: Drop}, "late policy drop: drop_after must be > 0, got 0s"}, // drop without a bound
		{Config{Mode: Busy, Late: Shift, DropAfter: time.Millisecond}, "drop_after 1ms applies only to the late policy drop, not shift"},
		{Config{Mode: Busy, Late: 7}, "unknown late policy 7"},
		{Config{Mode: Busy, CPU: 0.05}, "cpu budget 0.05: only a firm timer takes one"},
		{Config{Mode: Firm, CPU: 1.5}, "cpu budget 1.5: only a firm timer takes one, as a share in (0, 1]"},
	}
	for _, tc := range cases {
		err := tc.c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tc.c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one containing %q", tc.c, err, tc.want)
		}
		// New refuses what Validate refuses, before touching the thread.
		if tc.want != "" {
			if tm, err := New(tc.c); err == nil || tm != nil {
				t.Errorf("New(%+v) = %v, %v; want nil and an error", tc.c, tm, err)
			}
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Busy, Sleep, Firm, Timerfd, Tick} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	for _, s := range []string{
		"",         // empty
		"Busy",     // names are lower case
		"usleep",   // not a mode name
		"Mode(1)",  // String's fallback form is not a name
		" firm",    // no trimming
		"timer_fd", // spelled timerfd
	} {
		if m, err := ParseMode(s); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unknown timer mode %q", s)) {
			t.Errorf("ParseMode(%q) = %v, %v; want an unknown timer mode error", s, m, err)
		}
	}
	for m, want := range map[Mode]string{
		0:  "Mode(0)",  // the zero value is not a mode
		6:  "Mode(6)",  // one past the last mode
		-1: "Mode(-1)", // negative
	} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

// BenchmarkWaitPast is the cost of a Wait whose due time has passed: the
// per-packet overhead of the timer at topspeed.
func BenchmarkWaitPast(b *testing.B) {
	for _, c := range modes {
		b.Run(c.Mode.String(), func(b *testing.B) {
			onThread(b, func() {
				tm := newTimer(b, c)
				if tm == nil {
					return
				}
				defer tm.Close()
				due := clock.Now()
				b.ReportAllocs()
				for b.Loop() {
					tm.Wait(due)
				}
			})
		})
	}
}

// BenchmarkBusyWait1us is a busy wait 1 us ahead; late-ns/op is the mean
// release after the due time.
func BenchmarkBusyWait1us(b *testing.B) {
	tm, err := New(Config{Mode: Busy})
	if err != nil {
		b.Fatal(err)
	}
	var late int64
	b.ReportAllocs()
	for b.Loop() {
		due := clock.Now() + 1_000
		late += tm.Wait(due) - due
	}
	b.ReportMetric(float64(late)/float64(b.N), "late-ns/op")
}
