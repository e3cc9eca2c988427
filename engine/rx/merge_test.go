package rx

import (
	"math"
	"testing"
)

// Per-port results add up: every sequence number arrives in the merge
// from whichever port it came, counters are summed, and a number seen on
// two ports counts once, plus a duplicate.
func TestMerge(t *testing.T) {
	a := &Result{Arrival: []int64{10, 0, 30, 0}, Received: 2, Total: 3, Unmarked: 1, KernelDrops: 1, FirstAny: 5, LastAny: 30,
		ClockDrift: -4, ClockUncertainty: 2, Stopped: StopComplete}
	b := &Result{Arrival: []int64{0, 20, 0, 40}, Received: 2, Total: 2, KernelDrops: 2, FirstAny: 20, LastAny: 40,
		ClockDrift: 3, ClockUncertainty: 7, Stopped: StopQuiet}
	m := Merge(a, b)
	want := []int64{10, 20, 30, 40}
	for q := range want {
		if m.Arrival[q] != want[q] {
			t.Fatalf("arrival %v, want %v", m.Arrival, want)
		}
	}
	if m.Received != 4 || m.Total != 5 || m.Unmarked != 1 || m.KernelDrops != 3 || m.Dup != 0 {
		t.Errorf("counts %+v", m)
	}
	if m.FirstAny != 5 || m.LastAny != 40 || m.ClockDrift != -4 || m.ClockUncertainty != 7 || m.Stopped != StopQuiet {
		t.Errorf("span/clock/stop %d %d %d %d %s", m.FirstAny, m.LastAny, m.ClockDrift, m.ClockUncertainty, m.Stopped)
	}
	if a.Arrival[1] != 0 || b.Arrival[0] != 0 {
		t.Error("Merge modified its parts")
	}
	// The same number on two ports: once received, once duplicate, the
	// earlier arrival kept.
	c := &Result{Arrival: []int64{0, 15, 0, 0}, Received: 1, Total: 1, Stopped: StopComplete}
	m = Merge(a, b, c)
	if m.Received != 4 || m.Dup != 1 || m.Arrival[1] != 15 {
		t.Errorf("with a duplicate: received %d dup %d arrival %v", m.Received, m.Dup, m.Arrival)
	}
	if Merge(a) != a {
		t.Error("Merge of one result is not that result")
	}
}

func TestFairness(t *testing.T) {
	for _, tc := range []struct {
		pps          []float64
		lo, hi, jain float64
	}{
		{nil, 0, 0, 0},
		{[]float64{5}, 5, 5, 1},
		{[]float64{4, 4, 4, 4}, 4, 4, 1},
		{[]float64{8, 0, 0, 0}, 0, 8, 0.25},
		{[]float64{1, 3}, 1, 3, 16.0 / 20},
		{[]float64{0, 0}, 0, 0, 0},
	} {
		lo, hi, j := Fairness(tc.pps)
		if lo != tc.lo || hi != tc.hi || math.Abs(j-tc.jain) > 1e-12 {
			t.Errorf("Fairness(%v) = %v %v %v, want %v %v %v", tc.pps, lo, hi, j, tc.lo, tc.hi, tc.jain)
		}
	}
}
