package timer

import (
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
type firm struct {
	st     Stats
	est    int64 // estimated q-quantile of wake lateness, ns
	margin int64
	max    int64
	old    int64
}

const (
	firmQ    = 0.995 // the lateness quantile the margin covers
	firmStep = 1000  // ns per observation, before weighting by q
	firmUp   = int64(firmStep * firmQ)
	firmDown = int64(firmStep*(1-firmQ)) + 1
)

func newFirm(c Config) (*firm, error) {
	old, err := setSlack(1)
	if err != nil {
		return nil, err
	}
	f := &firm{old: old, max: int64(c.MaxMargin), est: int64(c.Margin)}
	if f.max == 0 {
		// An initial margin above the default bound raises the bound.
		f.max = max(int64(DefaultMaxMargin), f.est)
	}
	if f.est == 0 {
		f.est = int64(DefaultMargin)
	}
	f.setMargin()
	return f, nil
}

func (f *firm) setMargin() {
	m := f.est + f.est/4 + int64(minMargin)
	if m > f.max {
		m = f.max
	}
	f.margin = m
}

// observe updates the lateness estimate and the margin with the lateness
// of one wake-up (actual wake - requested wake, ns).
func (f *firm) observe(late int64) {
	if late > f.est {
		f.est += firmUp
	} else if f.est > firmDown {
		f.est -= firmDown
	}
	f.setMargin()
}

func (f *firm) Wait(due int64) int64 {
	f.st.Waits++
	now := clock.Now()
	if wake := due - f.margin; wake > now {
		f.st.Sleeps++
		sleepUntil(wake)
		now = clock.Now()
		f.observe(now - wake)
		if now > due {
			f.st.Late++
			return now
		}
	}
	start := now
	for now < due {
		now = clock.Now()
	}
	f.st.Spin += now - start
	return now
}

func (f *firm) Stats() Stats {
	f.st.Margin, f.st.Slack, f.st.WakeEst = f.margin, 1, f.est
	return f.st
}

func (f *firm) Close() error { _, err := setSlack(f.old); return err }
