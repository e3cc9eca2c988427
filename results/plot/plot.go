// Package plot renders the figure data a results folder holds
// (plots/<name>.csv) to SVG and PNG with gonum.org/v1/plot.
//
// A "series" figure is a grid of panels, one per combination of its group
// (facet) columns, each plotting a per-packet value against the packet
// index or time; a "cdf" figure is one panel with one line per group. Long
// series are thinned for drawing with LTTB; the CSV keeps every point.
//
// Three kinds plot per-run summaries or binned values, each one panel:
// "lines" (a metric against a numeric sweep parameter, one line per
// group), "bars" (grouped bars of a metric) and "histogram" (binned
// per-packet values, a step line per group). See summary.go.
package plot

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	stdfont "golang.org/x/image/font"

	"github.com/labrun/labrun/results"
)

// Figure describes a figure CSV and how to draw it.
type Figure struct {
	Name string
	// Kind is "series" (columns run,<groups...>,packet,time_s,<Y>),
	// "cdf" (columns run,<groups...>,<X>,cdf), "lines" (columns
	// <groups...>,<X>,<Y>[,runs], X holding sweep labels such as "1Gbps"
	// or "512", see ParseValue), "bars" (columns <X>,<groups...>,<Y>[,runs],
	// X naming the bar groups) or "histogram" (columns
	// <groups...>,bin_lo,bin_hi,count, bins of the per-packet value X).
	Kind string
	// X and Y name the columns plotted. Defaults: series X "packet", Y
	// "err_us"; cdf X "err_us", Y "cdf"; histogram X "err_us".
	X, Y string
	// Groups are the facet (series) or by (the other kinds) parameter
	// columns.
	Groups []string
	// Title heads the figure (Name if empty); Subtitle, if set, goes
	// below it (e.g. the experiment).
	Title, Subtitle string
	// LogX and LogY draw an axis on a log scale (lines: both; cdf: LogX;
	// histogram: both). On a lines figure a value at or below 0 on a log
	// axis is an error; a cdf or histogram leaves such x values out and
	// says so in the axis label.
	LogX, LogY bool
	// LinearX keeps the x axis of a cdf or histogram linear. Without
	// LogX or LinearX it is a log axis when the positive values span more
	// than AutoLogDecades decades (and few values are at or below 0).
	LinearX bool
}

// Layout. A series panel is PanelWidth x PanelHeight, a cdf figure one
// panel of PanelWidth x CDFHeight; the title band adds HeaderHeight. PNGs
// are drawn at DPI, so a 4x2 grid is 1800 x 1410 pixels.
const (
	PanelWidth   = 6 * vg.Inch
	PanelHeight  = 2.2 * vg.Inch
	CDFHeight    = 3.6 * vg.Inch
	HeaderHeight = 0.6 * vg.Inch
	DPI          = 150

	// MaxPoints is the most points a panel draws; longer series are
	// downsampled with LTTB (the budget is shared by a panel's runs).
	MaxPoints = 2000
)

