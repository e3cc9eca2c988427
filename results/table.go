// Package results turns the outcome of experiment runs (parameters and
// metrics per run) into tables for the terminal and Markdown, tidy CSV files,
// and files written atomically.
package results

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Row is one run of an experiment: its ID, parameter values as display
// strings, and metric values. A metric missing from Metrics was not measured.
// Status is how the run ended (ok, failed, interrupted, skipped; "" is ok).
type Row struct {
	ID      string
	Params  map[string]string
	Metrics map[string]float64
	Status  string
}

// Measured reports whether the run finished and its metrics count.
func (r Row) Measured() bool { return r.Status == "" || r.Status == "ok" }

// Reference is a published value (e.g. from a paper) for a metric in a given
// table cell, selected by parameter values. Build shows it in its own column
// right after the metric it refers to.
type Reference struct {
	// Source names where the values come from, e.g. "NetVCR Table II".
	Source string
	// Metric is the metric the reference column sits beside, e.g. "cpu_pct".
	Metric string
	// Keys are the parameter names that select the cell, e.g.
	// ["timer", "interval"]. Each must be a row parameter or the column
	// parameter of the table.
	Keys []string
	// Values maps RefKey(values of Keys, in Keys order) to the published
	// value, e.g. RefKey("busy", "70us") -> 78.
	Values map[string]float64
}

// RefKey joins parameter values with "\x00" to form a key of Reference.Values.
func RefKey(vals ...string) string {
	return strings.Join(vals, "\x00")
}

// TableSpec declares a table to Build.
type TableSpec struct {
	// Title is shown above the table.
	Title string
	// Rows are the parameter names that label rows (leading columns), in order.
	Rows []string
	// Cols optionally names a parameter whose values become column groups,
	// headed "<value> <metric label>". "" gives long format: one column per
	// metric.
	Cols string
	// Metrics are the metric names, in column order.
	Metrics []string
	// Refs are published values shown beside their metrics.
	Refs []Reference
	// Relatives put, right after their metric, its ratio to another row's.
	Relatives []Relative
	// Best marks, for each metric it names, the best cell of every column
	// group with " *": "max" or "min".
	Best map[string]string
	// Where keeps only the runs whose parameter (the key) has one of the
	// given values; nil keeps every run.
	Where map[string][]string
}

// Relative is a column of ratios: Metric in each row divided by Metric in
// the row that has the same labels except Param = Value (in the same
// column group), e.g. rx_all_pps relative to sender = "tcpreplay".
// Param must be one of the table's Rows.
type Relative struct {
	Metric, Param, Value string
}

// Selects reports whether a run belongs in the table (see Where).
func (spec TableSpec) Selects(r Row) bool {
	for p, vals := range spec.Where {
		if !slices.Contains(vals, r.Params[p]) {
			return false
		}
	}
	return true
}

// Table is a table ready to render: header and cells as strings, rows in
// order, and notes to print below it.
type Table struct {
	Title  string
	Header []string
	Cells  [][]string
	Notes  []string
}

// missingLabel is shown for a row label when a run lacks that parameter.
const missingLabel = "-"

// rowGroup collects the runs that share the same row labels.
type rowGroup struct {
	labels []string         // values of spec.Rows, in order
	ranks  []int            // first-appearance rank of each label
	runs   map[string][]int // column value ("" in long format) -> run indexes
}

