package plot

import "math"

// Point is one (x, y) sample of a series.
type Point struct{ X, Y float64 }

// LTTB downsamples pts to threshold points with Largest-Triangle-Three-
// Buckets, which keeps the visual shape of a line (spikes survive, flat
// stretches thin out). pts must be sorted by X.
//
// The first and last points are always kept. The points between them are
// cut into threshold-2 buckets of (nearly) equal count; from each bucket the
// point is kept that forms the largest triangle with the point kept from
// the previous bucket and the average of the next bucket (the last point
// stands in for the bucket after the last).
//
// If len(pts) <= threshold the input itself is returned. Otherwise the
// result is a new slice of exactly threshold points, except that a
// threshold below 3 keeps just the first and last points.
func LTTB(pts []Point, threshold int) []Point {
	n := len(pts)
	if n <= threshold || n <= 2 {
		return pts
	}
	if threshold < 3 {
		return []Point{pts[0], pts[n-1]}
	}
	out := make([]Point, 0, threshold)
	out = append(out, pts[0])
	// Bucket i (0-based) covers pts[lo(i):lo(i+1)] of the inner points
	// pts[1:n-1].
	// (Integer arithmetic: lo(threshold-2) is exactly n-1.)
	lo := func(i int) int { return i*(n-2)/(threshold-2) + 1 }
	a := pts[0]
	for i := 0; i < threshold-2; i++ {
		// Average of the next bucket; for the last bucket, the last point.
		nlo, nhi := lo(i+1), lo(i+2)
		if i == threshold-3 {
			nlo, nhi = n-1, n
		}
		var ax, ay float64
		for _, p := range pts[nlo:nhi] {
			ax += p.X
			ay += p.Y
		}
		cnt := float64(nhi - nlo)
		ax /= cnt
		ay /= cnt

		best, bestArea := lo(i), -1.0
		for j := lo(i); j < lo(i+1); j++ {
			p := pts[j]
			// Twice the triangle's area; the factor does not change the max.
			area := math.Abs((a.X-ax)*(p.Y-a.Y) - (a.X-p.X)*(ay-a.Y))
			if area > bestArea {
				best, bestArea = j, area
			}
		}
		a = pts[best]
		out = append(out, a)
	}
	return append(out, pts[n-1])
}