// Render draws the figure whose CSV is csvData and writes it to svgPath
// and pngPath (each atomically, skipped if the path is empty).
//
// A CSV with a header but no data rows (say, no run recorded the value)
// is skipped: Render writes nothing, removes stale files at the two paths
// and returns nil. A malformed CSV (no header, a missing column, a short
// row, a bad number) is an error naming the line.
func Render(csvData []byte, f Figure, svgPath, pngPath string) error {
	var fig figure
	var empty bool
	var err error
	switch f.Kind {
	case "series", "cdf":
		fig, empty, err = packetFigure(csvData, f)
	case "lines":
		fig, empty, err = linesFigure(csvData, f)
	case "bars":
		fig, empty, err = barsFigure(csvData, f)
	case "histogram":
		fig, empty, err = histogramFigure(csvData, f)
	default:
		return fmt.Errorf("unknown figure kind %q (want series, cdf, lines, bars or histogram)", f.Kind)
	}
	if err != nil {
		return err
	}
	if empty {
		for _, p := range []string{svgPath, pngPath} {
			if p == "" {
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	if svgPath != "" {
		c := vgsvg.New(fig.w, fig.h)
		fig.draw(draw.New(c))
		if err := writeTo(svgPath, c); err != nil {
			return err
		}
	}
	if pngPath != "" {
		c := vgimg.NewWith(vgimg.UseWH(fig.w, fig.h), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
		fig.draw(draw.New(c))
		if err := writeTo(pngPath, vgimg.PngCanvas{Canvas: c}); err != nil {
			return err
		}
	}
	return nil
}

// packetFigure lays out a series or cdf figure; empty reports a CSV with
// no data rows.
func packetFigure(csvData []byte, f Figure) (fig figure, empty bool, err error) {
	x, y := f.X, f.Y
	switch f.Kind {
	case "series":
		if x == "" {
			x = "packet"
		}
		if y == "" {
			y = "err_us"
		}
	case "cdf":
		if x == "" {
			x = "err_us"
		}
		if y == "" {
			y = "cdf"
		}
	}
	d, err := parse(csvData, x, y, f.Groups)
	if err != nil {
		return figure{}, false, err
	}
	if d.rows == 0 {
		return figure{}, true, nil
	}
	for _, l := range d.lines {
		sortByX(l.pts)
	}
	if f.Kind == "series" {
		return seriesFigure(d, f, x, y), false, nil
	}
	return cdfFigure(d, f, x, y), false, nil
}

func writeTo(path string, w io.WriterTo) error {
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		return err
	}
	return results.WriteFileAtomic(path, b.Bytes())
}

// figure is a laid-out figure: its size and a function drawing it (called
// once per output format; it builds fresh plots each time, since drawing
// settles their axis ranges).
type figure struct {
	w, h vg.Length
	draw func(draw.Canvas)
}

// Labels for the known columns; others are labelled by name.
var axisLabels = map[string]string{
	"err_us":     "send-time error ε (µs)",
	"iat_err_us": "inter-arrival error (µs)",
	"lat_us":     "one-way latency (µs)",
	"read_us":    "read time (µs)",
	"packet":     "packet index",
	"time_s":     "time (s)",
	"cdf":        "fraction of packets",
}

// axisLabel labels a column: from axisLabels, else its name with the
// unit its suffix names (see unitOf): "rx_pps (frames/s)".
func axisLabel(col string) string {
	if l, ok := axisLabels[col]; ok {
		return l
	}
	if u := unitOf(col); u != "" {
		return col + " (" + u + ")"
	}
	return col
}

// metricUnits maps a column name's suffix to its unit, longest first
// where one suffix ends another.
var metricUnits = []struct{ suffix, unit string }{
	{"_mb_s", "MB/s"},
	{"_mpps", "Mframes/s"},
	{"_pps", "frames/s"},
	{"_gbps", "Gbit/s"},
	{"_mbps", "Mbit/s"},
	{"_kbps", "kbit/s"},
	{"_bps", "bit/s"},
	{"_per_pkt", "per frame"},
	{"_pct", "%"},
	{"_us", "µs"},
	{"_ms", "ms"},
	{"_ns", "ns"},
	{"_bytes", "B"},
}

// unitOf is the unit a metric's name ends in ("" for a count or a
// ratio): err_p99_us is in µs, rx_pps in frames/s, cpu_pct in %. A name
// ending in _s is seconds when it is a time (wall_s), else a rate
// (load_vm_faults_s, per second).
func unitOf(name string) string {
	if name == "ns_per_pkt" {
		return "ns"
	}
	for _, u := range metricUnits {
		if strings.HasSuffix(name, u.suffix) && len(name) > len(u.suffix) {
			return u.unit
		}
	}
	if base, ok := strings.CutSuffix(name, "_s"); ok && base != "" {
		if base == "wall" || base == "time" || strings.HasSuffix(base, "_time") || strings.HasSuffix(base, "_wall") {
			return "s"
		}
		return "/s"
	}
	return ""
}

// maxLegend is the most runs a series panel names in its legend.
const maxLegend = 12

// A colour-blind safe palette (Okabe and Ito), black first.
var palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xB2, 0xff}, // blue
	color.RGBA{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	color.RGBA{0x00, 0x9E, 0x73, 0xff}, // bluish green
	color.RGBA{0xCC, 0x79, 0xA7, 0xff}, // reddish purple
	color.RGBA{0xE6, 0x9F, 0x00, 0xff}, // orange
	color.RGBA{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	color.RGBA{0x00, 0x00, 0x00, 0xff}, // black
	color.RGBA{0xF0, 0xE4, 0x42, 0xff}, // yellow
}

// style is how one series of a figure is drawn: its colour, the marker of
// its points and the dash pattern of its line.
type style struct {
	color  color.Color
	glyph  draw.GlyphDrawer
	dashes []vg.Length
	light  bool // a bar's fill is the colour lightened (outline in the colour)
}

// dashPatterns are the line patterns, solid first.
var dashPatterns = [][]vg.Length{nil, {vg.Points(5), vg.Points(2.5)}, {vg.Points(1.2), vg.Points(1.8)}}

// styleOf is the style of series i. The first len(palette) series differ
// in colour (and marker); the next ones take the colours again with the
// next dash pattern and another marker, so len(palette)*len(dashPatterns)
// series (24) look different even where a figure draws lines only.
func styleOf(i int) style {
	n := len(palette)
	round := i / n
	return style{
		color:  palette[i%n],
		glyph:  glyphs[(i+round)%len(glyphs)],
		dashes: dashPatterns[round%len(dashPatterns)],
		light:  round%2 == 1,
	}
}

// line is the style's line of the given width.
func (s style) line(width vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: s.color, Width: width, Dashes: s.dashes}
}

// fill is the colour a bar of the style is filled with.
func (s style) fill() color.Color {
	if !s.light {
		return s.color
	}
	r, g, b, _ := s.color.RGBA()
	lighten := func(v uint32) uint8 { return uint8((v>>8 + 2*255) / 3) }
	return color.RGBA{lighten(r), lighten(g), lighten(b), 0xff}
}

func sans(size vg.Length, bold bool) font.Font {
	f := font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
	if bold {
		f.Weight = stdfont.WeightBold
	}
	return f
}

func textStyle(size vg.Length, bold bool) text.Style {
	return text.Style{Color: color.Black, Font: sans(size, bold), Handler: gplot.DefaultTextHandler}
}

// newPlot is a panel with the figure's fonts and axis labels.
func newPlot(title, x, y string) *gplot.Plot {
	p := gplot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(9, false)
	p.Title.Padding = vg.Points(3)
	for _, a := range []*gplot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(8, false)
		a.Tick.Label.Font = sans(7, false)
		a.Padding = vg.Points(2)
	}
	p.X.Label.Text = axisLabel(x)
	p.Y.Label.Text = axisLabel(y)
	p.X.Tick.Marker = ticker{n: 6}
	p.Y.Tick.Marker = ticker{n: 4}
	p.Legend.TextStyle.Font = sans(7, false)
	p.Legend.Top = true
	p.Legend.ThumbnailWidth = vg.Points(12)
	p.Add(plotter.NewGrid())
	return p
}

// drawHeader draws the title band into the top HeaderHeight of c and
// returns the rest.
func drawHeader(c draw.Canvas, f Figure) draw.Canvas {
	title := f.Title
	if title == "" {
		title = f.Name
	}
	top := c.Max.Y - vg.Points(6)
	ts := textStyle(13, true)
	ts.XAlign, ts.YAlign = draw.XCenter, draw.YTop
	c.FillText(ts, vg.Point{X: c.Center().X, Y: top}, title)
	if f.Subtitle != "" && f.Subtitle != title {
		ss := textStyle(9, false)
		ss.XAlign, ss.YAlign = draw.XCenter, draw.YTop
		c.FillText(ss, vg.Point{X: c.Center().X, Y: top - ts.Rectangle(title).Size().Y - vg.Points(2)}, f.Subtitle)
	}
	c.Max.Y -= HeaderHeight
	return c
}

// groupLabel is "timer=busy interval=70us" for the given columns.
func groupLabel(cols, vals []string) string {
	parts := make([]string, len(cols))
	for i := range cols {
		parts[i] = cols[i] + "=" + vals[i]
	}
	return strings.Join(parts, " ")
}

// seriesFigure lays out a grid: the first group column's values down, the
// combinations of the other group columns across (values in order of
// first appearance, i.e. sweep order). Each panel has its own y range.
// Several runs in one panel (a sweep axis that is not a facet) are
// separate lines in distinct colours, with a legend of run IDs.
func seriesFigure(d *data, f Figure, x, y string) figure {
	var rowKeys, colKeys []string
	rowOf, colOf := map[string]int{}, map[string]int{}
	cell := make([][2]int, len(d.groups))
	for g, vals := range d.groups {
		var rk, ck string
		if len(vals) > 0 {
			rk = vals[0]
			ck = strings.Join(vals[1:], "\x00")
		}
		r, ok := rowOf[rk]
		if !ok {
			r = len(rowKeys)
			rowOf[rk] = r
			rowKeys = append(rowKeys, rk)
		}
		c, ok := colOf[ck]
		if !ok {
			c = len(colKeys)
			colOf[ck] = c
			colKeys = append(colKeys, ck)
		}
		cell[g] = [2]int{r, c}
	}
	rows, cols := len(rowKeys), len(colKeys)

	// Downsample once; both formats draw the same points.
	panelLines := make([][][]*line, rows)
	for r := range panelLines {
		panelLines[r] = make([][]*line, cols)
	}
	for _, l := range d.lines {
		rc := cell[l.group]
		panelLines[rc[0]][rc[1]] = append(panelLines[rc[0]][rc[1]], l)
	}
	drawn := map[*line][]Point{}
	for _, row := range panelLines {
		for _, ls := range row {
			budget := max(MaxPoints/max(len(ls), 1), 100)
			for _, l := range ls {
				drawn[l] = LTTB(l.pts, budget)
			}
		}
	}

	// The label of each panel, from any group that falls in it.
	labels := make([][]string, rows)
	for r := range labels {
		labels[r] = make([]string, cols)
	}
	for g, vals := range d.groups {
		rc := cell[g]
		labels[rc[0]][rc[1]] = groupLabel(f.Groups, vals)
	}
	for r := range labels {
		for c := range labels[r] {
			if labels[r][c] == "" && len(f.Groups) > 0 {
				// A combination no run had: name it from its row and column.
				vals := append([]string{rowKeys[r]}, strings.Split(colKeys[c], "\x00")...)
				labels[r][c] = groupLabel(f.Groups, vals[:len(f.Groups)]) + " (no data)"
			}
		}
	}

	w := vg.Length(cols) * PanelWidth
	h := vg.Length(rows)*PanelHeight + HeaderHeight
	return figure{w: w, h: h, draw: func(c draw.Canvas) {
		c = drawHeader(c, f)
		plots := make([][]*gplot.Plot, rows)
		for r := range plots {
			plots[r] = make([]*gplot.Plot, cols)
			for col := range plots[r] {
				p := newPlot(labels[r][col], x, y)
				ls := panelLines[r][col]
				for i, l := range ls {
					st := styleOf(i)
					xys := xyOf(drawn[l])
					addLine(p, xys, st.line(vg.Points(0.4)))
					sc := &plotter.Scatter{XYs: xys, GlyphStyle: draw.GlyphStyle{Color: st.color, Radius: vg.Points(0.7), Shape: draw.CircleGlyph{}}}
					p.Add(sc)
					if len(ls) > 1 && i < maxLegend {
						p.Legend.Add("run "+l.run, sc)
					}
				}
				plots[r][col] = p
			}
		}
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(14), PadY: vg.Points(10),
			PadLeft: vg.Points(4), PadRight: vg.Points(10), PadBottom: vg.Points(4)}
		canvases := gplot.Align(plots, tiles, c)
		for r := range plots {
			for col := range plots[r] {
				plots[r][col].Draw(canvases[r][col])
			}
		}
	}}
}

