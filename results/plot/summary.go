package plot

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// table is a figure CSV read as text, for the kinds whose columns are not
// all numbers.
type table struct {
	header []string
	rows   [][]string
	lines  []int // the input line of each row
}

func readTable(b []byte) (*table, error) {
	r := csv.NewReader(bytes.NewReader(b))
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("line 1: empty input, want a header line")
	}
	if err != nil {
		return nil, csvError(err)
	}
	t := &table{header: header}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		ln, _ := r.FieldPos(0)
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, ln)
	}
}

func (t *table) col(name string) (int, error) {
	if i := slices.Index(t.header, name); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("line 1: no column %q (header: %s)", name, strings.Join(t.header, ","))
}

func (t *table) cols(names []string) ([]int, error) {
	out := make([]int, len(names))
	for k, n := range names {
		i, err := t.col(n)
		if err != nil {
			return nil, err
		}
		out[k] = i
	}
	return out, nil
}

// num parses field i of row k as a finite number.
func (t *table) num(k, i int) (float64, error) {
	v, err := strconv.ParseFloat(t.rows[k][i], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("line %d: column %s: bad number %q", t.lines[k], t.header[i], t.rows[k][i])
	}
	return v, nil
}

// groupOf returns the index of row k's group (the values of columns gi)
// in groups, appending it when new.
func groupOf(t *table, k int, gi []int, groups *[][]string, index map[string]int) int {
	key := make([]string, len(gi))
	for j, i := range gi {
		key[j] = t.rows[k][i]
	}
	s := strings.Join(key, "\x00")
	g, ok := index[s]
	if !ok {
		g = len(*groups)
		index[s] = g
		*groups = append(*groups, key)
	}
	return g
}

// panel is the one plot of a lines, bars or histogram figure, styled as
// the cdf figure's.
func panel(x, y string) *gplot.Plot {
	p := newPlot("", x, y)
	p.X.Label.TextStyle.Font.Size = 10
	p.Y.Label.TextStyle.Font.Size = 10
	p.X.Tick.Label.Font.Size = 9
	p.Y.Tick.Label.Font.Size = 9
	p.Legend.TextStyle.Font.Size = 9
	return p
}

// onePanel is a figure of one panel of width w below the header.
func onePanel(f Figure, w vg.Length, build func() *gplot.Plot) figure {
	return figure{w: w, h: CDFHeight + HeaderHeight, draw: func(c draw.Canvas) {
		c = drawHeader(c, f)
		p := build()
		pad := vg.Points(8)
		p.Draw(draw.Crop(c, pad, -pad, pad, 0))
	}}
}

// logAxis puts a on a log scale over [lo, hi] (widened by a factor of 2
// each way when it is one value).
func logAxis(a *gplot.Axis, lo, hi float64) {
	if lo == hi {
		lo, hi = lo/2, hi*2
	}
	a.Scale = gplot.LogScale{}
	a.Tick.Marker = logTicker{}
	a.Min, a.Max = lo, hi
}

// readSummary reads the CSV of a lines or bars figure and finds its X, Y
// and group columns.
func readSummary(b []byte, f Figure) (t *table, xi, yi int, gi []int, err error) {
	if t, err = readTable(b); err != nil {
		return nil, 0, 0, nil, err
	}
	if xi, err = t.col(f.X); err != nil {
		return nil, 0, 0, nil, err
	}
	if yi, err = t.col(f.Y); err != nil {
		return nil, 0, 0, nil, err
	}
	if gi, err = t.cols(f.Groups); err != nil {
		return nil, 0, 0, nil, err
	}
	return t, xi, yi, gi, nil
}

