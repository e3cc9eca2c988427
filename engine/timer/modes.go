package timer

import (
	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
)

// busy polls the clock.
type busy struct{ st Stats }

func (b *busy) Wait(due int64) int64 {
	b.st.Waits++
	start := clock.Now()
	now := spinUntil(start, due)
	b.st.Spin += now - start
	return now
}

func (b *busy) Stats() Stats { b.st.Slack = -1; return b.st }
func (b *busy) Close() error { return nil }

// sleep is a relative nanosleep of the remaining time, like usleep(3).
type sleep struct {
	st    Stats
	slack int64
}

func newSleep() (*sleep, error) {
	s, _ := Slack()
	return &sleep{slack: s}, nil
}

func (s *sleep) Wait(due int64) int64 {
	s.st.Waits++
	now := clock.Now()
	if due-now > 0 {
		s.st.Sleeps++
	}
	// A signal (EINTR) ends nanosleep early, as it does usleep; sleep
	// again for what remains, so the wait never releases before due.
	for d := due - now; d > 0; d = due - now {
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

// tick wakes only on multiples of the period.
type tick struct {
	st     Stats
	period int64
	old    int64
}

func newTick(c Config) (*tick, error) {
	old, err := setSlack(1)
	if err != nil {
		return nil, err
	}
	return &tick{period: int64(c.Period), old: old}, nil
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
	sleepUntil(next)
	return clock.Now()
}

func (t *tick) Stats() Stats { t.st.Slack = 1; return t.st }
func (t *tick) Close() error { _, err := setSlack(t.old); return err }

// tfd waits on an absolute timerfd.
type tfd struct {
	st  Stats
	fd  int
	buf [8]byte
	its unix.ItimerSpec
}

func newTimerfd() (*tfd, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &tfd{fd: fd}, nil
}

func (t *tfd) Wait(due int64) int64 {
	t.st.Waits++
	now := clock.Now()
	if now >= due {
		return now
	}
	t.st.Sleeps++
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
