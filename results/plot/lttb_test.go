package plot

import (
	"math"
	"slices"
	"testing"
)

func ramp(n int, y func(i int) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{float64(i), y(i)}
	}
	return pts
}

func TestLTTBShortInputUnchanged(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5, 100} {
		pts := ramp(n, func(i int) float64 { return float64(i * i) })
		got := LTTB(pts, 100)
		if len(got) != n || (n > 0 && &got[0] != &pts[0]) {
			t.Errorf("n=%d: got %d points (or a copy), want the input", n, len(got))
		}
	}
}

func TestLTTBLengthAndEnds(t *testing.T) {
	pts := ramp(10_000, func(i int) float64 { return math.Sin(float64(i) / 50) })
	for _, th := range []int{3, 4, 10, 999, 2000, 9_999} {
		got := LTTB(pts, th)
		if len(got) != th {
			t.Errorf("threshold %d: %d points", th, len(got))
			continue
		}
		if got[0] != pts[0] || got[len(got)-1] != pts[len(pts)-1] {
			t.Errorf("threshold %d: ends %v %v, want %v %v", th, got[0], got[len(got)-1], pts[0], pts[len(pts)-1])
		}
		if !slices.IsSortedFunc(got, cmpX) {
			t.Errorf("threshold %d: output not in x order", th)
		}
		for i := 1; i < len(got); i++ {
			if got[i].X == got[i-1].X {
				t.Errorf("threshold %d: point %v kept twice", th, got[i])
			}
		}
	}
	if got := LTTB(pts, 2); len(got) != 2 || got[0] != pts[0] || got[1] != pts[len(pts)-1] {
		t.Errorf("threshold 2: %v", got)
	}
}

func TestLTTBKeepsSpike(t *testing.T) {
	for _, at := range []int{1, 2, 4_999, 5_000, 7_777, 9_997, 9_998} {
		pts := ramp(10_000, func(i int) float64 {
			if i == at {
				return 100
			}
			return 0
		})
		got := LTTB(pts, 100)
		if !slices.Contains(got, Point{float64(at), 100}) {
			t.Errorf("spike at %d lost", at)
		}
		// A dip survives too.
		pts[at].Y = -100
		if got := LTTB(pts, 100); !slices.Contains(got, Point{float64(at), -100}) {
			t.Errorf("dip at %d lost", at)
		}
	}
}

func TestLTTBPicksLargestTriangle(t *testing.T) {
	// 5 points, threshold 3: one bucket of the 3 inner points; the middle
	// point is the one farthest off the line from the first to the last.
	pts := []Point{{0, 0}, {1, 1}, {2, 5}, {3, 2}, {4, 0}}
	got := LTTB(pts, 3)
	want := []Point{{0, 0}, {2, 5}, {4, 0}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
