package results

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/labrun/labrun/engine/measure"
)

// FigureSpec declares plot data.
type FigureSpec struct {
	Name string `json:"name"`
	// Kind is series or cdf (per-packet values of each run), lines or
	// bars (a metric of each run) or histogram (per-packet values pooled
	// per group).
	Kind string `json:"kind"`
	// X is the per-packet value (series: packet or time_s; cdf,
	// histogram: err_us ...), the parameter on the x axis (lines) or the
	// parameter whose values are the bar groups (bars).
	X string `json:"x,omitempty"`
	// Y is the per-packet value (series) or the metric (lines, bars).
	Y string `json:"y,omitempty"`
	// Facet are the parameters that split the data: series' facet, the
	// others' by.
	Facet []string `json:"facet,omitempty"`
	Title string   `json:"title,omitempty"`
	// Where keeps the runs whose parameters take these values (cdf, lines,
	// bars).
	Where map[string][]string `json:"where,omitempty"`
	LogX  bool                `json:"log_x,omitempty"`
	LogY  bool                `json:"log_y,omitempty"`
	// LinearX keeps a cdf or histogram's x axis linear (log_x = False);
	// without it or LogX, the axis is a log one when the values span
	// decades (plot.WantLogX).
	LinearX bool `json:"linear_x,omitempty"`
	// Bins is the number of histogram bins.
	Bins int `json:"bins,omitempty"`
}

// MetricOrder lists the metrics in the order of measure.Names.
func MetricOrder() []string {
	var names []string
	for _, n := range measure.Names {
		names = append(names, n.Name)
	}
	return names
}

// Matches reports whether a run's parameters pass a where filter.
func Matches(params map[string]string, where map[string][]string) bool {
	for k, vals := range where {
		if !slices.Contains(vals, params[k]) {
			return false
		}
	}
	return true
}

// Missing marks a value a series row does not have (an empty CSV field).
const Missing = math.MinInt64

// Series is a series/<id>.csv file: columns by name, values in ns.
type Series struct {
	Sched []int64 // the scheduled times
	cols  map[string][]int64
}

// Column returns a named column, or nil.
func (s *Series) Column(name string) []int64 { return s.cols[name] }

// ReadSeries reads a series/<id>.csv written by writeSeries.
func ReadSeries(path string) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	s := &Series{cols: map[string][]int64{}}
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
			v := int64(Missing)
			if parts[j] != "" {
				x, err := strconv.ParseInt(parts[j], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: field %s: bad number %q", path, line, names[j], parts[j])
				}
				v = x
			}
			if j == 1 {
				s.Sched = append(s.Sched, v)
			} else {
				s.cols[names[j]] = append(s.cols[names[j]], v)
			}
		}
	}
	return s, sc.Err()
}
