package timer

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
)

// slice is MaxSlice in ns.
const slice = int64(MaxSlice)

// busy polls the clock.
type busy struct {
	st   Stats
	stop *atomic.Bool
}

func (b *busy) Wait(due int64) int64 {
	b.st.Waits++
	start := clock.Now()
	now := spinUntilStop(start, due, b.stop)
	b.st.Spin += now - start
	return now
}

func (b *busy) Stats() Stats { b.st.Slack = -1; return b.st }
func (b *busy) Close() error { return nil }

// sleep is a relative nanosleep of the remaining time, like usleep(3).
type sleep struct {
	st    Stats
	slack int64
	stop  *atomic.Bool
}

func newSleep(stop *atomic.Bool) (*sleep, error) {
	s, _ := Slack()
	return &sleep{slack: s, stop: stop}, nil
}

func (s *sleep) Wait(due int64) int64 {
	s.st.Waits++
	now := clock.Now()
	if due-now > 0 {
		s.st.Sleeps++
	}
	// A signal (EINTR) ends nanosleep early, as it does usleep; sleep
	// again for what remains, so the wait never releases before due. A
	// long wait sleeps in slices, looking at the stop flag between them;
	// the last one sleeps what remains, as a short wait does.
	for d := due - now; d > 0; d = due - now {
		if d > slice {
			if s.stop.Load() {
				return now
			}
			d = slice
		}
		ts := clock.Timespec(d)
		_ = unix.Nanosleep(&ts, nil)
		now = clock.Now()
	}
	return now
}

func (s *sleep) Stats() Stats { s.st.Slack = s.slack; return s.st }
func (s *sleep) Close() error { return nil }

// sleepUntil sleeps until the absolute monotonic time t, resuming after
// signals.
func sleepUntil(t int64) {
	ts := clock.Timespec(t)
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
	}
}

// sleepNear sleeps in slices of MaxSlice until t is at most one slice
// away, and returns the clock reading; it returns early, false, once stop
// holds. The caller then does its own last sleep or spin to t, so a short
// wait is exactly what it was without slices.
func sleepNear(t int64, stop *atomic.Bool) (int64, bool) {
	now := clock.Now()
	for t-now > slice {
		if stop.Load() {
			return now, false
		}
		sleepUntil(now + slice)
		now = clock.Now()
	}
	return now, !stop.Load()
}

// tick wakes only on multiples of the period.
type tick struct {
	st     Stats
	period int64
	old    int64
	stop   *atomic.Bool
}

func newTick(c Config) (*tick, error) {
	old, err := setSlack(1)
	if err != nil {
		return nil, err
	}
	return &tick{period: int64(c.Period), old: old, stop: c.Stop}, nil
}

func (t *tick) Wait(due int64) int64 {
	t.st.Waits++
	now := clock.Now()
	if now >= due {
		return now
	}
	// The first tick at or after the due time.
	next := (due + t.period - 1) / t.period * t.period
	t.st.Sleeps++
	if now, ok := sleepNear(next, t.stop); !ok {
		return now
	}
	sleepUntil(next)
	return clock.Now()
}

func (t *tick) Stats() Stats { t.st.Slack = 1; return t.st }
func (t *tick) Close() error { _, err := setSlack(t.old); return err }

// tfd waits on an absolute timerfd.
type tfd struct {
	st   Stats
	fd   int
	buf  [8]byte
	its  unix.ItimerSpec
	stop *atomic.Bool
}

func newTimerfd(stop *atomic.Bool) (*tfd, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &tfd{fd: fd, stop: stop}, nil
}

func (t *tfd) Wait(due int64) int64 {
	t.st.Waits++
	now := clock.Now()
	if now >= due {
		return now
	}
	t.st.Sleeps++
	if now, ok := sleepNear(due, t.stop); !ok {
		return now
	}
	t.its.Value = clock.Timespec(due)
	if err := unix.TimerfdSettime(t.fd, unix.TFD_TIMER_ABSTIME, &t.its, nil); err == nil {
		for {
			if _, err := unix.Read(t.fd, t.buf[:]); err != unix.EINTR {
				break
			}
		}
	}
	return spinUntil(clock.Now(), due) // a failed read must not send early
}

func (t *tfd) Stats() Stats { s, _ := Slack(); t.st.Slack = s; return t.st }
func (t *tfd) Close() error { return unix.Close(t.fd) }
