// Package figure shapes the data of a declared figure (plots/<name>.csv)
// from a result folder's runs and per-packet series.
package figure

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/results/plot"
)

// FigureData shapes one declared figure's data as the CSV of
// plots/<name>.csv: from the per-packet series of the result folder dir
// (so a stored folder can be re-plotted without running anything) or,
// for lines and bars, from the runs' metrics.
func FigureData(dir string, f results.FigureSpec, rows []results.Row) ([]byte, error) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	var err error
	switch f.Kind {
	case "series", "cdf":
		err = writePacketFigure(w, dir, f, rows)
	case "lines", "bars":
		err = writeSummaryFigure(w, f, rows)
	case "histogram":
		err = writeHistogram(w, dir, f, rows)
	default:
		err = fmt.Errorf("figure %s: unknown kind %q", f.Name, f.Kind)
	}
	if err == nil {
		err = w.Flush()
	}
	return b.Bytes(), err
}

// writePacketFigure writes a series or cdf figure: per run, its
// per-packet values or their distribution.
func writePacketFigure(w *bufio.Writer, dir string, f results.FigureSpec, rows []results.Row) error {
	cols := append([]string{"run"}, f.Facet...)
	switch f.Kind {
	case "series":
		w.WriteString(strings.Join(append(cols, "packet", "time_s", f.Y), ",") + "\n")
	case "cdf":
		w.WriteString(strings.Join(append(cols, f.X, "cdf"), ",") + "\n")
	}
	for _, r := range rows {
		if !results.Matches(r.Params, f.Where) {
			continue
		}
		s, err := results.ReadSeries(filepath.Join(dir, "series", r.ID+".csv"))
		if err != nil {
			return err
		}
		prefix := r.ID
		for _, k := range f.Facet {
			prefix += "," + csvField(r.Params[k])
		}
		v := f.Y
		if f.Kind == "cdf" {
			v = f.X
		}
		vals := s.Column(seriesColumn(v))
		if vals == nil {
			continue // this run did not record the value
		}
		switch f.Kind {
		case "series":
			for i := range vals {
				if vals[i] != results.Missing {
					fmt.Fprintf(w, "%s,%d,%s,%s\n", prefix, i, fnum(float64(s.Sched[i])/1e9), fnum(float64(vals[i])/1e3))
				}
			}
		case "cdf":
			sorted := slices.DeleteFunc(slices.Clone(vals), func(x int64) bool { return x == results.Missing })
			if len(sorted) == 0 {
				continue
			}
			slices.Sort(sorted)
			for _, k := range cdfRanks(len(sorted)) {
				fmt.Fprintf(w, "%s,%s,%s\n", prefix, fnum(float64(sorted[k])/1e3), fnum(float64(k+1)/float64(len(sorted))))
			}
		}
	}
	return nil
}

