package timer

import (
	"slices"
	"testing"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
)

func TestStallLogWithin(t *testing.T) {
	l := NewStallLog(8)
	l.add(100, 200)
	l.add(300, 400)
	l.add(1000, 1500)
	// Windows in non-decreasing order of from, as a replay's due times.
	for _, tc := range []struct {
		from, to, want int64
	}{
		{0, 50, 0},        // before any stall
		{50, 150, 50},     // the end of a window overlaps the first stall's start
		{150, 350, 100},   // the rest of the first stall and the start of the second
		{250, 260, 0},     // between stalls
		{250, 2000, 600},  // covers the second and third
		{400, 400, 0},     // touches the second's end: no time inside
		{1200, 1300, 100}, // inside the third
		{1600, 1700, 0},   // after every stall
		{150, 350, 100},   // out of order: searched again from the start
	} {
		if got := l.Within(tc.from, tc.to); got != tc.want {
			t.Errorf("Within(%d, %d) = %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
	if l.Count != 3 || l.Total != 700 || l.Max != 500 || l.Overflow != 0 {
		t.Errorf("counters %+v", *l)
	}
	if got := l.Stalls(); !slices.Equal(got, measure.Stalls{{From: 100, To: 200}, {From: 300, To: 400}, {From: 1000, To: 1500}}) {
		t.Errorf("Stalls() = %v", got)
	}
}

// A full log keeps counting what it cannot store.
func TestStallLogOverflow(t *testing.T) {
	l := NewStallLog(2)
	for i := range int64(5) {
		l.add(i*100, i*100+20)
	}
	if l.Count != 5 || l.Overflow != 3 || len(l.Stalls()) != 2 || l.Total != 100 {
		t.Errorf("count %d overflow %d stored %d total %d", l.Count, l.Overflow, len(l.Stalls()), l.Total)
	}
}

func TestStallLogRules(t *testing.T) {
	thr := int64(measure.StallThreshold)
	cases := []struct {
		name string
		do   func(l *StallLog)
		want measure.Stalls
		send int64
	}{
		{"first wait: no previous reading", func(l *StallLog) { l.resume(5 * thr) }, nil, 0},
		{"short gap between waits", func(l *StallLog) { l.last = 1000; l.resume(1000 + thr) }, nil, 0},
		{"long gap between waits", func(l *StallLog) { l.last = 1000; l.resume(1001 + thr) }, measure.Stalls{{From: 1000, To: 1001 + thr}}, 1},
		{"wake within expected + threshold", func(l *StallLog) { l.woke(1000, 50_000, 1000+50_000+thr) }, nil, 0},
		{"wake beyond expected + threshold", func(l *StallLog) { l.woke(1000, 50_000, 1001+50_000+thr) }, measure.Stalls{{From: 51_000, To: 51_001 + thr}}, 0},
		{"negative expectation counts as 0", func(l *StallLog) { l.woke(1000, -5, 1001+thr) }, measure.Stalls{{From: 1000, To: 1001 + thr}}, 0},
		{"own work within its bound is not a stall", func(l *StallLog) { l.last = 1000; l.Own(1000+5*thr, 5*thr); l.resume(1000 + 6*thr) }, nil, 0},
		{"own work beyond its bound is", func(l *StallLog) { l.last = 1000; l.Own(1001+5*thr, 5*thr); l.resume(1001 + 5*thr) }, measure.Stalls{{From: 1000, To: 1001 + 5*thr}}, 1},
	}
	for _, tc := range cases {
		l := NewStallLog(4)
		tc.do(l)
		if got := l.Stalls(); !slices.Equal(got, tc.want) || l.Send != tc.send {
			t.Errorf("%s: stalls %v send %d, want %v and %d", tc.name, got, l.Send, tc.want, tc.send)
		}
	}
}

// A budget caps the margin at its share of the time to the due time.
func TestFirmBudget(t *testing.T) {
	f := &firm{max: int64(DefaultMaxMargin), est: 20_000, hi: 80_000}
	f.setMargin()
	for _, tc := range []struct {
		budget      float64
		avail, want int64
	}{
		{0, 70_000, 27_000},        // no budget: the 99.5 % margin
		{0.05, 70_000, 3_500},      // 5 % of 70 us
		{0.05, 2_500_000, 102_000}, // 5 % of 2.5 ms is more than the tail needs
		{0.01, 2_500_000, 25_000},  // 1 % of 2.5 ms caps it
		{1, 70_000, 27_000},        // a budget of a whole CPU changes nothing
	} {
		f.budget = tc.budget
		if got := f.marginFor(tc.avail); got != tc.want {
			t.Errorf("budget %v: marginFor(%d) = %d, want %d", tc.budget, tc.avail, got, tc.want)
		}
	}
}

// With a log, a wait still never allocates; the log's counters see every
// wait's gap.
func TestWaitWithLogDoesNotAllocate(t *testing.T) {
	for _, c := range modes {
		t.Run(c.Mode.String(), func(t *testing.T) {
			onThread(t, func() {
				c.Stalls = NewStallLog(4) // small: the overflow path runs too
				tm := newTimer(t, c)
				if tm == nil {
					return
				}
				defer tm.Close()
				n := testing.AllocsPerRun(50, func() { tm.Wait(clock.Now() + 20_000) })
				if n != 0 {
					t.Errorf("Wait allocates %v times per call", n)
				}
			})
		})
	}
}

func TestParseLate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LatePolicy
		err  bool
	}{
		{"", CatchUp, false}, {"catch_up", CatchUp, false}, {"shift", Shift, false}, {"drop", Drop, false},
		{"catchup", 0, true}, {"Shift", 0, true},
	} {
		got, err := ParseLate(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseLate(%q) = %v, %v", tc.in, got, err)
		}
		if err == nil && tc.in != "" && got.String() != tc.in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}
