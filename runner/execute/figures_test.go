package execute

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// checkFigureFiles checks plots/<name>.{csv,svg,png}: the CSV is want,
// the PNG decodes and the SVG holds each of texts.
func checkFigureFiles(t *testing.T, dir, name, want string, texts ...string) {
	t.Helper()
	base := filepath.Join(dir, "plots", name)
	csv, err := os.ReadFile(base + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	if want != "" && string(csv) != want {
		t.Errorf("%s.csv:\n%s\nwant:\n%s", name, csv, want)
	}
	pf, err := os.Open(base + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if _, err := png.Decode(pf); err != nil {
		t.Errorf("%s.png: %v", name, err)
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range texts {
		if !bytes.Contains(svg, []byte(">"+s+"<")) {
			t.Errorf("%s.svg lacks text %q", name, s)
		}
	}
}

func TestWriteSummaryFigures(t *testing.T) {
	// Lines, bars and a histogram from hand-made rows and series.
	dir := t.TempDir()
	var rows []results.Row
	id := 0
	add := func(params map[string]string, metrics map[string]float64) {
		id++
		rows = append(rows, results.Row{ID: fmt.Sprintf("r%02d", id), Params: params, Metrics: metrics})
	}
	// Three repeats per point; the median is the middle one.
	for rep, f := range []float64{1, 3, 2} {
		for _, mode := range []string{"sendmmsg", "ring"} {
			for _, batch := range []string{"512", "1", "64"} {
				m := map[string]float64{"rx_pps": f * 1000 * float64(len(batch)) * float64(len(mode))}
				add(map[string]string{"mode": mode, "batch": batch, "rep": fmt.Sprint(rep)}, m)
			}
		}
	}
	// A run without the metric (a failed run) is left out.
	add(map[string]string{"mode": "ring", "batch": "1", "rep": "3"}, map[string]float64{})
	if err := os.MkdirAll(filepath.Join(dir, "series"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		// Errors 0..9 us for sendmmsg, 10..19 for ring; packet 3 has none.
		var b strings.Builder
		b.WriteString("packet,scheduled_ns,actual_ns,error_ns\n")
		off := 0
		if r.Params["mode"] == "ring" {
			off = 10_000
		}
		for k := range 10 {
			e := fmt.Sprint(k*1000 + off)
			if k == 3 {
				e = ""
			}
			fmt.Fprintf(&b, "%d,%d,,%s\n", k, k*1000, e)
		}
		if err := os.WriteFile(filepath.Join(dir, "series", r.ID+".csv"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &plan.Plan{Experiment: "syn", Figures: []results.FigureSpec{
		{Name: "pps", Kind: "lines", X: "batch", Y: "rx_pps", Facet: []string{"mode"}, LogX: true, Title: "pps by batch"},
		{Name: "pps-ring", Kind: "lines", X: "batch", Y: "rx_pps", Title: "syn", Where: map[string][]string{"mode": {"ring"}}},
		{Name: "bars", Kind: "bars", X: "batch", Y: "rx_pps", Facet: []string{"mode"}, Title: "syn"},
		{Name: "hist", Kind: "histogram", X: "err_us", Facet: []string{"mode"}, Bins: 5, LogY: true, Title: "syn"},
	}}
	if err := writeFigures(dir, p, rows); err != nil {
		t.Fatal(err)
	}
	checkFigureFiles(t, dir, "pps", `mode,batch,rx_pps,runs
sendmmsg,1,16000,3
sendmmsg,64,32000,3
sendmmsg,512,48000,3
ring,1,8000,3
ring,64,16000,3
ring,512,24000,3
`, "pps by batch", "experiment syn", "batch", "rx_pps (frames/s)", "mode=sendmmsg", "mode=ring")
	checkFigureFiles(t, dir, "pps-ring", `batch,rx_pps,runs
1,8000,3
64,16000,3
512,24000,3
`, "pps-ring", "batch", "rx_pps (frames/s)")
	checkFigureFiles(t, dir, "bars", `batch,mode,rx_pps,runs
512,sendmmsg,48000,3
512,ring,24000,3
1,sendmmsg,16000,3
1,ring,8000,3
64,sendmmsg,32000,3
64,ring,16000,3
`, "bars", "batch", "rx_pps (frames/s)", "512", "mode=ring")
	// 9 sendmmsg runs and 10 ring runs of 9 packets each: 0..19 us in 5
	// bins of 3.8 us.
	checkFigureFiles(t, dir, "hist", "", "hist", "send-time error ε (µs)", "packets per bin", "mode=sendmmsg")
	lines := readLines(t, filepath.Join(dir, "plots", "hist.csv"))
	if lines[0] != "mode,bin_lo,bin_hi,count" || len(lines) != 1+2*5 || lines[1] != "sendmmsg,0,3.8,27" || lines[3] != "sendmmsg,7.6,11.4,18" || lines[5] != "sendmmsg,15.2,19,0" || lines[8] != "ring,7.6,11.4,20" || lines[10] != "ring,15.2,19,40" {
		t.Errorf("hist.csv:\n%s", strings.Join(lines, "\n"))
	}

	// A log axis refuses a value at or below 0, naming the figure.
	rows[0].Metrics["rx_pps"] = 0
	rows[6].Metrics["rx_pps"] = 0
	rows[12].Metrics["rx_pps"] = -1
	p.Figures = []results.FigureSpec{{Name: "logy", Kind: "lines", X: "batch", Y: "rx_pps", Facet: []string{"mode"}, LogY: true}}
	err := writeFigures(dir, p, rows)
	if err == nil || !strings.Contains(err.Error(), "figure logy: line 4: log y axis: rx_pps = 0 (at batch = 512) is not above 0") {
		t.Errorf("error %v", err)
	}
}

func TestExecuteSummaryFigures(t *testing.T) {
	// A real (short) run draws every kind.
	src := strings.Replace(tinyExperiment, `figures = [`, `figures = [
        figure.lines(name = "lines", x = "interval", y = "err_p99_us", by = "timer", log_x = True),
        figure.bars(name = "bars", y = "cpu_pct", groups = "interval", by = "timer"),
        figure.histogram(name = "hist", by = ["timer", "interval"], bins = 10, log_x = False),
        figure.histogram(name = "loghist", by = ["timer", "interval"], bins = 10, log_x = True),
        `, 1)
	p := mustEval(t, src, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet})
	if err != nil {
		t.Fatal(err)
	}
	checkFigureFiles(t, out.Dir, "lines", "", "lines", "experiment tiny", "interval (µs)", "err_p99_us (µs)", "timer=busy")
	checkFigureFiles(t, out.Dir, "bars", "", "bars", "interval", "cpu_pct (%)", "100us", "200us", "timer=sleep")
	checkFigureFiles(t, out.Dir, "hist", "", "hist", "send-time error ε (µs)", "timer=busy interval=100us")
	if n := len(readLines(t, filepath.Join(out.Dir, "plots", "hist.csv"))); n != 1+4*10 {
		t.Errorf("hist.csv: %d lines", n)
	}
	// Log bins: evenly spaced on a log scale over the positive values,
	// with a row 0,0 for a group that had values at or below 0.
	checkFigureFiles(t, out.Dir, "loghist", "", "loghist", "timer=busy interval=100us")
	ratio := 0.0
	for i, l := range readLines(t, filepath.Join(out.Dir, "plots", "loghist.csv"))[1:] {
		f := strings.Split(l, ",")
		lo, _ := strconv.ParseFloat(f[2], 64)
		hi, _ := strconv.ParseFloat(f[3], 64)
		if lo == 0 && hi == 0 {
			continue
		}
		if r := hi / lo; lo <= 0 || ratio != 0 && math.Abs(r-ratio) > 1e-6*ratio {
			t.Fatalf("loghist.csv line %d: bin [%v, %v] is not spaced as the others (ratio %v)", i+2, lo, hi, ratio)
		} else {
			ratio = r
		}
	}
	if n := len(readLines(t, filepath.Join(out.Dir, "plots", "lines.csv"))); n != 1+4 {
		t.Errorf("lines.csv: %d lines", n)
	}
}