// writeSummaryFigure writes a lines or bars figure: one row per point or
// bar, the median of the metric over the runs that share its parameters
// (repeats), and how many runs that was.
//
//	lines: <by...>,<x>,<y>,runs   (rows by line, then by x)
//	bars:  <groups>,<by...>,<y>,runs
func writeSummaryFigure(w *bufio.Writer, f results.FigureSpec, rows []results.Row) error {
	keys := append(slices.Clone(f.Facet), f.X)
	if f.Kind == "bars" {
		keys = append([]string{f.X}, f.Facet...)
	}
	w.WriteString(strings.Join(append(slices.Clone(keys), f.Y, "runs"), ",") + "\n")
	type point struct {
		params []string
		vals   []float64
	}
	var points []*point
	index := map[string]*point{}
	for _, r := range rows {
		v, ok := r.Metrics[f.Y]
		if !ok || math.IsNaN(v) || !results.Matches(r.Params, f.Where) {
			continue
		}
		params := make([]string, len(keys))
		for i, k := range keys {
			params[i] = r.Params[k]
		}
		k := strings.Join(params, "\x00")
		pt := index[k]
		if pt == nil {
			pt = &point{params: params}
			index[k] = pt
			points = append(points, pt)
		}
		pt.vals = append(pt.vals, v)
	}
	if f.Kind == "bars" {
		// Bars by group, groups in order of first appearance (sweep order).
		at := map[string]int{}
		for _, pt := range points {
			if _, ok := at[pt.params[0]]; !ok {
				at[pt.params[0]] = len(at)
			}
		}
		slices.SortStableFunc(points, func(a, b *point) int { return at[a.params[0]] - at[b.params[0]] })
	}
	if f.Kind == "lines" {
		// Lines in order of first appearance, each sorted by x (the
		// labels were checked to parse when the plan was made).
		line := map[string]int{}
		xval := map[*point]float64{}
		for _, pt := range points {
			k := strings.Join(pt.params[:len(f.Facet)], "\x00")
			if _, ok := line[k]; !ok {
				line[k] = len(line)
			}
			xval[pt], _, _ = plot.ParseValue(pt.params[len(f.Facet)])
		}
		slices.SortStableFunc(points, func(a, b *point) int {
			la, lb := line[strings.Join(a.params[:len(f.Facet)], "\x00")], line[strings.Join(b.params[:len(f.Facet)], "\x00")]
			if la != lb {
				return la - lb
			}
			return cmpFloat(xval[a], xval[b])
		})
	}
	for _, pt := range points {
		for _, v := range pt.params {
			w.WriteString(csvField(v) + ",")
		}
		fmt.Fprintf(w, "%s,%d\n", fnum(results.Median(pt.vals)), len(pt.vals))
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeHistogram writes a histogram figure: the per-packet values of the
// runs of each group (the by parameters) pooled and counted in f.Bins
// bins spanning every group's values, one row per group and bin: of equal
// width, or, when the values span decades (plot.WantLogX), evenly spaced
// on a log scale over the positive values, with a row 0,0 before them
// counting the values at or below 0:
//
//	<by...>,bin_lo,bin_hi,count   (bin edges in the value's unit, µs)
//
// The series are read twice (range, then counts) rather than held.
func writeHistogram(w *bufio.Writer, dir string, f results.FigureSpec, rows []results.Row) error {
	w.WriteString(strings.Join(append(slices.Clone(f.Facet), "bin_lo", "bin_hi", "count"), ",") + "\n")
	col := seriesColumn(f.X)
	each := func(fn func(r results.Row, vals []int64)) error {
		for _, r := range rows {
			s, err := results.ReadSeries(filepath.Join(dir, "series", r.ID+".csv"))
			if err != nil {
				return err
			}
			if vals := s.Column(col); vals != nil {
				fn(r, vals)
			}
		}
		return nil
	}
	sp := valueSpan{lo: math.MaxInt64, hi: math.MinInt64, posLo: math.MaxInt64}
	if err := each(func(_ results.Row, vals []int64) { sp.add(vals) }); err != nil {
		return err
	}
	if sp.lo > sp.hi {
		return nil // no run recorded the value: a header only
	}
	hb := newHistBins(f, sp)
	bins := hb.n
	below := map[string]int64{} // log bins: values at or below 0, by group
	var groups []string
	counts := map[string][]int64{}
	if err := each(func(r results.Row, vals []int64) {
		var key []string
		for _, k := range f.Facet {
			key = append(key, csvField(r.Params[k]))
		}
		g := strings.Join(key, ",")
		c := counts[g]
		if c == nil {
			c = make([]int64, bins)
			counts[g] = c
			groups = append(groups, g)
		}
		for _, v := range vals {
			switch {
			case v == results.Missing:
			case hb.log && v <= 0:
				below[g]++
			default:
				c[min(max(hb.binOf(v), 0), bins-1)]++
			}
		}
	}); err != nil {
		return err
	}
	for _, g := range groups {
		prefix := g
		if len(f.Facet) > 0 {
			prefix += ","
		}
		if n := below[g]; n > 0 {
			fmt.Fprintf(w, "%s0,0,%d\n", prefix, n)
		}
		for i, n := range counts[g] {
			a, b := hb.edges(i)
			fmt.Fprintf(w, "%s%s,%s,%d\n", prefix, fnum(a), fnum(b), n)
		}
	}
	return nil
}

// histBins lays out a histogram's bins, in µs: evenly spaced from from to
// to, or on a log scale when log.
type histBins struct {
	n           int
	from, to    float64
	width, step float64 // linear bins' width; log bins' ln of the edges' ratio
	log         bool
}

// valueSpan is the range of a histogram's values (ns): all of them, those
// above 0, and how many are at or below 0.
type valueSpan struct {
	lo, hi, posLo, posHi int64
	nonPos, all          float64
}

func (sp *valueSpan) add(vals []int64) {
	for _, v := range vals {
		if v == results.Missing {
			continue
		}
		sp.lo, sp.hi = min(sp.lo, v), max(sp.hi, v)
		sp.all++
		if v > 0 {
			sp.posLo, sp.posHi = min(sp.posLo, v), max(sp.posHi, v)
		} else {
			sp.nonPos++
		}
	}
}

// newHistBins lays out bins over the values of sp. One value alone gets a bin 1 µs wide around it. Values that span
// decades get bins evenly spaced on a log scale over the positive ones,
// and a row 0,0 counts those at or below 0.
func newHistBins(f results.FigureSpec, sp valueSpan) histBins {
	h := histBins{n: max(f.Bins, 1), from: float64(sp.lo) / 1e3, to: float64(sp.hi) / 1e3}
	h.log = sp.posLo < sp.posHi && plot.WantLogX(plot.Figure{LogX: f.LogX, LinearX: f.LinearX}, float64(sp.posLo)/1e3, float64(sp.posHi)/1e3, sp.nonPos, sp.all)
	if h.log {
		h.from, h.to = float64(sp.posLo)/1e3, float64(sp.posHi)/1e3
	}
	if h.from == h.to {
		h.from, h.to = h.from-0.5, h.to+0.5
	}
	h.width = (h.to - h.from) / float64(h.n)
	h.step = math.Log(h.to/h.from) / float64(h.n)
	return h
}

// binOf is the bin of a value in ns (out of range below 0 or above n-1).
func (h histBins) binOf(v int64) int {
	x := float64(v) / 1e3
	if h.log {
		return int(math.Log(x/h.from) / h.step)
	}
	return int((x - h.from) / h.width)
}

// edges are bin i's lower and upper edges.
func (h histBins) edges(i int) (float64, float64) {
	if !h.log {
		return edge(h.from, h.width, i), edge(h.from, h.width, i+1)
	}
	a, b := logEdge(h.from, h.step, i), logEdge(h.from, h.step, i+1)
	if i == h.n-1 {
		b = logEdge(h.to, 0, 0) // the last edge is the largest value, exactly
	}
	return a, b
}

// logEdge is the i-th edge of bins evenly spaced on a log scale from from
// (ln of the edges' ratio step), rounded as edge rounds.
func logEdge(from, step float64, i int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(from*math.Exp(step*float64(i)), 'g', 12, 64), 64)
	return v
}

// edge is the i-th bin edge, rounded to 12 significant digits so that
// 0.1 steps print as 0.3, not 0.30000000000000004.
func edge(from, width float64, i int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(from+float64(i)*width, 'g', 12, 64), 64)
	return v
}

// cdfRanks picks the ranks a CDF is drawn from: every one for short
// series, else 1000 evenly spaced plus every rank of the top 0.1 % so the
// tail keeps its shape.
func cdfRanks(n int) []int {
	if n <= 2000 {
		r := make([]int, n)
		for i := range r {
			r[i] = i
		}
		return r
	}
	var r []int
	tail := n - n/1000
	for k := 0; k < 1000; k++ {
		if i := k * n / 1000; i < tail {
			r = append(r, i)
		}
	}
	for i := tail; i < n; i++ {
		r = append(r, i)
	}
	return r
}

func fnum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// seriesColumn maps a figure's value to the series column holding it.
func seriesColumn(v string) string {
	switch v {
	case "read_us":
		return "read_ns"
	case "iat_err_us":
		return "iat_err_ns"
	case "lat_us":
		return "latency_ns"
	}
	return "error_ns"
}
