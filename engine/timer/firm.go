package timer

import (
	"sync/atomic"

	"github.com/labrun/labrun/engine/clock"
)

// firm sleeps with an absolute clock_nanosleep (timer slack 1 ns) until a
// margin before the due time, then polls the clock for the rest.
//
// The margin tracks a high quantile of the observed wake-up lateness
// (actual wake - requested wake) with a stochastic quantile estimator:
// each wake later than the estimate raises it by step*q, each earlier one
// lowers it by step*(1-q). The estimate converges to the q-quantile and is
// insensitive to the size of an outlier, so a 20 ms descheduling of the
// vCPU moves it by one step, not by 20 ms. The margin is the estimate plus
// headroom, clamped to [minMargin, max].
//
// Beside the 99.5 % quantile, two more estimates describe the tail: the
// 99.95 % quantile, and a peak of recent lateness that jumps to a late
// wake-up and decays by 0.5 % a wake (late wake-ups come in bursts when the
// host is busy; a quantile estimator moving 2 us a step reacts too slowly).
// A wait always keeps the 99.5 % margin, and raises it towards the larger
// of the other two as far as an eighth of the time there is to sleep: at
// long intervals covering the tail is cheap, so late wake-ups become rarer
// than the host's own noise; at short ones firm does not turn into busy.
type firm struct {
	st       Stats
	est      int64 // estimated firmQ-quantile of wake lateness, ns
	hi       int64 // estimated firmQHi-quantile, ns
	peak     int64 // recent peak of lateness, decaying, ns
	margin   int64 // margin from est
	marginHi int64 // margin from max(hi, peak)
	max      int64
	old      int64
	stop     *atomic.Bool
	// budget is Config.CPU: the margin of a wait is at most this share
	// of the time until its due time (0: no budget).
	budget float64
	// sl does the stall accounting; its own estimate is unused (firm's
	// est is the expected lateness).
	sl sleeper
}

const (
	firmQ    = 0.995 // the lateness quantile the margin covers
	firmStep = 1000  // ns per observation, before weighting by q
	firmUp   = int64(firmStep * firmQ)
	firmDown = int64(firmStep*(1-firmQ)) + 1
	// The quantile covered when the interval allows: 1999/2000 = 99.95 %,
	// with moves of whole nanoseconds (up 1999 ns, down 1 ns).
	firmUpHi   = 1999
	firmDownHi = 1
	// firmHiShare: the high margin is used when it is at most this
	// fraction (1/firmHiShare) of the time until the due time.
	firmHiShare = 8
	// firmPeakDecay: the peak loses 1/firmPeakDecay of itself per wake-up
	// (half-life about 140 wake-ups: 0.35 s at 2.5 ms).
	firmPeakDecay = 200
)

func newFirm(c Config) (*firm, error) {
	old, err := setSlack(1)
	if err != nil {
		return nil, err
	}
	f := &firm{old: old, max: int64(c.MaxMargin), est: int64(c.Margin), stop: c.Stop, budget: c.CPU, sl: sleeper{log: c.Stalls, expect: defaultExpect}}
	if f.max == 0 {
		// An initial margin above the default bound raises the bound.
		f.max = max(int64(DefaultMaxMargin), f.est)
	}
	if f.est == 0 {
		f.est = int64(DefaultMargin)
	}
	f.hi = f.est
	f.setMargin()
	return f, nil
}

func (f *firm) setMargin() {
	f.margin = min(f.est+f.est/4+int64(minMargin), f.max)
	tail := max(f.hi, f.peak)
	f.marginHi = max(min(tail+tail/4+int64(minMargin), f.max), f.margin)
}

// marginFor returns the margin for a wait with avail ns until the due time:
// the 99.5 % margin, raised towards the tail's margin within a budget of
// an eighth of the wait.
//
// With a CPU budget the margin is at most budget * avail: the spin after
// a wake-up is never longer than the margin, so the time spent spinning
// stays within that share of the time waited, whatever it costs in late
// wake-ups.
func (f *firm) marginFor(avail int64) int64 {
	m := max(f.margin, min(f.marginHi, avail/firmHiShare))
	if f.budget > 0 {
		m = min(m, int64(f.budget*float64(avail)))
	}
	return m
}

// observe updates the lateness estimate and the margin with the lateness
// of one wake-up (actual wake - requested wake, ns).
func (f *firm) observe(late int64) {
	if late > f.est {
		f.est += firmUp
	} else if f.est > firmDown {
		f.est -= firmDown
	}
	if late > f.hi {
		f.hi += firmUpHi
	} else if f.hi > firmDownHi {
		f.hi -= firmDownHi
	}
	f.peak -= f.peak / firmPeakDecay
	if late > f.peak {
		f.peak = min(late, f.max)
	}
	f.setMargin()
}

func (f *firm) Wait(due int64) int64 {
	f.st.Waits++
	now := clock.Now()
	f.sl.begin(now)
	// A long wait sleeps in slices to within one slice of the due time,
	// looking at the stop flag; the last sleep is the one that learns.
	sliced := due-now > slice
	if sliced {
		f.st.Sleeps++
		var ok bool
		if now, ok = f.sl.sleepNear(now, due, f.stop); !ok {
			return f.sl.end(now)
		}
	}
	if wake := due - f.marginFor(due-now); wake > now {
		if !sliced {
			f.st.Sleeps++
		}
		sleepUntil(wake)
		now = clock.Now()
		if f.sl.log != nil {
			f.sl.log.woke(wake, f.est, now)
		}
		f.observe(now - wake)
		if now > due {
			f.st.Late++
			return f.sl.end(now)
		}
	}
	start := now
	now = f.sl.spin(now, due)
	f.st.Spin += now - start
	return f.sl.end(now)
}

func (f *firm) Stats() Stats {
	f.st.Margin, f.st.Slack, f.st.WakeEst = f.margin, 1, f.est
	return f.st
}

func (f *firm) Close() error { _, err := setSlack(f.old); return err }
