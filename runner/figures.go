package runner

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/results"
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
			vals := s.errs
			if f.Y == "read_us" || f.X == "read_us" {
				if vals = s.reads; vals == nil {
					continue // this run did not record read latency
				}
			}
			switch f.Kind {
			case "series":
				for i := range vals {
					fmt.Fprintf(w, "%s,%d,%s,%s\n", prefix, i, fnum(float64(s.sched[i])/1e9), fnum(float64(vals[i])/1e3))
				}
			case "cdf":
				sorted := slices.Clone(vals)
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

type series struct{ sched, errs, reads []int64 }

// readSeries reads a series/<id>.csv written by writeSeries.
func readSeries(path string) (*series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	s := &series{}
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue
		}
		parts := strings.Split(sc.Text(), ",")
		if len(parts) != 4 && len(parts) != 5 {
			return nil, fmt.Errorf("%s:%d: want 4 or 5 fields, got %d", path, line, len(parts))
		}
		if len(parts) == 5 {
			r, err := strconv.ParseInt(parts[4], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: bad number", path, line)
			}
			s.reads = append(s.reads, r)
		}
		sched, err1 := strconv.ParseInt(parts[1], 10, 64)
		e, err2 := strconv.ParseInt(parts[3], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: bad number", path, line)
		}
		s.sched = append(s.sched, sched)
		s.errs = append(s.errs, e)
	}
	return s, sc.Err()
}
