package link

import (
	"bufio"
	"fmt"
	"math"
	"math/bits"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labrun/labrun/engine/units"
)

// Delay is the distribution of the per-packet extra delay t_D (TLEM IV-D).
// A sample is drawn by inverse transform: Quantile applied to a uniform
// number. Implementations must be safe for concurrent use and must not
// allocate in Quantile.
type Delay interface {
	// Quantile returns the delay in ns whose cumulative probability is
	// u, for u in [0, 1). It is non-decreasing in u. Values of u outside
	// [0, 1) are clamped into it.
	Quantile(u float64) int64
	// CDF returns the probability that a sample is <= x ns: the
	// distribution the samples follow, including any truncation the
	// constructor documents.
	CDF(x int64) float64
	// Mean returns the mean of the distribution in ns.
	Mean() float64
	// Max returns the largest value Quantile can return, in ns.
	Max() int64
	// String describes the distribution and its parameters, such as
	// "normal(mean=10ms, stddev=2ms)".
	String() string
}

// DelayLimit bounds every delay distribution: a constructor whose
// distribution could produce a larger value returns an error.
const DelayLimit = 24 * time.Hour

// TailMass is the probability cut from each unbounded or very long tail
// of the tabulated distributions (Normal's upper tail and, when the
// truncation at 0 does not already bound it, its lower tail; Pareto's
// upper tail): 2^-20, about 9.5e-7. It keeps Max, and so the buffer an
// emulated link needs, finite.
const TailMass = 1.0 / (1 << 20)

// ds formats a duration given in ns the way units prints durations.
func ds(ns float64) string {
	return units.Duration(math.Round(ns)).String()
}

// clampU maps u into [0, 1).
func clampU(u float64) float64 {
	if !(u >= 0) { // also NaN
		return 0
	}
	if u >= 1 {
		return 1 - 1.0/twoTo53
	}
	return u
}

// roundNS rounds a non-negative ns value to the nearest integer.
func roundNS(x float64) int64 { return int64(x + 0.5) }

// checkDur rejects negative durations and durations above DelayLimit.
func checkDur(what string, d time.Duration) error {
	if d < 0 || d > DelayLimit {
		return fmt.Errorf("%s %v out of range: want 0 <= %s <= %v", what, d, what, DelayLimit)
	}
	return nil
}

// ---- constant ----

type constDelay struct{ d int64 }

// Constant returns the distribution that is always d. d must be in
// [0, DelayLimit].
func Constant(d time.Duration) (Delay, error) {
	if err := checkDur("constant delay", d); err != nil {
		return nil, err
	}
	return constDelay{int64(d)}, nil
}

func (c constDelay) Quantile(float64) int64 { return c.d }
func (c constDelay) CDF(x int64) float64 {
	if x >= c.d {
		return 1
	}
	return 0
}
func (c constDelay) Mean() float64  { return float64(c.d) }
func (c constDelay) Max() int64     { return c.d }
func (c constDelay) String() string { return "constant(" + ds(float64(c.d)) + ")" }

// ---- uniform ----

type uniformDelay struct{ lo, hi float64 }

// Uniform returns the continuous uniform distribution on [lo, hi],
// 0 <= lo <= hi <= DelayLimit. Samples are rounded to whole ns.
func Uniform(lo, hi time.Duration) (Delay, error) {
	if err := checkDur("uniform lo", lo); err != nil {
		return nil, err
	}
	if err := checkDur("uniform hi", hi); err != nil {
		return nil, err
	}
	if lo > hi {
		return nil, fmt.Errorf("uniform lo %v > hi %v: want 0 <= lo <= hi", lo, hi)
	}
	return uniformDelay{float64(lo), float64(hi)}, nil
}

func (d uniformDelay) Quantile(u float64) int64 {
	return roundNS(d.lo + clampU(u)*(d.hi-d.lo))
}
func (d uniformDelay) CDF(x int64) float64 {
	f := float64(x)
	switch {
	case f >= d.hi:
		return 1
	case f < d.lo:
		return 0
	}
	return (f - d.lo) / (d.hi - d.lo)
}
func (d uniformDelay) Mean() float64 { return (d.lo + d.hi) / 2 }
func (d uniformDelay) Max() int64    { return int64(d.hi) }
func (d uniformDelay) String() string {
	return "uniform(" + ds(d.lo) + ", " + ds(d.hi) + ")"
}

// ---- exponential ----

type expDelay struct{ mean float64 }