// Build makes a table from the runs in rows.
//
// Rows are ordered by first appearance, parameter by parameter: the values of
// spec.Rows[0] in the order they first appear in rows, then within each of
// them the values of spec.Rows[1] in first-appearance order, and so on. Pass
// runs in plan order and the table follows the plan, not the alphabet. Column
// groups (spec.Cols) are ordered the same way.
//
// Several runs with the same labels (repetitions) are reduced to the median
// of each metric over the runs that measured it, and a note such as
// "median of 3 repetitions" is added. A cell without any value shows "-".
//
// Each reference column follows the metric it refers to, headed
// "<metric label> (<source>)", with "-" where the source has no value.
//
// Build fails if a row or column parameter, or a metric, occurs in no run, or
// if a reference names a metric outside spec.Metrics or a key that is neither
// a row nor the column parameter.
func Build(spec TableSpec, rows []Row) (Table, error) {
	if spec.Where != nil {
		var kept []Row
		for _, r := range rows {
			if spec.Selects(r) {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	if err := validate(spec, rows); err != nil {
		return Table{}, err
	}
	t := Table{Title: spec.Title, Header: slices.Clone(spec.Rows)}

	// First-appearance rank of every parameter value, per parameter.
	rank := map[string]map[string]int{}
	for _, p := range spec.Rows {
		rank[p] = map[string]int{}
	}
	var colVals []string // column values in first-appearance order
	seenCol := map[string]bool{}
	groups := map[string]*rowGroup{}
	var order []*rowGroup
	for i, r := range rows {
		labels := make([]string, len(spec.Rows))
		for j, p := range spec.Rows {
			labels[j] = r.Params[p]
			if _, ok := rank[p][labels[j]]; !ok {
				rank[p][labels[j]] = len(rank[p])
			}
		}
		col := ""
		if spec.Cols != "" {
			col = r.Params[spec.Cols]
			if !seenCol[col] {
				seenCol[col] = true
				colVals = append(colVals, col)
			}
		}
		key := RefKey(labels...)
		g := groups[key]
		if g == nil {
			g = &rowGroup{labels: labels, runs: map[string][]int{}}
			for j, p := range spec.Rows {
				g.ranks = append(g.ranks, rank[p][labels[j]])
			}
			groups[key] = g
			order = append(order, g)
		}
		g.runs[col] = append(g.runs[col], i)
	}
	slices.SortStableFunc(order, func(a, b *rowGroup) int {
		return slices.Compare(a.ranks, b.ranks)
	})
	if spec.Cols == "" {
		colVals = []string{""}
	}

	// Header: row labels, then per column group each metric and its references.
	for _, col := range colVals {
		prefix := ""
		if spec.Cols != "" {
			prefix = cmp.Or(col, missingLabel) + " "
		}
		for _, m := range spec.Metrics {
			t.Header = append(t.Header, prefix+MetricLabel(m))
			for _, ref := range spec.Refs {
				if ref.Metric == m {
					t.Header = append(t.Header, fmt.Sprintf("%s%s (%s)", prefix, MetricLabel(m), ref.Source))
				}
			}
			for _, rel := range spec.Relatives {
				if rel.Metric == m {
					t.Header = append(t.Header, fmt.Sprintf("%s%s / %s", prefix, MetricLabel(m), rel.Value))
				}
			}
		}
	}

	// medianOf is a metric's median over a row group's runs in a column.
	medianOf := func(g *rowGroup, col, m string) (float64, bool) {
		var vals []float64
		for _, i := range g.runs[col] {
			if v, ok := rows[i].Metrics[m]; ok {
				vals = append(vals, v)
			}
		}
		return Median(vals), len(vals) > 0
	}
	// relCell is a Relative's cell for row group g.
	relCell := func(rel Relative, g *rowGroup, col string) string {
		k := slices.Index(spec.Rows, rel.Param)
		want := slices.Clone(g.labels)
		want[k] = rel.Value
		base := groups[RefKey(want...)]
		if base == nil {
			return missingLabel
		}
		v, ok1 := medianOf(g, col, rel.Metric)
		b, ok2 := medianOf(base, col, rel.Metric)
		if !ok1 || !ok2 || b == 0 {
			return missingLabel
		}
		return strconv.FormatFloat(v/b, 'f', 2, 64)
	}

	// Where each metric's value sits in a row, for Best.
	type bestAt struct {
		cell int
		val  float64
		row  int
	}
	var bests []*bestAt
	minReps, maxReps := math.MaxInt, 0
	for gi, g := range order {
		cells := make([]string, 0, len(t.Header))
		for _, l := range g.labels {
			if l == "" {
				l = missingLabel
			}
			cells = append(cells, l)
		}
		for _, col := range colVals {
			runs := g.runs[col]
			if n := len(runs); n > 0 {
				minReps, maxReps = min(minReps, n), max(maxReps, n)
			}
			for _, m := range spec.Metrics {
				med, measured := medianOf(g, col, m)
				if how, ok := spec.Best[m]; ok && measured {
					key := len(cells)
					found := false
					for _, b := range bests {
						if b.cell == key {
							found = true
							if how == "max" && med > b.val || how == "min" && med < b.val {
								b.val, b.row = med, gi
							}
						}
					}
					if !found {
						bests = append(bests, &bestAt{cell: key, val: med, row: gi})
					}
				}
				cells = append(cells, FormatValue(med))
				for _, ref := range spec.Refs {
					if ref.Metric == m {
						cells = append(cells, refCell(spec, ref, g.labels, col))
					}
				}
				for _, rel := range spec.Relatives {
					if rel.Metric == m {
						cells = append(cells, relCell(rel, g, col))
					}
				}
			}
		}
		t.Cells = append(t.Cells, cells)
	}
	for _, b := range bests {
		t.Cells[b.row][b.cell] += " *"
	}
	for _, m := range spec.Metrics {
		if how, ok := spec.Best[m]; ok {
			word := "highest"
			if how == "min" {
				word = "lowest"
			}
			t.Notes = append(t.Notes, fmt.Sprintf("* the %s %s in its column", word, MetricLabel(m)))
		}
	}
	switch {
	case maxReps <= 1:
	case minReps == maxReps:
		t.Notes = append(t.Notes, fmt.Sprintf("median of %d repetitions", maxReps))
	default:
		t.Notes = append(t.Notes, fmt.Sprintf("median of %d-%d repetitions", minReps, maxReps))
	}
	return t, nil
}

// refCell looks up the reference value for a row group and column value.
func refCell(spec TableSpec, ref Reference, labels []string, col string) string {
	vals := make([]string, len(ref.Keys))
	for i, k := range ref.Keys {
		if k == spec.Cols {
			vals[i] = col
		} else {
			vals[i] = labels[slices.Index(spec.Rows, k)]
		}
	}
	v, ok := ref.Values[RefKey(vals...)]
	if !ok {
		return "-"
	}
	return FormatValue(v)
}

// validate checks that spec fits rows; see Build.
func validate(spec TableSpec, rows []Row) error {
	params, metrics := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		for p := range r.Params {
			params[p] = true
		}
		for m := range r.Metrics {
			metrics[m] = true
		}
	}
	wanted := slices.Clone(spec.Rows)
	if spec.Cols != "" {
		wanted = append(wanted, spec.Cols)
	}
	for _, p := range wanted {
		if !params[p] {
			return fmt.Errorf("results: table %q: parameter %q is not present in any run (known parameters: %s)",
				spec.Title, p, knownList(params))
		}
	}
	for _, m := range spec.Metrics {
		if !metrics[m] {
			return fmt.Errorf("results: table %q: metric %q is not present in any run (known metrics: %s)",
				spec.Title, m, knownList(metrics))
		}
	}
	for _, ref := range spec.Refs {
		if !slices.Contains(spec.Metrics, ref.Metric) {
			return fmt.Errorf("results: table %q: reference %q is for metric %q, which is not in the table (table metrics: %s)",
				spec.Title, ref.Source, ref.Metric, strings.Join(spec.Metrics, ", "))
		}
		for _, k := range ref.Keys {
			if k != spec.Cols && !slices.Contains(spec.Rows, k) {
				return fmt.Errorf("results: table %q: reference %q key %q is neither a row nor the column parameter",
					spec.Title, ref.Source, k)
			}
		}
	}
	for _, rel := range spec.Relatives {
		if !slices.Contains(spec.Metrics, rel.Metric) || !slices.Contains(spec.Rows, rel.Param) {
			return fmt.Errorf("results: table %q: relative %s to %s = %q: the metric must be in the table (%s) and the parameter a row (%s)",
				spec.Title, rel.Metric, rel.Param, rel.Value, strings.Join(spec.Metrics, ", "), strings.Join(spec.Rows, ", "))
		}
	}
	return nil
}

// knownList formats the sorted names of a set, or "none" if it is empty.
func knownList(set map[string]bool) string {
	if len(set) == 0 {
		return "none"
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// Median returns the median of vals (the mean of the middle two for an
// even count), or NaN if vals is empty. NaN inputs are ignored.
func Median(vals []float64) float64 {
	s := slices.DeleteFunc(slices.Clone(vals), math.IsNaN)
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
