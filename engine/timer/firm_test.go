package timer

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// testFirm is a firm timer's estimator without a thread: observe is driven
// with synthetic lateness values.
func testFirm(est, max time.Duration) *firm {
	f := &firm{est: int64(est), max: int64(max)}
	f.setMargin()
	return f
}

// lateness draws a wake-up lateness: base plus an exponential tail of the
// given mean, ns. quantile is its q-quantile.
type lateness struct{ base, mean float64 }

func (l lateness) draw(r *rand.Rand) int64 { return int64(l.base + l.mean*r.ExpFloat64()) }
func (l lateness) quantile(q float64) int64 {
	return int64(l.base - l.mean*math.Log(1-q))
}

// checkMargin asserts the margin follows the estimate and stays in
// [minMargin, max].
func checkMargin(t *testing.T, f *firm) {
	t.Helper()
	want := min(f.est+f.est/4+int64(minMargin), f.max)
	if f.margin != want || f.margin < int64(minMargin) || f.margin > f.max {
		t.Fatalf("margin %d for estimate %d, want %d within [%d, %d]", f.margin, f.est, want, minMargin, f.max)
	}
}

// The estimate converges to a high quantile of the lateness distribution
// from above and from below: over a long window, the share of wake-ups
// later than the estimate is the estimator's 1-q, and the estimate lies
// between the distribution's 98th and 99.9th percentiles.
func TestFirmConverges(t *testing.T) {
	cases := []struct {
		name  string
		start time.Duration
		late  lateness
	}{
		{"from below", 2 * time.Microsecond, lateness{20e3, 10e3}},   // 2 us start, true q99.5 ~ 73 us
		{"from default", DefaultMargin, lateness{20e3, 10e3}},        // the default start
		{"from above", 400 * time.Microsecond, lateness{20e3, 10e3}}, // far too cautious start
		{"quiet host", DefaultMargin, lateness{3e3, 1e3}},            // lateness of a few us: margin shrinks
		{"noisy host", 10 * time.Microsecond, lateness{50e3, 30e3}},  // 50-80 us wake-ups
	}
	const settle, window = 400_000, 200_000
	pUp := float64(firmDown) / float64(firmUp+firmDown) // the equilibrium share of late wake-ups
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(i)))
			f := testFirm(tc.start, time.Second)
			for range settle {
				f.observe(tc.late.draw(r))
				checkMargin(t, f)
			}
			lo, hi := tc.late.quantile(0.98), tc.late.quantile(0.999)
			if f.est < lo || f.est > hi {
				t.Fatalf("after %d wake-ups the estimate is %d ns, want within the 98th-99.9th percentiles [%d, %d]", settle, f.est, lo, hi)
			}
			over := 0
			for range window {
				l := tc.late.draw(r)
				if l > f.est {
					over++
				}
				f.observe(l)
			}
			if share := float64(over) / window; share < pUp*0.8 || share > pUp*1.2 {
				t.Errorf("%.4f of wake-ups were later than the estimate, want %.4f (q = %v)", share, pUp, firmQ)
			}
			if f.margin < f.est {
				t.Errorf("margin %d does not cover the estimate %d", f.margin, f.est)
			}
		})
	}
}

// An outlier moves the estimate by one step whatever its size: a 20 ms
// descheduling of the vCPU does not make the next sends 20 ms early.
func TestFirmOutlierMovesOneStep(t *testing.T) {
	cases := []struct {
		name    string
		outlier time.Duration
	}{
		{"20ms descheduling", 20 * time.Millisecond}, // the host took the vCPU away
		{"just late", 0},    // est+1: the smallest late wake-up
		{"1s", time.Second}, // absurd
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(2, 2))
			l := lateness{20e3, 10e3}
			f := testFirm(DefaultMargin, DefaultMaxMargin)
			for range 100_000 {
				f.observe(l.draw(r))
			}
			est, margin := f.est, f.margin
			late := int64(tc.outlier)
			if late <= est {
				late = est + 1
			}
			f.observe(late)
			if f.est != est+firmUp {
				t.Errorf("a %d ns wake-up moved the estimate %d -> %d, want one step of %d", late, est, f.est, firmUp)
			}
			if d := f.margin - margin; d < 0 || d > firmUp+firmUp/4+1 {
				t.Errorf("margin moved %d -> %d, want by at most one step", margin, f.margin)
			}
			checkMargin(t, f)
		})
	}
}