// expMaxFactor is -ln(2^-53): the largest sample of Exponential is this
// many means (about 36.7), because the uniform has 53 bits.
var expMaxFactor = 53 * math.Ln2

// Exponential returns the exponential distribution with the given mean,
// 0 <= mean and 36.8 x mean <= DelayLimit. It is sampled in closed form,
// -mean*ln(1-u); since u has 53 bits the largest sample is about 36.7
// means (the mass cut beyond is 2^-53, which CDF ignores).
func Exponential(mean time.Duration) (Delay, error) {
	if mean < 0 || float64(mean)*expMaxFactor > float64(DelayLimit) {
		return nil, fmt.Errorf("exponential mean %v out of range: want 0 <= mean <= %v", mean, time.Duration(float64(DelayLimit)/expMaxFactor))
	}
	return expDelay{float64(mean)}, nil
}

func (d expDelay) Quantile(u float64) int64 {
	return roundNS(-d.mean * math.Log(1-clampU(u)))
}
func (d expDelay) CDF(x int64) float64 {
	if x < 0 {
		return 0
	}
	if d.mean == 0 {
		return 1
	}
	return -math.Expm1(-float64(x) / d.mean)
}
func (d expDelay) Mean() float64  { return d.mean }
func (d expDelay) Max() int64     { return roundNS(d.mean * expMaxFactor) }
func (d expDelay) String() string { return "exponential(mean=" + ds(d.mean) + ")" }

// ---- tabulated inverse CDF ----

// The table maps u to a value by linear interpolation between knots. The
// knots are denser toward both ends of [0, 1), where quantile functions
// bend most: each half of [0, 1) is split into tabSegs segments by
// powers of two of the distance v to the nearer end (v in [1/4, 1/2),
// [1/8, 1/4), ..., the last one [0, 2^-(tabSegs+1)) ), and each segment
// into tabCells equal cells. The segment is the bit length of v as a
// 53-bit integer, so a lookup is a few integer operations, one
// multiplication and two loads. With 256 cells per segment the largest
// cell is 1/1024 wide in u; within a cell the interpolated quantile
// deviates from the exact one by far less than that in probability.
const (
	tabSegs  = 20
	tabCells = 256
	tabKnots = tabCells + 1
	tabLast  = 53 - tabSegs // the last segment holds v < 2^tabLast
)

type tableDelay struct {
	name string
	cdf  func(x float64) float64 // the distribution's CDF
	mean float64
	max  int64
	// knot values: [half][segment][knot], half 0 counts v up from u=0,
	// half 1 counts v down from u=1.
	t [2 * tabSegs * tabKnots]float64
}

// segBase returns the first v of segment k (1-based) and its width.
func segBase(k int) (base, width uint64) {
	if k == tabSegs {
		return 0, 1 << tabLast
	}
	return 1 << (52 - k), 1 << (52 - k)
}

// segBases and segScales hold, per segment k (1-based), its first v and
// the number of cells per unit of v, so that a lookup needs no division.
var segBases, segScales = func() (b [tabSegs + 1]uint64, s [tabSegs + 1]float64) {
	for k := 1; k <= tabSegs; k++ {
		base, width := segBase(k)
		b[k], s[k] = base, tabCells/float64(width)
	}
	return
}()

// newTable tabulates the quantile function q, which must be finite and
// non-decreasing on [0, 1].
func newTable(name string, q func(u float64) float64, cdf func(float64) float64, mean float64) *tableDelay {
	d := &tableDelay{name: name, cdf: cdf, mean: mean}
	for h := 0; h < 2; h++ {
		for k := 1; k <= tabSegs; k++ {
			base, width := segBase(k)
			for j := 0; j < tabKnots; j++ {
				v := (float64(base) + float64(j)*float64(width)/tabCells) / twoTo53
				u := v
				if h == 1 {
					u = 1 - v
				}
				d.t[(h*tabSegs+k-1)*tabKnots+j] = q(u)
			}
		}
	}
	d.max = roundNS(q(1))
	return d
}

// at returns the value for the 53-bit integer r = u*2^53.
func (d *tableDelay) at(r uint64) float64 {
	h := 0
	v := r
	if r >= 1<<52 {
		h = 1
		v = twoTo53 - 1 - r
	}
	k := 53 - bits.Len64(v)
	if k > tabSegs {
		k = tabSegs
	}
	pos := float64(v-segBases[k]) * segScales[k]
	j := int(pos)
	if j >= tabCells { // only by rounding
		j = tabCells - 1
	}
	f := pos - float64(j)
	t := d.t[(h*tabSegs+k-1)*tabKnots+j:]
	return t[0] + f*(t[1]-t[0])
}

