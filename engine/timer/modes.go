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
	log  *StallLog
}

func (b *busy) Wait(due int64) int64 {
	b.st.Waits++
	start := clock.Now()
	var now int64
	if l := b.log; l != nil {
		l.resume(start)
		now = spinUntilStopLog(start, due, b.stop, l)
		l.last = now
	} else {
		now = spinUntilStop(start, due, b.stop)
	}
	b.st.Spin += now - start
	return now
}

func (b *busy) Stats() Stats { b.st.Slack = -1; return b.st }
func (b *busy) Close() error { return nil }

// sleeper is what every sleeping mode keeps for stall accounting: the log
// (nil: no accounting) and the expected lateness of a wake-up.
type sleeper struct {
	log    *StallLog
	expect wakeEst
}

// begin is called with a Wait's first clock reading.
func (s *sleeper) begin(now int64) {
	if s.log != nil {
		s.log.resume(now)
	}
}

// end is called with the reading a Wait returns.
func (s *sleeper) end(now int64) int64 {
	if s.log != nil {
		s.log.last = now
	}
	return now
}

// woke is called with the reading after a sleep requested to end at wake.
func (s *sleeper) woke(wake, now int64) {
	if s.log != nil {
		s.log.woke(wake, int64(s.expect), now)
	}
	s.expect.observe(now - wake)
}

// spin polls the clock until due, recording stalls when it accounts.
func (s *sleeper) spin(now, due int64) int64 {
	if s.log != nil {
		return spinUntilLog(now, due, s.log)
	}
	return spinUntil(now, due)
}

// defaultExpect is the expected wake-up lateness a sleeping mode starts
// from, beside its timer slack, before it has learned its own.
const defaultExpect = 10_000 // ns

// sleep is a relative nanosleep of the remaining time, like usleep(3).
type sleep struct {
	st    Stats
	slack int64
	stop  *atomic.Bool
	sleeper
}

func newSleep(c Config) (*sleep, error) {
	s, _ := Slack()
	return &sleep{slack: s, stop: c.Stop, sleeper: sleeper{log: c.Stalls, expect: wakeEst(max(s, 0) + defaultExpect)}}, nil
}

func (s *sleep) Wait(due int64) int64 {
	s.st.Waits++
	now := clock.Now()
	s.begin(now)
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
				return s.end(now)
			}
			d = slice
		}
		ts := clock.Timespec(d)
		err := unix.Nanosleep(&ts, nil)
		wake := now + d
		now = clock.Now()
		if err == nil {
			s.woke(wake, now)
		}
	}
	return s.end(now)
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
// wait is exactly what it was without slices. Each slice's wake-up is
// accounted like the last sleep's.
func (s *sleeper) sleepNear(now, t int64, stop *atomic.Bool) (int64, bool) {
	for t-now > slice {
		if stop.Load() {
			return now, false
		}
		wake := now + slice
		sleepUntil(wake)
		now = clock.Now()
		s.woke(wake, now)
	}
	return now, !stop.Load()
}

// tick wakes only on multiples of the period.
type tick struct {
	st     Stats
	period int64
	old    int64
	stop   *atomic.Bool
	sleeper
}

func newTick(c Config) (*tick, error) {
	old, err := setSlack(1)
	if err != nil {
		return nil, err
	}
	return &tick{period: int64(c.Period), old: old, stop: c.Stop, sleeper: sleeper{log: c.Stalls, expect: defaultExpect}}, nil
}

func (t *tick) Wait(due int64) int64 {
	t.st.Waits++
	now := clock.Now()
	t.begin(now)
	if now >= due {
		return t.end(now)
	}
	// The first tick at or after the due time.
	next := (due + t.period - 1) / t.period * t.period
	t.st.Sleeps++
	now, ok := t.sleepNear(now, next, t.stop)
	if !ok {
		return t.end(now)
	}
	sleepUntil(next)
	now = clock.Now()
	t.woke(next, now)
	return t.end(now)
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
	sleeper
}

func newTimerfd(c Config) (*tfd, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &tfd{fd: fd, stop: c.Stop, sleeper: sleeper{log: c.Stalls, expect: defaultExpect}}, nil
}

func (t *tfd) Wait(due int64) int64 {
	t.st.Waits++
	now := clock.Now()
	t.begin(now)
	if now >= due {
		return t.end(now)
	}
	t.st.Sleeps++
	now, ok := t.sleepNear(now, due, t.stop)
	if !ok {
		return t.end(now)
	}
	t.its.Value = clock.Timespec(due)
	now = clock.Now()
	if err := unix.TimerfdSettime(t.fd, unix.TFD_TIMER_ABSTIME, &t.its, nil); err == nil {
		for {
			if _, err := unix.Read(t.fd, t.buf[:]); err != unix.EINTR {
				break
			}
		}
		now = clock.Now()
		t.woke(due, now)
	}
	return t.end(t.spin(now, due)) // a failed read must not send early
}

func (t *tfd) Stats() Stats { s, _ := Slack(); t.st.Slack = s; return t.st }
func (t *tfd) Close() error { return unix.Close(t.fd) }
