package plot

import (
	"math"
	"strconv"
	"strings"

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

// logTicker marks a log axis: a labelled tick at each power of ten (every
// few powers over many decades), at 2 and 5 times them too over two
// decades or less, at every integer multiple over less than one, and
// unlabelled ticks at the other integer multiples.
type logTicker struct{}

func (logTicker) Ticks(lo, hi float64) []gplot.Tick {
	if !(lo > 0) || !(hi >= lo) || math.IsInf(hi, 0) {
		return ticker{n: 4}.Ticks(lo, hi)
	}
	e0, e1 := int(math.Floor(math.Log10(lo)+1e-9)), int(math.Ceil(math.Log10(hi)-1e-9))
	decades := e1 - e0
	every := max(1, (decades+5)/6) // label every n-th power: at most about 6 labels
	eps := 1e-9
	var ticks []gplot.Tick
	collect := func(label func(m, e int) bool) {
		ticks = ticks[:0]
		for e := e0; e <= e1; e++ {
			for m := 1; m <= 9; m++ {
				// Parsed, so that 5e-6 is the float nearest it.
				v, _ := strconv.ParseFloat(strconv.Itoa(m)+"e"+strconv.Itoa(e), 64)
				if v < lo*(1-eps) || v > hi*(1+eps) {
					continue
				}
				t := gplot.Tick{Value: v}
				if label(m, e) {
					t.Label = logLabel(v)
				}
				if m == 1 || every == 1 {
					ticks = append(ticks, t)
				}
			}
		}
	}
	labelled := func() int {
		n := 0
		for _, t := range ticks {
			if t.Label != "" {
				n++
			}
		}
		return n
	}
	collect(func(m, e int) bool { return m == 1 && (e-e0)%every == 0 || decades <= 2 && (m == 2 || m == 5) })
	if labelled() < 2 {
		collect(func(m, e int) bool { return true })
	}
	return ticks
}

// logLabel writes a tick value plainly between 0.001 and 99999, else as
// 1e6 or 2.5e-05 without the + and leading zeros of %g.
func logLabel(v float64) string {
	if v >= 1e-3 && v < 1e5 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	exp = strings.TrimLeft(exp[1:], "0")
	return mant + "e" + sign + exp
}