// cdfFigure is one panel with one colour per group; a group with several
// runs draws one line per run in the group's colour, with one legend entry.
func cdfFigure(d *data, f Figure, x, y string) figure {
	var xs []float64
	for _, l := range d.lines {
		for _, p := range l.pts {
			xs = append(xs, p.X)
		}
	}
	logX := chooseLogX(f, xs, nil)
	if logX && y == "cdf" && !f.LogX {
		// The points of a cdf are few where the curve is steep: judge the
		// share of packets a log axis leaves out by each line's height at
		// 0, so that signed errors (half of them early) keep a linear axis.
		for _, l := range d.lines {
			if _, below, _ := positive(l.pts); below > maxLeftOut {
				logX = false
			}
		}
	}
	note := ""
	drawn := make([][]Point, len(d.lines))
	var frac float64
	var out int
	for i, l := range d.lines {
		pts := l.pts
		if logX {
			var fy float64
			var n int
			pts, fy, n = positive(pts)
			frac, out = max(frac, fy), out+n
		}
		drawn[i] = LTTB(pts, MaxPoints)
	}
	if logX {
		note = leftOutNote(frac, out, y == "cdf")
	}
	xlo, xhi := math.Inf(1), math.Inf(-1)
	for _, pts := range drawn {
		for _, p := range pts {
			xlo, xhi = min(xlo, p.X), max(xhi, p.X)
		}
	}
	w, h := PanelWidth, CDFHeight+HeaderHeight
	return figure{w: w, h: h, draw: func(c draw.Canvas) {
		c = drawHeader(c, f)
		p := newPlot("", x, y)
		p.X.Label.TextStyle.Font.Size = 10
		p.Y.Label.TextStyle.Font.Size = 10
		p.X.Tick.Label.Font.Size = 9
		p.Y.Tick.Label.Font.Size = 9
		p.Legend.TextStyle.Font.Size = 9
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
		if y == "cdf" {
			p.Y.Min, p.Y.Max = 0, 1
		}
		if logX && xlo <= xhi {
			logAxis(&p.X, xlo, xhi)
			p.X.Label.Text += " — " + note
		}
		inLegend := map[int]bool{}
		for i, l := range d.lines {
			ln := addLine(p, xyOf(drawn[i]), styleOf(l.group).line(vg.Points(1.2)))
			if len(f.Groups) > 0 && !inLegend[l.group] {
				inLegend[l.group] = true
				p.Legend.Add(groupLabel(f.Groups, d.groups[l.group]), ln)
			}
		}
		pad := vg.Points(8)
		p.Draw(draw.Crop(c, pad, -pad, pad, 0))
	}}
}

// addLine adds a polyline to p in pieces of lineChunk points (each
// sharing its first point with the previous piece's last) and returns the
// first piece, for a legend entry. The rasterizer behind the PNG is
// quadratic in the length of a stroked path: a 2000-point path takes
// about a second, 2000 points in pieces of 64 a few milliseconds.
func addLine(p *gplot.Plot, xys plotter.XYs, sty draw.LineStyle) *plotter.Line {
	var first *plotter.Line
	for i := 0; i == 0 || i < len(xys)-1; i += lineChunk - 1 {
		ln := &plotter.Line{XYs: xys[i:min(i+lineChunk, len(xys))], LineStyle: sty}
		p.Add(ln)
		if first == nil {
			first = ln
		}
	}
	return first
}

const lineChunk = 64

func xyOf(pts []Point) plotter.XYs {
	xys := make(plotter.XYs, len(pts))
	for i, p := range pts {
		xys[i] = plotter.XY{X: p.X, Y: p.Y}
	}
	return xys
}
