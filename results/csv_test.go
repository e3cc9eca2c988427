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
			want: "id,status,timer,interval,err_p99_us,cpu_pct\n" +
				"r1,ok,busy,70us,0.30000000000000004,97.84\n" +
				"r2,ok,sleep,70us,,41\n",
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
			want: "id,status,note,packets,err_min_us,wall_s\n" +
				`r1,ok,"a,""b""",1e+21,1e-09,NaN` + "\n",
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
			want: "id,status,timer,nic,rep,cpu_pct,wall_s\n" +
				"r1,ok,busy,eth0,0,1,2\n" +
				"r2,ok,,,1,,\n",
		},
		{
			// No runs: just the header.
			name:    "no rows",
			params:  []string{"timer"},
			metrics: []string{"cpu_pct"},
			want:    "id,status,timer\n",
		},
		{
			// Each run says how it ended; a metric no run measured has no
			// column (of the ~130 labrun knows, a run fills a few).
			name:    "status and only filled metrics",
			params:  []string{"timer"},
			metrics: []string{"cpu_pct", "err_p99_us", "lat_p50_us", "wall_s"},
			rows: []Row{
				{ID: "r1", Params: p("timer", "busy"), Metrics: map[string]float64{"cpu_pct": 1, "wall_s": 2}},
				{ID: "r2", Params: p("timer", "sleep"), Status: "failed"},
				{ID: "r3", Params: p("timer", "firm"), Metrics: map[string]float64{"wall_s": 0.5}, Status: "interrupted"},
				{ID: "r4", Params: p("timer", "hr"), Status: "skipped"},
			},
			want: "id,status,timer,cpu_pct,wall_s\n" +
				"r1,ok,busy,1,2\n" +
				"r2,failed,sleep,,\n" +
				"r3,interrupted,firm,,0.5\n" +
				"r4,skipped,hr,,\n",
		},
		{
			// Text that a spreadsheet would run as a formula gets a quote;
			// numbers, negative ones too, stay as they are.
			name:   "formula escaping",
			params: []string{"label", "offset"},
			rows: []Row{
				{ID: "r1", Params: p("label", "=HYPERLINK(\"x\")", "offset", "-5")},
				{ID: "r2", Params: p("label", "@SUM(A1)", "offset", "+1e3")},
				{ID: "r3", Params: p("label", "-cmd", "offset", "-")},
			},
			want: "id,status,label,offset\n" +
				"r1,ok,\"'=HYPERLINK(\"\"x\"\")\",-5\n" +
				"r2,ok,'@SUM(A1),+1e3\n" +
				"r3,ok,'-cmd,-\n",
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

func TestCSVCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"busy", "busy"},
		{"70us", "70us"},
		{"-", "-"},
		{"-5", "-5"},
		{"+3.5", "+3.5"},
		{"-1e-9", "-1e-9"},
		{"=1+1", "'=1+1"},
		{"+cmd", "'+cmd"},
		{"-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=x", "'\t=x"},
		{"\r=x", "'\r=x"},
		{"'=x", "''=x"}, // a quote already there is kept through a round trip
		{"'plain", "'plain"},
		{"a=b", "a=b"},
	}
	for _, tc := range tests {
		if got := CSVCell(tc.in); got != tc.want {
			t.Errorf("CSVCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if back := ParseCSVCell(CSVCell(tc.in)); back != tc.in {
			t.Errorf("ParseCSVCell(CSVCell(%q)) = %q", tc.in, back)
		}
	}
}
