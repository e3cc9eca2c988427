package script

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labrun/labrun/results"
)

// summaryExp sweeps count (plain numbers), interval (durations) and timer
// (words); extra goes inside experiment(...).
func summaryExp(extra string) string {
	return `
count = sweep.axis("count", [10, 20, 40])
interval = sweep.axis("interval", ["0us", "70us", "1ms"])
tm = sweep.axis("timer", {"busy": timer.busy(), "sleep": timer.sleep()})
experiment(name = "x", trace = trace.synthetic(count = count, interval = interval), timer = tm` + extra + `)
`
}

func TestSummaryFigureErrors(t *testing.T) {
	// Mistakes in lines, bars and histogram figures are found when the
	// plan is made (or when the figure is declared), each naming what is
	// wrong.
	rates := `
r = sweep.axis("rate", {
    "100Mbps": trace.synthetic(count = 10, rate = "100Mbps"),
    "1Gbps": trace.synthetic(count = 10, rate = "1Gbps"),
    "gaps file": trace.synthetic(count = 10, interval = "3ms"),
})
experiment(name = "x", trace = r, timer = sweep.axis("timer", [timer.busy(), timer.sleep()]), figures = [%s])
`
	for _, tc := range []struct {
		name, src, want string
	}{
		{"x no axis", summaryExp(`, figures = [figure.lines(name = "l", x = "batch", y = "cpu_pct", by = ["interval", "timer"])]`),
			`x.star:5:120: figure.lines: x "batch" is not a sweep axis of this experiment; axes: count, interval, timer`},
		{"by no axis", summaryExp(`, figures = [figure.lines(name = "l", x = "count", y = "cpu_pct", by = "mode")]`),
			`figure.lines: by "mode" is not a sweep axis of this experiment`},
		{"groups no axis", summaryExp(`, figures = [figure.bars(name = "b", y = "cpu_pct", groups = "intervals", by = ["timer", "count"])]`),
			`figure.bars: groups "intervals" is not a sweep axis of this experiment (did you mean interval?)`},
		{"histogram by", summaryExp(`, figures = [figure.histogram(name = "h", by = "timers")]`),
			`figure.histogram: by "timers" is not a sweep axis of this experiment (did you mean timer?)`},
		{"x in by", summaryExp(`, figures = [figure.lines(name = "l", x = "count", y = "cpu_pct", by = ["count", "timer", "interval"])]`),
			`figure.lines: by "count" is the x already`},
		{"x not numbers", summaryExp(`, figures = [figure.lines(name = "l", x = "timer", y = "cpu_pct", by = ["count", "interval"])]`),
			`figure.lines: x "timer": "busy" is not a number, a duration, a size or a rate`},
		{"gaps file", fmt.Sprintf(rates, `figure.lines(name = "l", x = "rate", y = "iat_err_p95_us", by = "timer", log_x = True)`),
			`figure.lines: x "rate": "gaps file" is not a number, a duration, a size or a rate (such as 512, "70us", "64B" or "1Gbps"); leave such values out with where = {"rate": [...]}`},
		{"log x zero", summaryExp(`, figures = [figure.lines(name = "l", x = "interval", y = "cpu_pct", by = ["count", "timer"], log_x = True)]`),
			`figure.lines: log_x: x "interval" value "0us" is not above 0`},
		{"mixed axis", summaryExp(`, figures = [figure.lines(name = "l", x = "interval", y = "cpu_pct", by = "timer")]`),
			`figure.lines: the runs also differ in sweep axis "count" (10, 20, 40), which the figure would mix: add it to by, or keep one value with where = {"count": "10"}`},
		{"bars mixed axis", summaryExp(`, figures = [figure.bars(name = "b", y = "cpu_pct", groups = "interval", by = "timer")]`),
			`figure.bars: the runs also differ in sweep axis "count"`},
		{"histogram mixed axis", summaryExp(`, figures = [figure.histogram(name = "h", by = ["timer", "count"])]`),
			`figure.histogram: the runs also differ in sweep axis "interval" (0us, 70us, 1ms), which the figure would mix: add it to by`},
		{"where axis", summaryExp(`, figures = [figure.lines(name = "l", x = "count", y = "cpu_pct", by = "timer", where = {"intervl": "0us"})]`),
			`figure.lines: where "intervl" is not a sweep axis of this experiment (did you mean interval?)`},
		{"where value", summaryExp(`, figures = [figure.lines(name = "l", x = "count", y = "cpu_pct", by = "timer", where = {"interval": "2ms"})]`),
			`figure.lines: where: interval = "2ms" is not a value of interval (did you mean 1ms?) (it takes 0us, 70us, 1ms)`},
		{"unknown metric", summaryExp(`, figures = [figure.lines(name = "l", x = "count", y = "cpu")]`),
			`figure.lines: y: "cpu" is not a metric labrun produces`},
		{"bars metric", summaryExp(`, figures = [figure.bars(name = "b", y = "err_p99", groups = "timer")]`),
			`figure.bars: y: "err_p99" is not a metric labrun produces (did you mean err_p99_us?)`},
		{"no name", summaryExp(`, figures = [figure.lines(x = "count", y = "cpu_pct")]`),
			`figure.lines: missing required argument name`},
		{"bins", summaryExp(`, figures = [figure.histogram(name = "h", bins = 2)]`),
			`figure.histogram: bins: 2 out of range [5, 1000]`},
		{"histogram x", summaryExp(`, figures = [figure.histogram(name = "h", x = "cpu_pct")]`),
			`figure.histogram: x: "cpu_pct" is not one of err_us, read_us, iat_err_us, lat_us`},
		{"log_y type", summaryExp(`, figures = [figure.lines(name = "l", x = "count", y = "cpu_pct", log_y = "yes")]`),
			`figure.lines: log_y: got string "yes", want True or False`},
		{"duplicate name", summaryExp(`, figures = [figure.cdf(name = "a", by = ["count", "interval", "timer"]), figure.bars(name = "a", y = "cpu_pct", groups = "timer", by = ["count", "interval"])]`),
			`figure.bars: two figures are named "a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalSrc(t, tc.src, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", err, tc.want)
			}
			checkErrorForm(t, err)
		})
	}
}

func TestSummaryFigurePlan(t *testing.T) {
	// where, a pinned axis (--set) or a zipped one keep the runs of a
	// point apart; the figure's options are in the plan.
	p := mustEval(t, summaryExp(`, figures = [
        figure.lines("l", "count", "cpu_pct", by = "timer", log_x = True, log_y = True, where = {"interval": ["70us"]}),
        figure.bars(name = "b", y = "cpu_pct", groups = "interval", by = ["timer", "count"], title = "CPU"),
        figure.histogram(name = "h", x = "lat_us", by = ["count", "interval", "timer"], bins = 20, log_y = True),
    ]`), nil)
	want := []results.FigureSpec{
		{Name: "l", Kind: "lines", X: "count", Y: "cpu_pct", Facet: []string{"timer"}, Title: "x", Where: map[string][]string{"interval": {"70us"}}, LogX: true, LogY: true},
		{Name: "b", Kind: "bars", X: "interval", Y: "cpu_pct", Facet: []string{"timer", "count"}, Title: "CPU"},
		{Name: "h", Kind: "histogram", X: "lat_us", Facet: []string{"count", "interval", "timer"}, Title: "x", LogY: true, Bins: 20},
	}
	if fmt.Sprint(p.Figures) != fmt.Sprint(want) {
		t.Errorf("figures\n%+v\nwant\n%+v", p.Figures, want)
	}
	// Pinned with --set: the other axes have one value.
	mustEval(t, summaryExp(`, figures = [figure.lines(name = "l", x = "interval", y = "cpu_pct")]`), map[string]string{"count": "10", "timer": "busy"})
	// An axis zipped with x labels the same steps.
	mustEval(t, `
z = sweep.zip(size = ["64B", "1518B"], name = ["small", "large"])
experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms", frame = z.size), timer = timer.busy(),
    figures = [figure.lines(name = "l", x = "size", y = "rate_pps")])
`, nil)
	// A dict axis of rates with a value that is no rate, left out.
	p = mustEval(t, `
r = sweep.axis("rate", {
    "100Mbps": trace.synthetic(count = 10, rate = "100Mbps"),
    "1Gbps": trace.synthetic(count = 10, rate = "1Gbps"),
    "gaps file": trace.synthetic(count = 10, interval = "3ms"),
})
experiment(name = "x", trace = r, timer = timer.busy(), repeat = 3,
    figures = [figure.lines(name = "l", x = "rate", y = "iat_err_p95_us", log_x = True, log_y = True, where = {"rate": ["100Mbps", "1Gbps"]})])
`, nil)
	if len(p.Runs) != 9 || !slices.Equal(p.Figures[0].Where["rate"], []string{"100Mbps", "1Gbps"}) {
		t.Errorf("runs %d, figures %+v", len(p.Runs), p.Figures)
	}
}

func TestSummaryFiguresInExperiments(t *testing.T) {
	// The figures the shipped experiments declare resolve.
	for _, tc := range []struct {
		file string
		want results.FigureSpec
	}{
		{"batch_size.star", results.FigureSpec{Kind: "lines", X: "batch", Y: "rx_pps", Facet: []string{"mode"}, LogX: true}},
		{"caliper_precision.star", results.FigureSpec{Kind: "lines", X: "rate", Y: "iat_err_p95_us", Facet: []string{"sender"}, LogX: true, LogY: true}},
		{"usleep_vs_firm.star", results.FigureSpec{Kind: "bars", X: "interval", Y: "cpu_pct", Facet: []string{"timer"}}},
	} {
		p, err := Evaluate(filepath.Join("..", "..", "experiments", tc.file), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		found := false
		for _, f := range p.Figures {
			if f.Kind == tc.want.Kind && f.X == tc.want.X && f.Y == tc.want.Y && slices.Equal(f.Facet, tc.want.Facet) && f.LogX == tc.want.LogX && f.LogY == tc.want.LogY {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no figure like %+v in %+v", tc.file, tc.want, p.Figures)
		}
	}
}