func (d *tableDelay) Quantile(u float64) int64 {
	x := d.at(uint64(clampU(u) * twoTo53))
	if x < 0 {
		x = 0
	}
	return roundNS(x)
}

func (d *tableDelay) CDF(x int64) float64 {
	f := d.cdf(float64(x))
	switch {
	case f < 0:
		return 0
	case f > 1:
		return 1
	}
	return f
}
func (d *tableDelay) Mean() float64  { return d.mean }
func (d *tableDelay) Max() int64     { return d.max }
func (d *tableDelay) String() string { return d.name }

// ---- normal ----

// stdPhi is the standard normal CDF, accurate in both tails.
func stdPhi(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// stdPhiInv is the standard normal quantile, for p in (0, 1).
func stdPhiInv(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// stdpdf is the standard normal density.
func stdpdf(z float64) float64 { return math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) }

// Normal returns the normal distribution with the given mean and
// standard deviation, truncated at 0: the conditional distribution given
// x >= 0, not clamped (no atom at 0). Its tails are cut as well, each at
// probability TailMass of that conditional distribution (the lower cut
// matters only when the truncation at 0 removes less), so Max is finite;
// CDF and Mean are those of the resulting doubly truncated normal: the
// mean argument is the untruncated normal's, and Mean returns the mean
// of the result, which is larger when the truncation at 0 bites. It is
// sampled from a table of the
// inverse CDF. 0 <= mean and 0 <= stddev, and Max must not exceed
// DelayLimit; stddev 0 gives Constant(mean).
func Normal(mean, stddev time.Duration) (Delay, error) {
	if err := checkDur("normal mean", mean); err != nil {
		return nil, err
	}
	if err := checkDur("normal stddev", stddev); err != nil {
		return nil, err
	}
	if stddev == 0 {
		return Constant(mean)
	}
	mu, sd := float64(mean), float64(stddev)
	a := stdPhi(-mu / sd) // mass below 0
	// The conditional distribution given x >= 0, with quantile
	// qc(v) = mu + sd*Phi^-1(a + v(1-a)); then keep v in [e, 1-e].
	qc := func(v float64) float64 { return mu + sd*stdPhiInv(a+v*(1-a)) }
	lo := math.Max(0, qc(TailMass))
	if a >= TailMass { // the truncation at 0 already bounds the lower tail
		lo = 0
	}
	hi := qc(1 - TailMass)
	if hi > float64(DelayLimit) {
		return nil, fmt.Errorf("normal(mean=%v, stddev=%v) reaches %v: want its 1-2^-20 quantile <= %v", mean, stddev, time.Duration(hi), DelayLimit)
	}
	pl, ph := stdPhi((lo-mu)/sd), stdPhi((hi-mu)/sd)
	span := ph - pl
	if !(span > 0) {
		return nil, fmt.Errorf("normal(mean=%v, stddev=%v): the distribution is too narrow to tabulate: want stddev > 0 and mean/stddev < 1e6", mean, stddev)
	}
	q := func(u float64) float64 {
		p := pl + u*span
		if u <= 0 {
			return lo
		}
		if u >= 1 {
			return hi
		}
		x := mu + sd*stdPhiInv(p)
		return math.Min(math.Max(x, lo), hi)
	}
	cdf := func(x float64) float64 {
		if x < lo {
			return 0
		}
		if x >= hi {
			return 1
		}
		return (stdPhi((x-mu)/sd) - pl) / span
	}
	al, be := (lo-mu)/sd, (hi-mu)/sd
	m := mu + sd*(stdpdf(al)-stdpdf(be))/span
	name := "normal(mean=" + ds(mu) + ", stddev=" + ds(sd) + ")"
	return newTable(name, q, cdf, m), nil
}

// ---- Pareto ----

// Pareto returns the Pareto distribution with minimum scale and tail
// index shape, x = scale/(1-u)^(1/shape), with its upper tail cut at
// probability TailMass (the conditional distribution given
// x <= scale*TailMass^(-1/shape), which is Max). shape must be > 1 so
// that the mean is finite (and <= 1000), 0 <= scale, and Max must not
// exceed DelayLimit. It is sampled from a table of the inverse CDF.
func Pareto(scale time.Duration, shape float64) (Delay, error) {
	if err := checkDur("pareto scale", scale); err != nil {
		return nil, err
	}
	if !(shape > 1 && shape <= 1000) {
		return nil, fmt.Errorf("pareto shape %v out of range: want 1 < shape <= 1000 (the mean is infinite for shape <= 1)", shape)
	}
	if scale == 0 {
		return Constant(0)
	}
	s := float64(scale)
	hi := s * math.Pow(TailMass, -1/shape)
	if hi > float64(DelayLimit) {
		return nil, fmt.Errorf("pareto(scale=%v, shape=%v) reaches %v: want scale*2^(20/shape) <= %v", scale, shape, time.Duration(hi), DelayLimit)
	}
	keep := 1 - TailMass
	q := func(u float64) float64 {
		if u >= 1 {
			return hi
		}
		return math.Min(s*math.Pow(1-u*keep, -1/shape), hi)
	}
	cdf := func(x float64) float64 {
		if x < s {
			return 0
		}
		if x >= hi {
			return 1
		}
		return -math.Expm1(shape*math.Log(s/x)) / keep
	}
	m := shape * s / (shape - 1) * (1 - math.Pow(TailMass, (shape-1)/shape)) / keep
	name := fmt.Sprintf("pareto(scale=%s, shape=%g)", ds(s), shape)
	return newTable(name, q, cdf, m), nil
}

// ---- empirical ----

type empiricalDelay struct {
	xs   []float64 // sorted samples, ns
	mean float64
}

// Empirical returns the distribution whose CDF is piecewise linear
// through the sorted samples x_0 <= ... <= x_(n-1), rising by 1/(n-1)
// from each to the next: F(x_k) = k/(n-1). Repeated samples make an atom.
// At least 2 samples, each in [0, DelayLimit]. The slice is copied.
// Quantile interpolates directly between neighbouring samples, so it
// needs no table.
func Empirical(samples []time.Duration) (Delay, error) {
	if len(samples) < 2 {
		return nil, fmt.Errorf("empirical delay: %d samples: want at least 2", len(samples))
	}
	xs := make([]float64, len(samples))
	for i, s := range samples {
		if err := checkDur("empirical sample", s); err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		xs[i] = float64(s)
	}
	slices.Sort(xs)
	sum := 0.0
	for k := 0; k+1 < len(xs); k++ {
		sum += (xs[k] + xs[k+1]) / 2
	}
	return &empiricalDelay{xs: xs, mean: sum / float64(len(xs)-1)}, nil
}

func (d *empiricalDelay) Quantile(u float64) int64 {
	pos := clampU(u) * float64(len(d.xs)-1)
	k := int(pos)
	f := pos - float64(k)
	return roundNS(d.xs[k] + f*(d.xs[k+1]-d.xs[k]))
}

func (d *empiricalDelay) CDF(x int64) float64 {
	f := float64(x)
	n := len(d.xs)
	if f < d.xs[0] {
		return 0
	}
	if f >= d.xs[n-1] {
		return 1
	}
	// k: the last index with xs[k] <= f; then xs[k+1] > f.
	k, _ := slices.BinarySearchFunc(d.xs, f, func(e, t float64) int {
		if e <= t {
			return -1
		}
		return 1
	})
	k--
	return (float64(k) + (f-d.xs[k])/(d.xs[k+1]-d.xs[k])) / float64(n-1)
}

func (d *empiricalDelay) Mean() float64 { return d.mean }
func (d *empiricalDelay) Max() int64    { return int64(d.xs[len(d.xs)-1]) }
func (d *empiricalDelay) String() string {
	n := len(d.xs)
	return fmt.Sprintf("empirical(n=%d, min=%s, median=%s, max=%s)", n, ds(d.xs[0]), ds(d.xs[n/2]), ds(d.xs[n-1]))
}

// EmpiricalForms describes the file format ReadEmpirical accepts.
const EmpiricalForms = "one duration with a unit per line, such as 1.5ms or 800us (" + units.DurationForms + "); '#' starts a comment; blank lines are skipped"

// ReadEmpirical reads delay samples from a file, one duration with a unit
// per line (see EmpiricalForms), and returns Empirical of them. Text from
// '#' to the end of a line is a comment; blank lines are skipped. Errors
// name path:line.
func ReadEmpirical(path string) (Delay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var xs []time.Duration
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		d, err := units.ParseDuration(s)
		if err == nil {
			err = checkDur("sample", time.Duration(d))
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		xs = append(xs, time.Duration(d))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	if len(xs) == 0 {
		return nil, fmt.Errorf("%s: no samples: want %s", path, EmpiricalForms)
	}
	d, err := Empirical(xs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}
