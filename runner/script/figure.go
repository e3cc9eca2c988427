package script

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/results/plot"
	"github.com/labrun/labrun/runner/plan"
)

// The figure domain: plot data an experiment produces.
func (h *Host) figureModule() *starlarkstruct.Module {
	return newModule("figure",
		h.specBuiltin(signature{fn: "figure.series", args: []arg{
			{name: "y", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "x", kind: kEnum("packet", "time_s"), def: starlark.String("packet")},
			{name: "facet", kind: kOneOrList(kString)},
			{name: "name", kind: kString},
			{name: "title", kind: kString},
		}}, nil),
		h.specBuiltin(signature{fn: "figure.cdf", args: []arg{
			{name: "x", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "by", kind: kOneOrList(kString)},
			{name: "name", kind: kString},
			{name: "title", kind: kString},
			{name: "log_x", kind: kBool},
		}}, nil),
		// A metric of each run against a numeric sweep axis.
		h.specBuiltin(signature{fn: "figure.lines", positional: 3, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "x", kind: kString, required: true},
			{name: "y", kind: metricKind(), required: true},
			{name: "by", kind: kOneOrList(kString)},
			{name: "log_x", kind: kBool, def: starlark.False},
			{name: "log_y", kind: kBool, def: starlark.False},
			{name: "title", kind: kString},
			{name: "where", kind: kindFunc(checkWhere)},
		}}, nil),
		// A metric of each run as grouped bars.
		h.specBuiltin(signature{fn: "figure.bars", positional: 3, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "y", kind: metricKind(), required: true},
			{name: "groups", kind: kString, required: true},
			{name: "by", kind: kOneOrList(kString)},
			{name: "title", kind: kString},
			{name: "where", kind: kindFunc(checkWhere)},
		}}, nil),
		// Per-packet values binned, per group of runs.
		h.specBuiltin(signature{fn: "figure.histogram", positional: 1, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "x", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "by", kind: kOneOrList(kString)},
			{name: "bins", kind: kInt(5, 1000), def: starlark.MakeInt(50)},
			{name: "log_x", kind: kBool},
			{name: "log_y", kind: kBool, def: starlark.False},
			{name: "title", kind: kString},
		}}, nil),
	)
}

// resolveFigure checks what a lines, bars or histogram figure names when
// the plan is made (the parameters its by names are checked by the
// caller): x or groups is a sweep axis, where names axes and their
// values, x's values read as numbers (and are above 0 for log_x), and the
// runs of one point, bar or histogram differ in nothing but repeats.
func (h *Host) resolveFigure(p *plan.Plan, s *Spec, fs *results.FigureSpec, checkParams func(*Spec, string, []string) error) error {
	if fs.Kind == "cdf" || fs.Kind == "histogram" {
		// log_x: True or False forces the axis; unset lets the values
		// decide.
		if b, ok := s.Args["log_x"].(starlark.Bool); ok {
			fs.LogX, fs.LinearX = bool(b), !bool(b)
		}
	}
	if fs.Kind != "lines" && fs.Kind != "bars" && fs.Kind != "histogram" {
		return nil
	}
	if fs.Kind != "histogram" {
		b, _ := s.Args["log_x"].(starlark.Bool)
		fs.LogX = bool(b)
	}
	b, _ := s.Args["log_y"].(starlark.Bool)
	fs.LogY = bool(b)
	if n, ok := s.Args["bins"].(starlark.Int); ok {
		v, _ := n.Int64()
		fs.Bins = int(v)
	}
	labelsOf := func(param string) []string {
		if ax := h.axes[param]; ax != nil {
			return ax.Labels // the declared values, also those --set left out
		}
		return p.ParamValues(param)
	}
	var split []string // the parameters that tell points (bars, histograms) apart
	if fs.Kind != "histogram" {
		what := "x"
		if fs.Kind == "bars" {
			what = "groups"
		}
		if err := checkParams(s, what, []string{fs.X}); err != nil {
			return err
		}
		if contains(fs.Facet, fs.X) {
			return posError(s.Pos, "%s: by %q is the %s already", s.Kind, fs.X, what)
		}
		split = append(split, fs.X)
	}
	split = append(split, fs.Facet...)
	if w := whereOf(s.Args["where"]); len(w) > 0 {
		fs.Where = w
		for k, vals := range w {
			if err := checkParams(s, "where", []string{k}); err != nil {
				return err
			}
			labels := labelsOf(k)
			for _, v := range vals {
				if !contains(labels, v) {
					return posError(s.Pos, "%s: where: %s = %q is not a value of %s%s (it takes %s)", s.Kind, k, v, k, plan.DidYouMean(v, labels), plan.QuoteList(labels))
				}
			}
		}
	}
	if fs.Kind == "lines" {
		if err := checkLinesX(s, fs, labelsOf(fs.X)); err != nil {
			return err
		}
	}
	return checkOnePoint(p, s, fs, split)
}

// checkOnePoint checks that the runs behind one point, bar or histogram
// differ in repeats only: an axis that is not split on (nor zipped with
// one that is) must have one value among the runs the figure keeps.
func checkOnePoint(p *plan.Plan, s *Spec, fs *results.FigureSpec, split []string) error {
	zips := map[int]bool{}
	for _, a := range p.Axes {
		if contains(split, a.Name) {
			zips[a.Zip] = true
		}
	}
	for _, a := range p.Axes {
		if zips[a.Zip] {
			continue
		}
		var vals []string
		for _, r := range p.Runs {
			if v := r.Params[a.Name]; results.Matches(r.Params, fs.Where) && !contains(vals, v) {
				vals = append(vals, v)
			}
		}
		if len(vals) > 1 {
			hint := "add it to by"
			if fs.Kind != "histogram" {
				hint += fmt.Sprintf(", or keep one value with where = {%q: %q}", a.Name, vals[0])
			}
			return posError(s.Pos, "%s: the runs also differ in sweep axis %q (%s), which the figure would mix: %s", s.Kind, a.Name, plan.QuoteList(vals), hint)
		}
	}
	return nil
}

// checkLinesX checks that the x values a lines figure keeps read as
// numbers, above 0 for log_x.
func checkLinesX(s *Spec, fs *results.FigureSpec, declared []string) error {
	var labels []string
	for _, l := range declared {
		if ws, ok := fs.Where[fs.X]; !ok || contains(ws, l) {
			labels = append(labels, l)
		}
	}
	vals, _, err := plot.ParseValues(labels)
	if err != nil {
		return posError(s.Pos, "%s: x %q: %v; leave such values out with where = {%q: [...]}", s.Kind, fs.X, err, fs.X)
	}
	for i, v := range vals {
		if fs.LogX && v <= 0 {
			return posError(s.Pos, "%s: log_x: x %q value %q is not above 0 (a log axis shows positive values only)", s.Kind, fs.X, labels[i])
		}
	}
	return nil
}
