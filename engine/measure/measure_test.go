package measure

import (
	"math"
	"runtime"
	"testing"
	"time"
)

func TestQuantileNearestRank(t *testing.T) {
	s := []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for _, tc := range []struct {
		q    float64
		want int64
	}{
		{0, 10},     // the minimum
		{0.5, 50},   // median of an even count: the lower middle (nearest rank)
		{0.9, 90},   // 9 of 10 values at or below
		{0.99, 100}, // beyond the last rank: the maximum
		{1, 100},    // the maximum
	} {
		if got := Quantile(s, tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("empty input must give 0")
	}
}

func TestSummarize(t *testing.T) {
	vals := make([]int64, 1000)
	for i := range vals {
		vals[i] = int64(1000 - i) // descending: Summarize must sort a copy
	}
	s := Summarize(vals)
	if s.Min != 1 || s.Max != 1000 || s.P50 != 500 || s.P99 != 990 || s.P999 != 999 || s.N != 1000 {
		t.Fatalf("%+v", s)
	}
	if s.Mean != 500.5 || math.Abs(s.Std-288.6749) > 0.001 {
		t.Fatalf("mean %v std %v", s.Mean, s.Std)
	}
	if vals[0] != 1000 {
		t.Fatal("input was modified")
	}
}

func TestAddErrorMetricsMicroseconds(t *testing.T) {
	m := map[string]float64{}
	AddErrorMetrics(m, []int64{1000, 3000, 2000})
	if m[ErrP50US] != 2 || m[ErrMaxUS] != 3 || m[ErrMeanUS] != 2 || m[DriftUS] != 2 {
		t.Fatalf("%v", m)
	}
	for k := range m {
		if !Known(k) {
			t.Errorf("metric %q is not in Names", k)
		}
	}
}

// A thread that spins for a while must see its own CPU time grow by about
// as much; a bound of half the spin keeps this robust on a loaded machine.
func TestThreadCPUCountsOwnThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := ThreadCPU()
	start := time.Now()
	for time.Since(start) < 50*time.Millisecond {
	}
	if d := ThreadCPU().Sub(before).Total(); d <= 0 {
		t.Fatalf("thread CPU did not grow: %v", d)
	}
	if Pct(time.Second, 2*time.Second) != 50 || Pct(1, 0) != 0 {
		t.Fatal("Pct")
	}
}

func BenchmarkSummarize100k(b *testing.B) {
	vals := make([]int64, 100_000)
	for i := range vals {
		vals[i] = int64(i * 7919 % 100_003)
	}
	for b.Loop() {
		Summarize(vals)
	}
}

// Gap errors compare consecutive gaps, so a constant lateness costs nothing
// and one late packet costs twice (its gap before and after).
func TestAddGapMetrics(t *testing.T) {
	m := map[string]float64{}
	sched := []int64{0, 1000, 2000, 3000}
	actual := []int64{500, 1500, 3500, 3500} // packet 2 is 1000 ns later than the rest
	AddGapMetrics(m, sched, actual)
	if m[GapErrSumUS] != 2 || m[GapErrP99US] != 1 || m[GapErrP50US] != 1 {
		t.Fatalf("%v", m)
	}
	m = map[string]float64{}
	AddReadMetrics(m, []int64{1000, 2000, 3000})
	if m[ReadP50US] != 2 || m[ReadMaxUS] != 3 {
		t.Fatalf("%v", m)
	}
}
