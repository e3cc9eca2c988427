package results

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// pointOne is a variable so that pointOne+0.2 is computed in float64
// (0.30000000000000004), not folded as an exact constant.
var pointOne = 0.1

func TestWriteRunsCSV(t *testing.T) {
	tests := []struct {
		name            string
		params, metrics []string
		rows            []Row
		want            string
	}{
		{
			// Columns follow the given orders; floats keep full precision;
			// a missing metric is an empty cell.
			name:    "ordered columns",
			params:  []string{"timer", "interval"},
			metrics: []string{"err_p99_us", "cpu_pct"},
			rows: []Row{
				{ID: "r1", Params: p("interval", "70us", "timer", "busy"), Metrics: map[string]float64{"cpu_pct": 97.84, "err_p99_us": pointOne + 0.2}},
				{ID: "r2", Params: p("interval", "70us", "timer", "sleep"), Metrics: map[string]float64{"cpu_pct": 41}},
			},
			want: "id,timer,interval,err_p99_us,cpu_pct\n" +
				"r1,busy,70us,0.30000000000000004,97.84\n" +
				"r2,sleep,70us,,41\n",
		},
		{
			// Values needing quotes are quoted; large and tiny floats use
			// exponents; NaN is written as NaN.
			name:    "quoting and special values",
			params:  []string{"note"},
			metrics: []string{"packets", "err_min_us", "wall_s"},
			rows: []Row{
				{ID: "r1", Params: p("note", `a,"b"`), Metrics: map[string]float64{"packets": 1e21, "err_min_us": 1e-9, "wall_s": math.NaN()}},
			},
			want: "id,note,packets,err_min_us,wall_s\n" +
				`r1,"a,""b""",1e+21,1e-09,NaN` + "\n",
		},
		{
			// Names not listed in the orders are appended sorted, so no data
			// is lost; duplicates in an order are written once; a run
			// without a parameter gets an empty cell.
			name:    "unlisted and duplicate names",
			params:  []string{"timer", "timer"},
			metrics: []string{"cpu_pct"},
			rows: []Row{
				{ID: "r1", Params: p("timer", "busy", "rep", "0", "nic", "eth0"), Metrics: map[string]float64{"cpu_pct": 1, "wall_s": 2}},
				{ID: "r2", Params: p("rep", "1"), Metrics: map[string]float64{}},
			},
			want: "id,timer,nic,rep,cpu_pct,wall_s\n" +
				"r1,busy,eth0,0,1,2\n" +
				"r2,,,1,,\n",
		},
		{
			// No runs: just the header.
			name:    "no rows",
			params:  []string{"timer"},
			metrics: []string{"cpu_pct"},
			want:    "id,timer,cpu_pct\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteRunsCSV(&buf, tc.params, tc.metrics, tc.rows); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteRunsCSVWriteError(t *testing.T) {
	// A failing writer surfaces as an error.
	err := WriteRunsCSV(failWriter{}, []string{"timer"}, nil, []Row{{ID: "r1"}})
	if err == nil || err.Error() != "results: write runs CSV: disk full" {
		t.Errorf("err = %v", err)
	}
}
