package plan

import (
	"fmt"
	"slices"
	"sort"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/results/plot"
)

// Outputs are the tables, figures and expectations a script declares, as
// plain values with their positions; Build checks them against the runs.
type Outputs struct {
	Expectations []ExpectDecl
	Tables       []TableDecl
	Figures      []FigureDecl
}

// An ExpectDecl is an expect(...) of the script.
type ExpectDecl struct {
	Pos, Kind   string // file:line:col and builtin, for errors
	Expectation results.Expectation
}

// A TableDecl is a table(...) of the script.
type TableDecl struct {
	Pos, Kind string
	// Spec has the title, rows, cols and metrics as declared.
	Spec   results.TableSpec
	Ratios []RatioDecl // ratios = {metric: {param: values}}, in order
	Best   [][2]string // best = {metric: direction}, in order; nil when not given
	Where  map[string][]string
	Refs   []RefDecl
}

// A RatioDecl is one metric of a table's ratios: the rows it is shown
// relative to.
type RatioDecl struct {
	Metric string
	Where  map[string][]string
}

// A RefDecl is a reference(...) of a table.
type RefDecl struct {
	Pos, Kind string
	Source    string
	Metric    string
	Keys      []string
	Values    map[string]float64
}

// A FigureDecl is a figure.*(...) of the script.
type FigureDecl struct {
	Pos, Kind string // Kind as the script names it: figure.lines
	// Spec has the kind, x, y, title, name and facet as declared.
	Spec  results.FigureSpec
	By    string // the argument the facet comes from: by or facet
	LogX  *bool  // log_x; nil when not given
	LogY  bool
	Bins  int // 0 when not given
	Where map[string][]string
}

// errorAt is a script error at pos.
func errorAt(pos, format string, args ...any) error {
	return &ScriptError{Msg: pos + ": " + fmt.Sprintf(format, args...)}
}

// outputCheck checks the declared outputs against the plan's parameters
// and fills them into the plan.
type outputCheck struct {
	p     *Plan
	known []string // the parameters: the axes, and rep with repeats
}

func (p *Plan) addOutputs(o Outputs) error {
	c := &outputCheck{p: p}
	for _, ax := range p.Axes {
		c.known = append(c.known, ax.Name)
	}
	if p.Repeat > 1 {
		c.known = append(c.known, "rep")
	}
	for _, e := range o.Expectations {
		if err := c.expectation(e); err != nil {
			return err
		}
		p.Expectations = append(p.Expectations, e.Expectation)
	}
	for _, t := range o.Tables {
		spec, err := c.table(t)
		if err != nil {
			return err
		}
		p.Tables = append(p.Tables, spec)
	}
	return c.figures(o.Figures)
}

// checkParams checks that names are parameters of the plan.
func (c *outputCheck) checkParams(pos, kind, what string, names []string) error {
	known := c.known
	for _, n := range names {
		if !slices.Contains(known, n) {
			axes := "axes: " + QuoteList(known)
			if len(known) == 0 {
				axes = "the experiment sweeps nothing (sweep.axis(...) declares an axis)"
			}
			return errorAt(pos, "%s: %s %q is not a sweep axis of this experiment%s; %s", kind, what, n, DidYouMean(n, known), axes)
		}
	}
	return nil
}

// labelsOf are the values a parameter takes: an axis's declared values
// (also those --set left out), else those of the runs.
func (c *outputCheck) labelsOf(param string) []string {
	for _, a := range c.p.Axes {
		if a.Name == param {
			return a.Values
		}
	}
	return c.p.ParamValues(param)
}

// checkLabels checks that vals are values of param.
func (c *outputCheck) checkLabels(pos, kind, what, param string, vals []string) error {
	labels := c.labelsOf(param)
	for _, v := range vals {
		if !slices.Contains(labels, v) {
			return errorAt(pos, "%s: %s: %s = %q is not a value of %s%s (it takes %s)", kind, what, param, v, param, DidYouMean(v, labels), QuoteList(labels))
		}
	}
	return nil
}

