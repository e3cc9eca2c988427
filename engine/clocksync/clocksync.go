// Package clocksync estimates the offset between this host's clock and
// another host's over a request/response channel, the way NTP does: four
// timestamps per exchange, the exchange with the smallest round trip kept.
//
// The clock is CLOCK_REALTIME on both sides. CLOCK_MONOTONIC counts from
// each machine's boot, so two hosts' monotonic readings share no origin
// and their difference says nothing; CLOCK_REALTIME is the one clock that
// NTP or PTP disciplines towards a common time, so its offset is small and
// changes slowly. (Times taken on CLOCK_MONOTONIC on a host are moved onto
// its CLOCK_REALTIME by that host before they are compared: see Pair.)
package clocksync

import (
	"errors"
	"math"
	"time"

	"golang.org/x/sys/unix"
)

// Realtime returns CLOCK_REALTIME in nanoseconds.
func Realtime() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	return ts.Nano()
}

// Monotonic returns CLOCK_MONOTONIC in nanoseconds.
func Monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Pair returns CLOCK_REALTIME - CLOCK_MONOTONIC, read back to back: add it
// to a CLOCK_MONOTONIC time to put it on this host's CLOCK_REALTIME. Of
// three tries it keeps the one whose two monotonic readings around the
// realtime reading are closest.
func Pair() int64 {
	best, bestGap := int64(0), int64(math.MaxInt64)
	for range 3 {
		m0 := Monotonic()
		r := Realtime()
		m1 := Monotonic()
		if m1-m0 < bestGap {
			best, bestGap = r-(m0+(m1-m0)/2), m1-m0
		}
	}
	return best
}

// Sample is one exchange: T1 the request left here, T2 it arrived there,
// T3 the reply left there, T4 it arrived here; T1 and T4 on this host's
// clock, T2 and T3 on the other's.
type Sample struct {
	T1, T2, T3, T4 int64
}

// RTT is the round trip without the other side's time in between.
func (s Sample) RTT() int64 { return (s.T4 - s.T1) - (s.T3 - s.T2) }

// Offset is the other clock minus this one, assuming the request and the
// reply took equally long.
func (s Sample) Offset() int64 { return ((s.T2 - s.T1) + (s.T3 - s.T4)) / 2 }

// Estimate is an offset with its bound: the true offset lies within
// Offset ± Uncertainty (the transit times' asymmetry cannot exceed the
// round trip, so half the round trip bounds the error).
type Estimate struct {
	Offset      int64 `json:"offset_ns"`      // the other clock minus this one
	RTT         int64 `json:"rtt_ns"`         // of the sample kept
	Uncertainty int64 `json:"uncertainty_ns"` // half RTT
	Samples     int   `json:"samples"`
	At          int64 `json:"at_ns"` // T4 of the sample kept, this host's CLOCK_REALTIME
}

// ErrNoSample is returned by Best for no valid sample.
var ErrNoSample = errors.New("clock offset: no valid exchange")

// Best keeps the sample with the smallest round trip; samples with a
// negative round trip (a clock stepped during the exchange) are ignored.
func Best(samples []Sample) (Estimate, error) {
	var e Estimate
	best := int64(-1)
	for _, s := range samples {
		r := s.RTT()
		if r < 0 {
			continue
		}
		if best < 0 || r < best {
			best = r
			e = Estimate{Offset: s.Offset(), RTT: r, Uncertainty: (r + 1) / 2, At: s.T4}
		}
	}
	if best < 0 {
		return Estimate{}, ErrNoSample
	}
	e.Samples = len(samples)
	return e, nil
}

// Measure runs n exchanges through exchange (which sends a request at
// T1 = Realtime(), and returns the other side's T2 and T3) and returns the
// best. It fails when the best round trip exceeds bound: then the offset
// would be too loose to correct anything.
func Measure(n int, bound time.Duration, exchange func() (t2, t3 int64, err error)) (Estimate, error) {
	samples := make([]Sample, 0, n)
	for range n {
		t1 := Realtime()
		t2, t3, err := exchange()
		t4 := Realtime()
		if err != nil {
			return Estimate{}, err
		}
		samples = append(samples, Sample{T1: t1, T2: t2, T3: t3, T4: t4})
	}
	e, err := Best(samples)
	if err != nil {
		return e, err
	}
	if bound > 0 && e.RTT > int64(bound) {
		return e, errors.New("clock offset: the shortest of the round trips (" + time.Duration(e.RTT).String() + ") exceeds the bound " + bound.String())
	}
	return e, nil
}

// Span is a host's offset over a run: measured before and after it.
type Span struct {
	Before Estimate `json:"before"`
	After  Estimate `json:"after"`
}

// Offset is the mean of the two measurements: the one to correct the
// run's cross-host times with.
func (s Span) Offset() int64 { return s.Before.Offset + (s.After.Offset-s.Before.Offset)/2 }

// Drift is how far the offset moved over the run.
func (s Span) Drift() int64 { return abs(s.After.Offset - s.Before.Offset) }

// Uncertainty bounds the error of Offset at any time of the run: the
// larger of the two measurements' half round trips plus half the drift
// between them (the offset at any moment of the run lies between the two
// measurements, so at most half the drift away from their mean).
func (s Span) Uncertainty() int64 {
	return max(s.Before.Uncertainty, s.After.Uncertainty) + (s.Drift()+1)/2
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
