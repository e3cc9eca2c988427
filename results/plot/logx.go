package plot

import (
	"fmt"
	"math"
)

// AutoLogDecades is how many decades the positive values of a cdf or
// histogram figure must span for its x axis to be a log one by default.
const AutoLogDecades = 2

// maxLeftOut is the largest share of values at or below 0 that a log x
// axis chosen by default may leave out.
const maxLeftOut = 0.25

// xScale is the x axis of a cdf or histogram figure.
type xScale struct {
	log bool
	// leftOut describes what a log axis does not show ("" if nothing).
	leftOut string
}

// chooseLogX decides the x axis of a cdf or histogram figure whose
// values are xs (weights, if not nil, count each value that many times):
// log when f.LogX says so, linear when f.LinearX does, else log when the
// positive values span more than AutoLogDecades decades and at most
// maxLeftOut of the values are at or below 0.
func chooseLogX(f Figure, xs, weights []float64) bool {
	lo, hi := math.Inf(1), 0.0
	var pos, all float64
	for i, x := range xs {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		all += w
		if x > 0 && w > 0 {
			lo, hi = min(lo, x), max(hi, x)
			pos += w
		}
	}
	return WantLogX(f, lo, hi, all-pos, all)
}

// WantLogX is the x axis rule of cdf and histogram figures, for values
// whose positive ones lie in [lo, hi], nonPos of all at or below 0: log
// when f.LogX says so, linear when f.LinearX does, else log when hi/lo
// is more than 10^AutoLogDecades and nonPos is at most a quarter of all.
// (A histogram's bins are spaced to match; see histogramFigure.)
func WantLogX(f Figure, lo, hi, nonPos, all float64) bool {
	switch {
	case f.LinearX:
		return false
	case f.LogX:
		return true
	case !(lo > 0) || hi < lo || all <= 0 || nonPos > maxLeftOut*all:
		return false
	}
	return hi/lo > math.Pow(10, AutoLogDecades)
}

// leftOutNote says what a log axis leaves out: a share of the packets
// (for a cdf, whose y is the fraction of packets) or a count of points.
func leftOutNote(frac float64, n int, packets bool) string {
	switch {
	case packets && frac > 0:
		return fmt.Sprintf("log scale; x ≤ 0 not shown (%.3g %% of packets)", frac*100)
	case !packets && n > 0:
		return fmt.Sprintf("log scale; %d packets with x ≤ 0 not shown", n)
	}
	return "log scale"
}

// positive keeps the points of pts with x > 0 and returns them with the
// largest y of those left out (a cdf's share of packets at or below 0)
// and how many were left out.
func positive(pts []Point) (kept []Point, maxY float64, n int) {
	kept = make([]Point, 0, len(pts))
	for _, p := range pts {
		if p.X > 0 {
			kept = append(kept, p)
			continue
		}
		maxY = max(maxY, p.Y)
		n++
	}
	return kept, maxY, n
}