// expectation checks what an expect() names.
func (c *outputCheck) expectation(d ExpectDecl) error {
	e := d.Expectation
	for _, param := range sortedKeys(e.Where) {
		if err := c.checkParams(d.Pos, d.Kind, "where", []string{param}); err != nil {
			return err
		}
		if err := c.checkLabels(d.Pos, d.Kind, "where", param, e.Where[param]); err != nil {
			return err
		}
	}
	for _, param := range sortedKeys(e.RatioTo) {
		if err := c.checkParams(d.Pos, d.Kind, "ratio_to", []string{param}); err != nil {
			return err
		}
		if err := c.checkLabels(d.Pos, d.Kind, "ratio_to", param, []string{e.RatioTo[param]}); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// table checks a table() and returns its spec.
func (c *outputCheck) table(t TableDecl) (results.TableSpec, error) {
	spec := t.Spec
	if spec.Title == "" {
		spec.Title = c.p.Experiment
	}
	if err := c.checkParams(t.Pos, t.Kind, "rows", spec.Rows); err != nil {
		return spec, err
	}
	if spec.Cols != "" {
		if err := c.checkParams(t.Pos, t.Kind, "cols", []string{spec.Cols}); err != nil {
			return spec, err
		}
	}
	for _, r := range t.Ratios {
		if err := c.ratio(t, &spec, r); err != nil {
			return spec, err
		}
	}
	if t.Best != nil {
		spec.Best = map[string]string{}
		for _, kv := range t.Best {
			m := kv[0]
			if !slices.Contains(spec.Metrics, m) {
				return spec, errorAt(t.Pos, "table: best: metric %q is not among the table's metrics%s (%s)", m, DidYouMean(m, spec.Metrics), QuoteList(spec.Metrics))
			}
			spec.Best[m] = kv[1]
		}
	}
	if w := t.Where; w != nil {
		spec.Where = w
		for k, vals := range w {
			if err := c.checkParams(t.Pos, t.Kind, "where", []string{k}); err != nil {
				return spec, err
			}
			if err := c.checkLabels(t.Pos, t.Kind, "where", k, vals); err != nil {
				return spec, err
			}
		}
	}
	for _, r := range t.Refs {
		if err := c.reference(r, &spec); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// ratio checks one metric of a table's ratios and adds its relatives.
func (c *outputCheck) ratio(t TableDecl, spec *results.TableSpec, r RatioDecl) error {
	m := r.Metric
	if !slices.Contains(spec.Metrics, m) {
		return errorAt(t.Pos, "table: ratios: metric %q is not among the table's metrics%s (%s)", m, DidYouMean(m, spec.Metrics), QuoteList(spec.Metrics))
	}
	for param, vals := range r.Where {
		if !slices.Contains(spec.Rows, param) {
			return errorAt(t.Pos, "table: ratios: %q is not a row of the table%s (rows: %s)", param, DidYouMean(param, spec.Rows), QuoteList(spec.Rows))
		}
		if err := c.checkLabels(t.Pos, t.Kind, "ratios", param, vals); err != nil {
			return err
		}
		for _, v := range vals {
			spec.Relatives = append(spec.Relatives, results.Relative{Metric: m, Param: param, Value: v})
		}
	}
	return nil
}

// reference checks a table's reference(...) and adds it.
func (c *outputCheck) reference(r RefDecl, spec *results.TableSpec) error {
	if err := c.checkParams(r.Pos, r.Kind, "key", r.Keys); err != nil {
		return err
	}
	for _, k := range r.Keys {
		if k != spec.Cols && !slices.Contains(spec.Rows, k) {
			return errorAt(r.Pos, "reference: key %q is neither a row nor the column of the table (rows: %s)", k, QuoteList(spec.Rows))
		}
	}
	if !slices.Contains(spec.Metrics, r.Metric) {
		return errorAt(r.Pos, "reference: metric %q is not among the table's metrics (%s)", r.Metric, QuoteList(spec.Metrics))
	}
	spec.Refs = append(spec.Refs, results.Reference{Source: r.Source, Metric: r.Metric, Keys: r.Keys, Values: r.Values})
	return nil
}

// figures checks the figure.* values and adds them.
func (c *outputCheck) figures(decls []FigureDecl) error {
	names := map[string]bool{}
	for i, f := range decls {
		fs := f.Spec
		if err := c.checkParams(f.Pos, f.Kind, f.By, fs.Facet); err != nil {
			return err
		}
		if err := c.figure(f, &fs); err != nil {
			return err
		}
		if fs.Name == "" {
			fs.Name = fmt.Sprintf("%s-%d", fs.Kind, i+1)
		}
		if !ValidFileName(fs.Name) {
			return errorAt(f.Pos, "%s: name %q must be a plain file name (letters, digits, '_', '-', '.')", f.Kind, fs.Name)
		}
		if names[fs.Name] {
			return errorAt(f.Pos, "%s: two figures are named %q", f.Kind, fs.Name)
		}
		names[fs.Name] = true
		if fs.Title == "" {
			fs.Title = c.p.Experiment
		}
		c.p.Figures = append(c.p.Figures, fs)
	}
	return nil
}

// ValidFileName reports whether s can name an output file or folder:
// letters, digits, '_', '-' and '.', not empty and not starting with '.'.
func ValidFileName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != "" && s[0] != '.'
}

// figure checks what a lines, bars or histogram figure names (the
// parameters of its by are checked by the caller): x or groups is a sweep
// axis, where names axes and their values, x's values read as numbers
// (and are above 0 for log_x), and the runs of one point, bar or
// histogram differ in nothing but repeats.
func (c *outputCheck) figure(f FigureDecl, fs *results.FigureSpec) error {
	if (fs.Kind == "cdf" || fs.Kind == "histogram") && f.LogX != nil {
		// log_x: True or False forces the axis; unset lets the values
		// decide.
		fs.LogX, fs.LinearX = *f.LogX, !*f.LogX
	}
	if fs.Kind != "lines" && fs.Kind != "bars" && fs.Kind != "histogram" {
		return nil
	}
	if fs.Kind != "histogram" {
		fs.LogX = f.LogX != nil && *f.LogX
	}
	fs.LogY = f.LogY
	if f.Bins != 0 {
		fs.Bins = f.Bins
	}
	var split []string // the parameters that tell points (bars, histograms) apart
	if fs.Kind != "histogram" {
		what := "x"
		if fs.Kind == "bars" {
			what = "groups"
		}
		if err := c.checkParams(f.Pos, f.Kind, what, []string{fs.X}); err != nil {
			return err
		}
		if slices.Contains(fs.Facet, fs.X) {
			return errorAt(f.Pos, "%s: by %q is the %s already", f.Kind, fs.X, what)
		}
		split = append(split, fs.X)
	}
	split = append(split, fs.Facet...)
	if len(f.Where) > 0 {
		fs.Where = f.Where
		for k, vals := range f.Where {
			if err := c.checkParams(f.Pos, f.Kind, "where", []string{k}); err != nil {
				return err
			}
			labels := c.labelsOf(k)
			for _, v := range vals {
				if !slices.Contains(labels, v) {
					return errorAt(f.Pos, "%s: where: %s = %q is not a value of %s%s (it takes %s)", f.Kind, k, v, k, DidYouMean(v, labels), QuoteList(labels))
				}
			}
		}
	}
	if fs.Kind == "lines" {
		if err := checkLinesX(f, fs, c.labelsOf(fs.X)); err != nil {
			return err
		}
	}
	return checkOnePoint(c.p, f, fs, split)
}

// checkOnePoint checks that the runs behind one point, bar or histogram
// differ in repeats only: an axis that is not split on (nor zipped with
// one that is) must have one value among the runs the figure keeps.
func checkOnePoint(p *Plan, f FigureDecl, fs *results.FigureSpec, split []string) error {
	zips := map[int]bool{}
	for _, a := range p.Axes {
		if slices.Contains(split, a.Name) {
			zips[a.Zip] = true
		}
	}
	for _, a := range p.Axes {
		if zips[a.Zip] {
			continue
		}
		var vals []string
		for _, r := range p.Runs {
			if v := r.Params[a.Name]; results.Matches(r.Params, fs.Where) && !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
		if len(vals) > 1 {
			hint := "add it to by"
			if fs.Kind != "histogram" {
				hint += fmt.Sprintf(", or keep one value with where = {%q: %q}", a.Name, vals[0])
			}
			return errorAt(f.Pos, "%s: the runs also differ in sweep axis %q (%s), which the figure would mix: %s", f.Kind, a.Name, QuoteList(vals), hint)
		}
	}
	return nil
}

// checkLinesX checks that the x values a lines figure keeps read as
// numbers, above 0 for log_x.
func checkLinesX(f FigureDecl, fs *results.FigureSpec, declared []string) error {
	var labels []string
	for _, l := range declared {
		if ws, ok := fs.Where[fs.X]; !ok || slices.Contains(ws, l) {
			labels = append(labels, l)
		}
	}
	vals, _, err := plot.ParseValues(labels)
	if err != nil {
		return errorAt(f.Pos, "%s: x %q: %v; leave such values out with where = {%q: [...]}", f.Kind, fs.X, err, fs.X)
	}
	for i, v := range vals {
		if fs.LogX && v <= 0 {
			return errorAt(f.Pos, "%s: log_x: x %q value %q is not above 0 (a log axis shows positive values only)", f.Kind, fs.X, labels[i])
		}
	}
	return nil
}