// The margin never leaves [minMargin, max], however late or early the
// wake-ups are, and with whatever initial margin.
func TestFirmMarginClamped(t *testing.T) {
	cases := []struct {
		name      string
		start     time.Duration
		max       time.Duration
		late      int64 // every wake-up's lateness, ns
		n         int
		wantLimit string // "max" or "min": where the margin must end
	}{
		{"always very late", DefaultMargin, DefaultMaxMargin, int64(10 * time.Millisecond), 20_000, "max"}, // est climbs past max
		{"small max", DefaultMargin, 20 * time.Microsecond, int64(time.Millisecond), 1_000, "max"},         // max below the estimate
		{"initial margin above max", time.Millisecond, DefaultMaxMargin, 0, 1, "max"},                      // Config.Margin > default max
		{"always on time", DefaultMargin, DefaultMaxMargin, 0, 100_000, "min"},                             // est decays to the floor
		{"on time from max", 400 * time.Microsecond, DefaultMaxMargin, 0, 100_000, "min"},                  // decays all the way
		{"negative lateness", DefaultMargin, DefaultMaxMargin, -int64(time.Microsecond), 100_000, "min"},   // woke before the request (clock skew)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := testFirm(tc.start, tc.max)
			checkMargin(t, f)
			for range tc.n {
				f.observe(tc.late)
				checkMargin(t, f)
			}
			switch tc.wantLimit {
			case "max":
				if f.margin != int64(tc.max) {
					t.Errorf("margin %d, want clamped to max %d (estimate %d)", f.margin, tc.max, f.est)
				}
			case "min":
				if f.est <= 0 || f.est > firmDown || f.margin != int64(minMargin)+f.est+f.est/4 {
					t.Errorf("estimate %d, margin %d; want the estimate at its floor (1-%d ns) and the margin %d + that", f.est, f.margin, firmDown, minMargin)
				}
			}
		})
	}
}

// newFirm fills the defaults in and starts with the margin of its initial
// estimate; Stats reports margin, slack and estimate.
func TestFirmNew(t *testing.T) {
	cases := []struct {
		c               Config
		wantEst, wantMx int64
	}{
		{Config{Mode: Firm}, int64(DefaultMargin), int64(DefaultMaxMargin)},                                                                     // defaults
		{Config{Mode: Firm, Margin: 10 * time.Microsecond, MaxMargin: time.Millisecond}, int64(10 * time.Microsecond), int64(time.Millisecond)}, // explicit
		{Config{Mode: Firm, Margin: time.Millisecond}, int64(time.Millisecond), int64(time.Millisecond)},                                        // initial margin above the default max raises the bound
	}
	for _, tc := range cases {
		onThread(t, func() {
			tm := newTimer(t, tc.c)
			if tm == nil {
				return
			}
			defer tm.Close()
			f := tm.(*firm)
			st := tm.Stats()
			wantMargin := min(tc.wantEst+tc.wantEst/4+int64(minMargin), tc.wantMx)
			if f.est != tc.wantEst || f.max != tc.wantMx || st.Margin != wantMargin || st.WakeEst != tc.wantEst || st.Slack != 1 {
				t.Errorf("%+v: est %d max %d, Stats %+v; want est %d max %d margin %d slack 1", tc.c, f.est, f.max, st, tc.wantEst, tc.wantMx, wantMargin)
			}
		})
	}
}

// A long wait covers the higher quantile when that costs at most an eighth
// of the wait; a short one keeps the 99.5 % margin.
func TestFirmMarginFor(t *testing.T) {
	f := &firm{max: int64(DefaultMaxMargin), est: 20_000, hi: 80_000}
	f.setMargin()
	if f.margin != 27_000 || f.marginHi != 102_000 {
		t.Fatalf("margins %d, %d", f.margin, f.marginHi)
	}
	for _, tc := range []struct {
		avail, want int64
	}{
		{70_000, 27_000},     // 70 us: an eighth is below the 99.5 % margin, which stays
		{400_000, 50_000},    // an eighth of 400 us covers part of the tail
		{816_000, 102_000},   // 8 x 102 us: the whole tail margin is affordable
		{2_500_000, 102_000}, // 2.5 ms: no more than the tail needs
	} {
		if got := f.marginFor(tc.avail); got != tc.want {
			t.Errorf("marginFor(%d) = %d, want %d", tc.avail, got, tc.want)
		}
	}
	// The high estimate converges above the low one on the same samples.
	g := &firm{max: int64(DefaultMaxMargin), est: int64(DefaultMargin), hi: int64(DefaultMargin)}
	for i := range 200_000 {
		g.observe(int64(15_000 + (i*7919)%10_000)) // lateness spread over 15-25 us
	}
	if g.hi < g.est || g.marginHi < g.margin || g.hi > 26_000 {
		t.Errorf("est %d hi %d margins %d %d", g.est, g.hi, g.margin, g.marginHi)
	}
}

// A burst of late wake-ups raises the tail margin at once; it decays back
// within a few hundred wake-ups; the 99.5 % margin barely moves.
func TestFirmPeak(t *testing.T) {
	f := &firm{max: int64(DefaultMaxMargin), est: 20_000, hi: 20_000}
	f.setMargin()
	base := f.margin
	f.observe(200_000) // one wake-up 200 us late
	if f.peak != 200_000 || f.marginHi != 200_000+50_000+int64(minMargin) || f.margin > base+firmUp+firmUp/4+1 {
		t.Fatalf("after a late wake-up: peak %d marginHi %d margin %d (was %d)", f.peak, f.marginHi, f.margin, base)
	}
	f.observe(int64(time.Second)) // a 1 s stall is clamped to the bound
	if f.peak != f.max {
		t.Fatalf("peak %d, want clamped to %d", f.peak, f.max)
	}
	for range 1000 {
		f.observe(15_000)
	}
	if f.peak != 15_000 {
		t.Fatalf("peak %d after 1000 wake-ups 15 us late, want 15000: decayed to the recent lateness", f.peak)
	}
}
