package plot

import (
	"math"
	"strconv"

	gplot "gonum.org/v1/plot"
)

// ticker puts about n labelled ticks on an axis at 1, 2, 2.5 or 5 times a
// power of ten, all labels with the same number of decimals, and minor
// ticks between them. (gonum's default aims at 3 labels and formats them
// with more decimals than the step needs.)
type ticker struct{ n int }

func (t ticker) Ticks(lo, hi float64) []gplot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []gplot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 6, 64)}}
	}
	raw := (hi - lo) / float64(max(t.n, 1))
	e := int(math.Floor(math.Log10(raw)))
	pow := math.Pow(10, float64(e))
	m, minors := 10.0, 5
	for _, c := range []struct {
		m      float64
		minors int
	}{{1, 5}, {2, 4}, {2.5, 5}, {5, 5}} {
		if c.m*pow >= raw*(1-1e-9) {
			m, minors = c.m, c.minors
			break
		}
	}
	if m == 10 {
		m, e, pow = 1, e+1, pow*10
	}
	step := m * pow
	frac := -e // decimals of the step
	if m == 2.5 {
		frac++
	}
	decimals := max(0, frac)
	label := func(v float64) string {
		if decimals > 6 || math.Abs(v) >= 1e12 {
			return strconv.FormatFloat(v, 'g', 4, 64)
		}
		return strconv.FormatFloat(v, 'f', decimals, 64)
	}
	eps := step * 1e-9
	var ticks []gplot.Tick
	first := math.Floor(lo / step)
	for k := first; k*step <= hi+eps; k++ {
		v := k * step
		for j := range minors {
			mv := v + float64(j)*step/float64(minors)
			if mv < lo-eps || mv > hi+eps {
				continue
			}
			if j == 0 {
				if v == 0 {
					v = 0 // no "-0"
				}
				ticks = append(ticks, gplot.Tick{Value: v, Label: label(v)})
			} else {
				ticks = append(ticks, gplot.Tick{Value: mv})
			}
		}
	}
	return ticks
}
