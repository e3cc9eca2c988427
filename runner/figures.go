package runner

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/results/plot"
)

func metricOrder() []string {
	var names []string
	for _, n := range measure.Names {
		names = append(names, n.Name)
	}
	return names
}

// writeFigures writes each declared figure's data as plots/<name>.csv,
// from the per-packet series already on disk (so a stored result folder
// can be re-plotted without running anything).
func writeFigures(dir string, p *Plan, rows []results.Row) error {
	if len(p.Figures) == 0 || len(rows) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "plots"), 0o755); err != nil {
		return err
	}
	for _, f := range p.Figures {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		cols := append([]string{"run"}, f.Facet...)
		switch f.Kind {
		case "series":
			w.WriteString(strings.Join(append(cols, "packet", "time_s", f.Y), ",") + "\n")
		case "cdf":
			w.WriteString(strings.Join(append(cols, f.X, "cdf"), ",") + "\n")
		}
		for _, r := range rows {
			s, err := readSeries(filepath.Join(dir, "series", r.ID+".csv"))
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
			vals := s.column(seriesColumn(v))
			if vals == nil {
				continue // this run did not record the value
			}
			switch f.Kind {
			case "series":
				for i := range vals {
					if vals[i] != missing {
						fmt.Fprintf(w, "%s,%d,%s,%s\n", prefix, i, fnum(float64(s.sched[i])/1e9), fnum(float64(vals[i])/1e3))
					}
				}
			case "cdf":
				sorted := slices.DeleteFunc(slices.Clone(vals), func(x int64) bool { return x == missing })
				if len(sorted) == 0 {
					continue
				}
				slices.Sort(sorted)
				for _, k := range cdfRanks(len(sorted)) {
					fmt.Fprintf(w, "%s,%s,%s\n", prefix, fnum(float64(sorted[k])/1e3), fnum(float64(k+1)/float64(len(sorted))))
				}
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := results.WriteFileAtomic(filepath.Join(dir, "plots", f.Name+".csv"), b.Bytes()); err != nil {
			return err
		}
		if err := renderFigure(dir, p, f, b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// renderFigure draws plots/<name>.csv as plots/<name>.svg and .png (a
// figure no run has data for is skipped; see plot.Render).
func renderFigure(dir string, p *Plan, f FigureSpec, csv []byte) error {
	title := f.Title
	if title == p.Experiment {
		title = f.Name // the default title; the experiment is the subtitle
	}
	fig := plot.Figure{Name: f.Name, Kind: f.Kind, X: f.X, Y: f.Y, Groups: f.Facet, Title: title, Subtitle: "experiment " + p.Experiment}
	base := filepath.Join(dir, "plots", f.Name)
	if err := plot.Render(csv, fig, base+".svg", base+".png"); err != nil {
		return fmt.Errorf("figure %s: %w", f.Name, err)
	}
	return nil
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

// missing marks a value a series row does not have (an empty CSV field).
const missing = math.MinInt64

// series is a series/<id>.csv file: columns by name, values in ns.
type series struct {
	sched []int64
	cols  map[string][]int64
}

// column returns a named column, or nil.
func (s *series) column(name string) []int64 { return s.cols[name] }

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

// readSeries reads a series/<id>.csv written by writeSeries.
func readSeries(path string) (*series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	s := &series{cols: map[string][]int64{}}
	var names []string
	line := 0
	for sc.Scan() {
		line++
		parts := strings.Split(sc.Text(), ",")
		if line == 1 {
			names = parts
			if len(names) < 2 || names[0] != "packet" || names[1] != "scheduled_ns" {
				return nil, fmt.Errorf("%s:1: not a labrun series (want packet,scheduled_ns,... in the header)", path)
			}
			continue
		}
		if len(parts) != len(names) {
			return nil, fmt.Errorf("%s:%d: want %d fields, got %d", path, line, len(names), len(parts))
		}
		for j := 1; j < len(parts); j++ {
			v := int64(missing)
			if parts[j] != "" {
				x, err := strconv.ParseInt(parts[j], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: field %s: bad number %q", path, line, names[j], parts[j])
				}
				v = x
			}
			if j == 1 {
				s.sched = append(s.sched, v)
			} else {
				s.cols[names[j]] = append(s.cols[names[j]], v)
			}
		}
	}
	return s, sc.Err()
}
