package plot

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestWantLogX(t *testing.T) {
	for _, c := range []struct {
		name                string
		f                   Figure
		lo, hi, nonPos, all float64
		want                bool
	}{
		{"three decades", Figure{}, 1, 12500, 0, 100, true},
		{"two decades exactly stay linear", Figure{}, 1, 100, 0, 100, false},
		{"one decade", Figure{}, 3, 30, 0, 100, false},
		{"a few values at or below 0", Figure{}, 1, 12500, 10, 100, true},
		{"many values at or below 0", Figure{}, 1, 12500, 40, 100, false},
		{"no positive value", Figure{}, 0, 0, 100, 100, false},
		{"forced linear", Figure{LinearX: true}, 1, 12500, 0, 100, false},
		{"forced log", Figure{LogX: true}, 3, 30, 0, 100, true},
	} {
		if got := WantLogX(c.f, c.lo, c.hi, c.nonPos, c.all); got != c.want {
			t.Errorf("%s: log %v, want %v", c.name, got, c.want)
		}
	}
}

// timerCDF is a cdf figure CSV: for each timer, values at the given
// multiples of base (µs), cdf rising evenly.
func timerCDF(groups map[string][]float64) string {
	var b strings.Builder
	b.WriteString("run,timer,err_us,cdf\n")
	for _, g := range []string{"busy", "firm", "sleep"} {
		vals := groups[g]
		for i, v := range vals {
			fmt.Fprintf(&b, "r-%s,%s,%g,%g\n", g, g, v, float64(i+1)/float64(len(vals)))
		}
	}
	return b.String()
}

// A cdf whose values span more than two decades (busy and firm near 1 us,
// sleep near 12,500 us, as usleep_vs_firm's) gets a log x axis by
// default, says what it left out, and keeps a linear one when the spec
// says so.
func TestCDFLogXByDefault(t *testing.T) {
	spread := timerCDF(map[string][]float64{
		"busy":  {-0.2, 0.4, 0.6, 0.9, 1.5},
		"firm":  {1, 2, 3, 5, 8},
		"sleep": {60, 80, 100, 5000, 12500},
	})
	// Signed errors: few points below 0, but half of the busy packets.
	signed := "run,timer,err_us,cdf\n" +
		"r-busy,busy,-60,0.1\nr-busy,busy,-0.5,0.5\nr-busy,busy,0.01,0.6\nr-busy,busy,0.1,0.7\nr-busy,busy,1,0.8\nr-busy,busy,10,0.9\nr-busy,busy,100,0.95\nr-busy,busy,1000,1\n" +
		"r-firm,firm,1,0.2\nr-firm,firm,10,0.4\nr-firm,firm,100,0.6\nr-firm,firm,1000,0.8\nr-firm,firm,5000,1\n"
	narrow := timerCDF(map[string][]float64{
		"busy":  {1, 2, 3},
		"firm":  {2, 3, 4},
		"sleep": {5, 6, 9},
	})
	for _, c := range []struct {
		name    string
		csv     string
		f       Figure
		wantLog bool
		note    string
	}{
		{"values over decades", spread, Figure{}, true, "x ≤ 0 not shown (20 % of packets)"},
		{"forced linear", spread, Figure{LinearX: true}, false, ""},
		{"half of a line at or below 0", signed, Figure{}, false, ""},
		{"half of a line at or below 0, forced log", signed, Figure{LogX: true}, true, "x ≤ 0 not shown (50 % of packets)"},
		{"narrow values", narrow, Figure{}, false, ""},
		{"narrow values, forced log", narrow, Figure{LogX: true}, true, "log scale"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			f.Name, f.Kind, f.Groups = "c", "cdf", []string{"timer"}
			svg := filepath.Join(t.TempDir(), "c.svg")
			if err := Render([]byte(c.csv), f, svg, ""); err != nil {
				t.Fatal(err)
			}
			data := readFile(t, svg)
			if got := strings.Contains(data, "log scale"); got != c.wantLog {
				t.Errorf("log scale in the axis label: %v, want %v", got, c.wantLog)
			}
			if c.note != "" && !strings.Contains(data, c.note) {
				t.Errorf("the x axis label does not say %q", c.note)
			}
		})
	}
}

// Bins spaced evenly on a log scale (the runner's, for values over
// decades) are drawn on a log axis; the row 0,0 of values at or below 0
// is left out and counted in the label. Bins of equal width are not.
func TestHistogramLogBins(t *testing.T) {
	logCSV := "timer,bin_lo,bin_hi,count\nsleep,0,0,3\nsleep,1,10,5\nsleep,10,100,7\nsleep,100,1000,2\n"
	linCSV := "timer,bin_lo,bin_hi,count\nsleep,1,334,5\nsleep,334,667,7\nsleep,667,1000,2\n"
	for _, c := range []struct {
		name, csv string
		f         Figure
		want      string // in the SVG; "" for a linear axis
	}{
		{"log bins", logCSV, Figure{}, "3 packets with x ≤ 0 not shown"},
		{"equal widths", linCSV, Figure{}, ""},
		{"equal widths, forced log", linCSV, Figure{LogX: true}, "log scale"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			f.Name, f.Kind, f.Groups = "h", "histogram", []string{"timer"}
			svg := filepath.Join(t.TempDir(), "h.svg")
			if err := Render([]byte(c.csv), f, svg, ""); err != nil {
				t.Fatal(err)
			}
			data := readFile(t, svg)
			if c.want == "" && strings.Contains(data, "log scale") || c.want != "" && !strings.Contains(data, c.want) {
				t.Errorf("x axis: want %q in the SVG (\"\" = linear)", c.want)
			}
		})
	}
}