// linesFigure draws a metric (Y) against a sweep parameter (X, labels
// such as "1Gbps" read with ParseValue), one line per group, points in
// order of X.
func linesFigure(b []byte, f Figure) (figure, bool, error) {
	t, xi, yi, gi, err := readSummary(b, f)
	if err != nil || len(t.rows) == 0 {
		return figure{}, err == nil, err
	}
	labels := make([]string, len(t.rows))
	for k, r := range t.rows {
		labels[k] = r[xi]
	}
	xs, dim, err := ParseValues(labels)
	if err != nil {
		return figure{}, false, fmt.Errorf("column %s: %w", f.X, err)
	}
	div, unit := displayUnit(dim, xs)
	var groups [][]string
	index := map[string]int{}
	var pts [][]Point
	for k := range t.rows {
		y, err := t.num(k, yi)
		if err != nil {
			return figure{}, false, err
		}
		if f.LogX && xs[k] <= 0 {
			return figure{}, false, fmt.Errorf("line %d: log x axis: %s = %s is not above 0", t.lines[k], f.X, labels[k])
		}
		if f.LogY && y <= 0 {
			return figure{}, false, fmt.Errorf("line %d: log y axis: %s = %s (at %s = %s) is not above 0", t.lines[k], f.Y, t.rows[k][yi], f.X, labels[k])
		}
		g := groupOf(t, k, gi, &groups, index)
		if g == len(pts) {
			pts = append(pts, nil)
		}
		pts[g] = append(pts[g], Point{xs[k] / div, y})
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, l := range pts {
		sortByX(l)
		for _, p := range l {
			xmin, xmax = min(xmin, p.X), max(xmax, p.X)
			ymin, ymax = min(ymin, p.Y), max(ymax, p.Y)
		}
	}
	xlabel := f.X
	if unit != "" {
		xlabel += " (" + unit + ")"
	}
	return onePanel(f, PanelWidth, func() *gplot.Plot {
		p := panel(f.X, f.Y)
		p.X.Label.Text = xlabel
		// The legend goes in the top corner the lines leave free: left
		// when they rise.
		p.Legend.Top, p.Legend.Left = true, rising(pts, f.LogY)
		p.Legend.XOffs = vg.Points(6)
		if !p.Legend.Left {
			p.Legend.XOffs = -vg.Points(6)
		}
		for g, l := range pts {
			st := styleOf(g)
			xys := xyOf(l)
			ln := &plotter.Line{XYs: xys, LineStyle: st.line(vg.Points(1.2))}
			sc := &plotter.Scatter{XYs: xys, GlyphStyle: draw.GlyphStyle{Color: st.color, Radius: vg.Points(2.2), Shape: st.glyph}}
			p.Add(ln, sc)
			if len(f.Groups) > 0 {
				p.Legend.Add(groupLabel(f.Groups, groups[g]), ln, sc)
			}
		}
		if f.LogX {
			logAxis(&p.X, xmin, xmax)
		}
		if f.LogY {
			logAxis(&p.Y, ymin, ymax)
		}
		return p
	}), false, nil
}

// rising reports whether the lines end higher than they start, on the
// whole (each line's last y against its first, in log units on a log
// axis).
func rising(lines [][]Point, logY bool) bool {
	d := 0.0
	for _, l := range lines {
		a, b := l[0].Y, l[len(l)-1].Y
		if logY {
			a, b = math.Log(a), math.Log(b)
		}
		d += b - a
	}
	return d > 0
}

// Glyph shapes, one per line, so lines stay apart in grey print.
var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

// barsFigure draws grouped bars: one group per value of the X column (in
// order of first appearance), one bar per group of the Groups columns
// within it, of height Y (from 0, so on a linear axis).
func barsFigure(b []byte, f Figure) (figure, bool, error) {
	t, xi, yi, gi, err := readSummary(b, f)
	if err != nil || len(t.rows) == 0 {
		return figure{}, err == nil, err
	}
	type bar struct {
		at, by int
		y      float64
	}
	var cats []string
	var bys [][]string
	byIndex := map[string]int{}
	var bars []bar
	for k, r := range t.rows {
		y, err := t.num(k, yi)
		if err != nil {
			return figure{}, false, err
		}
		at := slices.Index(cats, r[xi])
		if at < 0 {
			at = len(cats)
			cats = append(cats, r[xi])
		}
		bars = append(bars, bar{at: at, by: groupOf(t, k, gi, &bys, byIndex), y: y})
	}
	n := len(cats) * len(bys)
	w := max(PanelWidth, vg.Length(n)*0.22*vg.Inch+vg.Inch)
	// Bars fill 80 % of each group's slot in the plotting area (about the
	// figure less an inch of axis and margins).
	bw := min((w-vg.Inch)*0.8/vg.Length(n), 0.6*vg.Inch)
	return onePanel(f, w, func() *gplot.Plot {
		p := panel(f.X, f.Y)
		p.Legend.Top, p.Legend.Left = true, false
		p.NominalX(cats...)
		p.X.Label.Text = f.X
		inLegend := map[int]bool{}
		for _, br := range bars {
			st := styleOf(br.by)
			bc, _ := plotter.NewBarChart(plotter.Values{br.y}, bw)
			bc.XMin = float64(br.at)
			bc.Offset = (vg.Length(br.by) - vg.Length(len(bys)-1)/2) * bw
			bc.Color = st.fill()
			bc.LineStyle = st.line(vg.Points(0.8))
			p.Add(bc)
			if len(f.Groups) > 0 && !inLegend[br.by] {
				inLegend[br.by] = true
				p.Legend.Add(groupLabel(f.Groups, bys[br.by]), bc)
			}
		}
		// Room for a bar at each end, and for the legend above the bars.
		p.X.Min, p.X.Max = -0.5, float64(len(cats))-0.5
		if len(f.Groups) > 0 && p.Y.Max > 0 {
			p.Y.Max *= 1 + 0.08*float64(len(bys))
		}
		return p
	}), false, nil
}

// bin is one histogram bin: [lo, hi) holding n values.
type bin struct{ lo, hi, n float64 }

// logBins reports whether every group's bins above 0 are spaced evenly on
// a log scale (the same ratio hi/lo, more than one bin): the runner's
// binning of values that span decades, drawn on a log x axis. A bin at
// or below 0 (lo = hi = 0 holds the values at or below 0) is not counted.
func logBins(groups [][]bin) bool {
	ratio, n := 0.0, 0
	for _, bs := range groups {
		for _, b := range bs {
			if b.lo <= 0 {
				continue
			}
			r := b.hi / b.lo
			if n == 0 {
				ratio = r
			} else if math.Abs(r-ratio) > 1e-6*ratio {
				return false
			}
			n++
		}
	}
	return n > 1 && ratio > 1+1e-9
}

// histogramFigure draws binned counts (columns bin_lo, bin_hi, count) as
// a step line per group. On a log y axis, empty bins are left out.
func histogramFigure(b []byte, f Figure) (figure, bool, error) {
	t, err := readTable(b)
	if err != nil {
		return figure{}, false, err
	}
	var idx [3]int
	for j, c := range []string{"bin_lo", "bin_hi", "count"} {
		if idx[j], err = t.col(c); err != nil {
			return figure{}, false, err
		}
	}
	gi, err := t.cols(f.Groups)
	if err != nil {
		return figure{}, false, err
	}
	if len(t.rows) == 0 {
		return figure{}, true, nil
	}
	var groups [][]string
	index := map[string]int{}
	var bins [][]bin
	ymax := 0.0
	for k := range t.rows {
		var v [3]float64
		for j, i := range idx {
			if v[j], err = t.num(k, i); err != nil {
				return figure{}, false, err
			}
		}
		if v[1] < v[0] || v[2] < 0 {
			return figure{}, false, fmt.Errorf("line %d: want bin_lo <= bin_hi and count >= 0", t.lines[k])
		}
		g := groupOf(t, k, gi, &groups, index)
		if g == len(bins) {
			bins = append(bins, nil)
		}
		bins[g] = append(bins[g], bin{v[0], v[1], v[2]})
		ymax = max(ymax, v[2])
	}
	if f.LogY && ymax == 0 {
		return figure{}, false, errors.New("log y axis: every bin is empty")
	}
	logX, note := false, ""
	if !f.LinearX && (logBins(bins) || f.LogX) {
		logX = true
		left := 0.0
		for g, bs := range bins {
			bins[g] = slices.DeleteFunc(bs, func(b bin) bool {
				if b.lo > 0 {
					return false
				}
				left += b.n
				return true
			})
		}
		note = leftOutNote(0, int(left), false)
	}
	// Step lines: each bin's top, joined by verticals; down to 0 at both
	// ends on a linear axis, and broken at empty bins on a log one.
	var pieces [][]plotter.XYs
	xlo, xhi := math.Inf(1), math.Inf(-1)
	for _, bs := range bins {
		if len(bs) == 0 {
			pieces = append(pieces, nil)
			continue
		}
		slices.SortStableFunc(bs, func(a, b bin) int { return cmpX(Point{X: a.lo}, Point{X: b.lo}) })
		xlo, xhi = min(xlo, bs[0].lo), max(xhi, bs[len(bs)-1].hi)
		var ps []plotter.XYs
		var cur plotter.XYs
		if !f.LogY {
			cur = plotter.XYs{{X: bs[0].lo, Y: 0}}
		}
		for _, b := range bs {
			if f.LogY && b.n == 0 {
				if len(cur) > 0 {
					ps = append(ps, cur)
				}
				cur = nil
				continue
			}
			cur = append(cur, plotter.XY{X: b.lo, Y: b.n}, plotter.XY{X: b.hi, Y: b.n})
		}
		if !f.LogY {
			cur = append(cur, plotter.XY{X: bs[len(bs)-1].hi, Y: 0})
		}
		if len(cur) > 0 {
			ps = append(ps, cur)
		}
		pieces = append(pieces, ps)
	}
	return onePanel(f, PanelWidth, func() *gplot.Plot {
		p := panel(f.X, "packets per bin")
		p.Legend.Top, p.Legend.Left = true, false
		for g, ps := range pieces {
			var first *plotter.Line
			for _, xys := range ps {
				ln := addLine(p, xys, styleOf(g).line(vg.Points(1.2)))
				if first == nil {
					first = ln
				}
			}
			if len(f.Groups) > 0 && first != nil {
				p.Legend.Add(groupLabel(f.Groups, groups[g]), first)
			}
		}
		if f.LogY {
			logAxis(&p.Y, 0.8, ymax)
		} else {
			p.Y.Min = 0
		}
		if logX && xlo < xhi {
			logAxis(&p.X, xlo, xhi)
			p.X.Label.Text += " — " + note
		}
		return p
	}), false, nil
}
