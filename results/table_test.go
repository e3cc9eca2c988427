package results

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// p builds a parameter map from alternating names and values.
func p(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// netvcr is the paper's CPU column used by the realistic table.
var netvcr = Reference{
	Source: "NetVCR Table II",
	Metric: "cpu_pct",
	Keys:   []string{"timer", "interval"},
	Values: map[string]float64{
		RefKey("busy", "70us"):    78,
		RefKey("sleep", "70us"):   40,
		RefKey("firm", "70us"):    19,
		RefKey("busy", "2500us"):  99,
		RefKey("sleep", "2500us"): 4,
		RefKey("firm", "2500us"):  1,
	},
}

// timerRuns returns the runs of a timer experiment in plan order
// (interval outer, timer inner, 3 repetitions each). The repetitions scale
// a base value by 1, 0.98 and 1.03, so their median is the base value.
func timerRuns() []Row {
	metrics := []string{"cpu_pct", "err_mean_us", "err_p50_us", "err_p99_us", "err_p999_us", "err_max_us"}
	base := []struct {
		interval, timer string
		vals            []float64 // in the order of metrics
	}{
		{"70us", "busy", []float64{97.84, 0.412, 0.31, 2.06, 6.83, 41.2}},
		{"70us", "sleep", []float64{41.27, 58.31, 55.07, 112.4, 180.45, 1021.6}},
		{"70us", "firm", []float64{21.4, 3.217, 2.5, 14.81, 29.6, 203}},
		{"70us", "tick", []float64{3.06, 417.8, 402, 961.2, 1890.5, 4012}},
		{"2500us", "busy", []float64{99.6, 0.0388, 0.031, 0.94, 3.3, 18.7}},
		{"2500us", "sleep", []float64{4.12, 61.9, 57.25, 118.6, 201.2, 877}},
		{"2500us", "firm", []float64{1.08, 2.941, 2.3, 12.06, 25.51, 160.2}},
		{"2500us", "tick", []float64{0.21, 1496.3, 1502, 3988.7, 4010, 4096}},
	}
	var rows []Row
	for _, b := range base {
		for rep, f := range []float64{1, 0.98, 1.03} {
			m := map[string]float64{}
			for i, name := range metrics {
				m[name] = b.vals[i] * f
			}
			rows = append(rows, Row{
				ID:      fmt.Sprintf("%s-%s-r%d", b.interval, b.timer, rep),
				Params:  p("interval", b.interval, "timer", b.timer, "rep", fmt.Sprint(rep)),
				Metrics: m,
			})
		}
	}
	return rows
}

// timerSpec is the realistic table of the golden files.
var timerSpec = TableSpec{
	Title:   "Timer accuracy and CPU cost",
	Rows:    []string{"interval", "timer"},
	Metrics: []string{"cpu_pct", "err_mean_us", "err_p50_us", "err_p99_us", "err_p999_us", "err_max_us"},
	Refs:    []Reference{netvcr},
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		spec TableSpec
		rows []Row
		want Table
	}{
		{
			// Long format: rows grouped by the first Rows parameter in
			// first-appearance order, although the plan loops over timers
			// outermost; "sleep" before "busy" shows the order is not
			// alphabetical.
			name: "long format, plan order",
			spec: TableSpec{Title: "T", Rows: []string{"interval", "timer"}, Metrics: []string{"cpu_pct"}},
			rows: []Row{
				{ID: "1", Params: p("timer", "sleep", "interval", "70us"), Metrics: map[string]float64{"cpu_pct": 40}},
				{ID: "2", Params: p("timer", "sleep", "interval", "2500us"), Metrics: map[string]float64{"cpu_pct": 4}},
				{ID: "3", Params: p("timer", "busy", "interval", "70us"), Metrics: map[string]float64{"cpu_pct": 78}},
				{ID: "4", Params: p("timer", "busy", "interval", "2500us"), Metrics: map[string]float64{"cpu_pct": 99}},
			},
			want: Table{
				Title:  "T",
				Header: []string{"interval", "timer", "CPU %"},
				Cells: [][]string{
					{"70us", "sleep", "40"},
					{"70us", "busy", "78"},
					{"2500us", "sleep", "4"},
					{"2500us", "busy", "99"},
				},
			},
		},
		{
			// Pivot: timer values become column groups, each metric followed
			// by its reference; "tick" has no reference value.
			name: "cols pivot with reference",
			spec: TableSpec{
				Title:   "P",
				Rows:    []string{"interval"},
				Cols:    "timer",
				Metrics: []string{"cpu_pct", "err_p99_us"},
				Refs:    []Reference{netvcr},
			},
			rows: []Row{
				{ID: "1", Params: p("timer", "busy", "interval", "70us"), Metrics: map[string]float64{"cpu_pct": 97.84, "err_p99_us": 2.06}},
				{ID: "2", Params: p("timer", "tick", "interval", "70us"), Metrics: map[string]float64{"cpu_pct": 3.06, "err_p99_us": 961.2}},
				{ID: "3", Params: p("timer", "busy", "interval", "2500us"), Metrics: map[string]float64{"cpu_pct": 99.6, "err_p99_us": 0.94}},
				{ID: "4", Params: p("timer", "tick", "interval", "2500us"), Metrics: map[string]float64{"cpu_pct": 0.21, "err_p99_us": 3988.7}},
			},
			want: Table{
				Title: "P",
				Header: []string{"interval",
					"busy CPU %", "busy CPU % (NetVCR Table II)", "busy ε p99 (us)",
					"tick CPU %", "tick CPU % (NetVCR Table II)", "tick ε p99 (us)"},
				Cells: [][]string{
					{"70us", "97.8", "78", "2.06", "3.06", "-", "961"},
					{"2500us", "99.6", "99", "0.94", "0.21", "-", "3989"},
				},
			},
		},
		{
			// Pivot with a missing cell: no "sleep" run at 2500us.
			name: "cols pivot, missing cell",
			spec: TableSpec{Rows: []string{"interval"}, Cols: "timer", Metrics: []string{"cpu_pct"}},
			rows: []Row{
				{ID: "1", Params: p("timer", "busy", "interval", "70us"), Metrics: map[string]float64{"cpu_pct": 78}},
				{ID: "2", Params: p("timer", "sleep", "interval", "70us"), Metrics: map[string]float64{"cpu_pct": 40}},
				{ID: "3", Params: p("timer", "busy", "interval", "2500us"), Metrics: map[string]float64{"cpu_pct": 99}},
			},
			want: Table{
				Header: []string{"interval", "busy CPU %", "sleep CPU %"},
				Cells:  [][]string{{"70us", "78", "40"}, {"2500us", "99", "-"}},
			},
		},
		{
			// Three repetitions per cell: the median is shown and noted.
			name: "median of repetitions",
			spec: TableSpec{Rows: []string{"timer"}, Metrics: []string{"cpu_pct"}},
			rows: []Row{
				{ID: "1", Params: p("timer", "busy"), Metrics: map[string]float64{"cpu_pct": 90}},
				{ID: "2", Params: p("timer", "busy"), Metrics: map[string]float64{"cpu_pct": 10}},
				{ID: "3", Params: p("timer", "busy"), Metrics: map[string]float64{"cpu_pct": 50}},
				{ID: "4", Params: p("timer", "firm"), Metrics: map[string]float64{"cpu_pct": 1}},
				{ID: "5", Params: p("timer", "firm"), Metrics: map[string]float64{"cpu_pct": 2}},
				{ID: "6", Params: p("timer", "firm"), Metrics: map[string]float64{"cpu_pct": 30}},
			},
			want: Table{
				Header: []string{"timer", "CPU %"},
				Cells:  [][]string{{"busy", "50"}, {"firm", "2"}},
				Notes:  []string{"median of 3 repetitions"},
			},
		},
		{
			// Unequal repetition counts give a range; an even count takes
			// the mean of the middle two; a metric missing from one run is
			// the median of the others, and missing from all runs is "-".
			name: "uneven repetitions and missing metrics",
			spec: TableSpec{Rows: []string{"timer"}, Metrics: []string{"cpu_pct", "packets"}},
			rows: []Row{
				{ID: "1", Params: p("timer", "busy"), Metrics: map[string]float64{"cpu_pct": 10, "packets": 100}},
				{ID: "2", Params: p("timer", "busy"), Metrics: map[string]float64{"cpu_pct": 20}},
				{ID: "3", Params: p("timer", "firm"), Metrics: map[string]float64{"cpu_pct": 1.5}},
			},
			want: Table{
				Header: []string{"timer", "CPU %", "packets"},
				Cells:  [][]string{{"busy", "15", "100"}, {"firm", "1.5", "-"}},
				Notes:  []string{"median of 1-2 repetitions"},
			},
		},
		{
			// A run without a row parameter is labelled "-".
			name: "missing row label",
			spec: TableSpec{Rows: []string{"timer"}, Metrics: []string{"cpu_pct"}},
			rows: []Row{
				{ID: "1", Params: p("timer", "busy"), Metrics: map[string]float64{"cpu_pct": 10}},
				{ID: "2", Params: p(), Metrics: map[string]float64{"cpu_pct": 20}},
			},
			want: Table{
				Header: []string{"timer", "CPU %"},
				Cells:  [][]string{{"busy", "10"}, {"-", "20"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Build(tc.spec, tc.rows)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Build =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	rows := []Row{
		{ID: "1", Params: p("timer", "busy", "interval", "70us"), Metrics: map[string]float64{"cpu_pct": 78, "err_p99_us": 2}},
	}
	tests := []struct {
		name    string
		spec    TableSpec
		rows    []Row
		wantErr string
	}{
		{
			// A row parameter no run has.
			name:    "unknown row parameter",
			spec:    TableSpec{Title: "T", Rows: []string{"timer", "rate"}, Metrics: []string{"cpu_pct"}},
			rows:    rows,
			wantErr: `results: table "T": parameter "rate" is not present in any run (known parameters: interval, timer)`,
		},
		{
			// A column parameter no run has.
			name:    "unknown column parameter",
			spec:    TableSpec{Title: "T", Rows: []string{"timer"}, Cols: "nic", Metrics: []string{"cpu_pct"}},
			rows:    rows,
			wantErr: `results: table "T": parameter "nic" is not present in any run (known parameters: interval, timer)`,
		},
		{
			// A metric no run has.
			name:    "unknown metric",
			spec:    TableSpec{Title: "T", Rows: []string{"timer"}, Metrics: []string{"cpu_pct", "err_p95_us"}},
			rows:    rows,
			wantErr: `results: table "T": metric "err_p95_us" is not present in any run (known metrics: cpu_pct, err_p99_us)`,
		},
		{
			// No runs at all: nothing is known.
			name:    "no runs",
			spec:    TableSpec{Title: "T", Rows: []string{"timer"}, Metrics: []string{"cpu_pct"}},
			rows:    nil,
			wantErr: `results: table "T": parameter "timer" is not present in any run (known parameters: none)`,
		},
		{
			// A reference beside a metric the table does not show.
			name:    "reference for metric not in table",
			spec:    TableSpec{Title: "T", Rows: []string{"interval", "timer"}, Metrics: []string{"err_p99_us"}, Refs: []Reference{netvcr}},
			rows:    rows,
			wantErr: `results: table "T": reference "NetVCR Table II" is for metric "cpu_pct", which is not in the table (table metrics: err_p99_us)`,
		},
		{
			// A reference keyed by a parameter that is not a row or column.
			name:    "reference key not in table",
			spec:    TableSpec{Title: "T", Rows: []string{"timer"}, Metrics: []string{"cpu_pct"}, Refs: []Reference{netvcr}},
			rows:    rows,
			wantErr: `results: table "T": reference "NetVCR Table II" key "interval" is neither a row nor the column parameter`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.spec, tc.rows)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("Build error = %v\nwant %s", err, tc.wantErr)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		vals []float64
		want float64
	}{
		// Empty: no value.
		{nil, math.NaN()},
		// Odd count: the middle value.
		{[]float64{3, 1, 2}, 2},
		// Even count: the mean of the middle two.
		{[]float64{4, 1, 3, 2}, 2.5},
		// NaN values are ignored.
		{[]float64{math.NaN(), 5}, 5},
	}
	for _, tc := range tests {
		got := Median(tc.vals)
		if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("Median(%v) = %v, want %v", tc.vals, got, tc.want)
		}
	}
}

func TestGolden(t *testing.T) {
	timers, err := Build(timerSpec, timerRuns())
	if err != nil {
		t.Fatal(err)
	}
	pivot, err := Build(TableSpec{
		Title:   "CPU by timer",
		Rows:    []string{"interval"},
		Cols:    "timer",
		Metrics: []string{"cpu_pct"},
		Refs:    []Reference{netvcr},
	}, timerRuns())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file  string
		table Table
		write func(Table, *bytes.Buffer) error
	}{
		// The realistic table for the terminal.
		{"timers.txt", timers, func(t Table, b *bytes.Buffer) error { return t.WriteText(b) }},
		// The same table as Markdown.
		{"timers.md", timers, func(t Table, b *bytes.Buffer) error { return t.WriteMarkdown(b) }},
		// The pivoted CPU table for the terminal.
		{"pivot.txt", pivot, func(t Table, b *bytes.Buffer) error { return t.WriteText(b) }},
		// The pivoted CPU table as Markdown.
		{"pivot.md", pivot, func(t Table, b *bytes.Buffer) error { return t.WriteMarkdown(b) }},
		// A title-less table with a "|" to escape and no rows.
		{"empty.md", Table{Header: []string{"a|b", "CPU %"}}, func(t Table, b *bytes.Buffer) error { return t.WriteMarkdown(b) }},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.write(tc.table, &buf); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("output differs from %s:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

func TestWriteTextStable(t *testing.T) {
	// Rendering twice gives identical output, and no line ends in a space.
	tbl, err := Build(timerSpec, timerRuns())
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := tbl.WriteText(&a); err != nil {
		t.Fatal(err)
	}
	if err := tbl.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Error("WriteText output differs between calls")
	}
	for _, line := range strings.Split(a.String(), "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing space in %q", line)
		}
	}
}
