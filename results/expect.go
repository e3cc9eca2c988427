package results

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Expectation is a bound a script declares on a metric: every run that
// Where selects must have the metric (or its ratio to a reference run)
// below Below and/or at least Above.
type Expectation struct {
	Name   string
	Metric string
	Where  map[string][]string
	// RatioTo, if set, compares the metric with the run whose parameters
	// are the same but for these, which take these values.
	RatioTo map[string]string
	Below   *float64 // the value must be < Below
	Above   *float64 // the value must be >= Above
}

// ExpectResult is one expectation checked on one run.
type ExpectResult struct {
	Name  string
	Run   string // the run's parameters, k=v ...
	Value float64
	Bound string
	Pass  bool
	Why   string // when it fails without a value (no run, no reference)
}

// Describe says the bound in words: "< 20", ">= 1.5x sender=tcpreplay".
func (e Expectation) Describe() string {
	var parts []string
	if e.Below != nil {
		parts = append(parts, "< "+fmtNum(*e.Below))
	}
	if e.Above != nil {
		parts = append(parts, ">= "+fmtNum(*e.Above))
	}
	s := strings.Join(parts, " and ")
	if len(e.RatioTo) > 0 {
		s += " x " + KV(e.RatioTo)
	}
	return s
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// KV shows parameters as "k=v k=v", sorted by key, leaving out those in
// skip.
func KV(m map[string]string, skip ...string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(skip, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, " ")
}

// Check evaluates the expectation on rows. A selection that matches no
// run, a run without the metric, or one without its reference run, fails.
func (e Expectation) Check(rows []Row) []ExpectResult {
	spec := TableSpec{Where: e.Where}
	var out []ExpectResult
	for _, r := range rows {
		if !spec.Selects(r) {
			continue
		}
		if len(e.RatioTo) > 0 && matchesAll(r.Params, e.RatioTo) {
			continue // the reference itself
		}
		res := ExpectResult{Name: e.Name, Run: KV(r.Params), Bound: e.Describe(), Value: math.NaN()}
		v, ok := r.Metrics[e.Metric]
		if !ok || math.IsNaN(v) {
			res.Why = "the run has no " + e.Metric
			out = append(out, res)
			continue
		}
		if len(e.RatioTo) > 0 {
			ref, found := reference(rows, r, e.RatioTo)
			rv, ok := ref.Metrics[e.Metric]
			if !found || !ok || rv == 0 || math.IsNaN(rv) {
				res.Why = "no reference run " + KV(e.RatioTo) + " with " + e.Metric
				out = append(out, res)
				continue
			}
			v /= rv
		}
		res.Value = v
		res.Pass = (e.Below == nil || v < *e.Below) && (e.Above == nil || v >= *e.Above)
		out = append(out, res)
	}
	if len(out) == 0 {
		out = append(out, ExpectResult{Name: e.Name, Bound: e.Describe(), Value: math.NaN(), Why: "matches no run: where " + whereList(e.Where)})
	}
	return out
}

// expectJSON is ExpectResult in JSON: a missing value is null, since
// JSON has no NaN.
type expectJSON struct {
	Name  string   `json:"Name"`
	Run   string   `json:"Run"`
	Value *float64 `json:"Value"`
	Bound string   `json:"Bound"`
	Pass  bool     `json:"Pass"`
	Why   string   `json:"Why,omitempty"`
}

// MarshalJSON writes a missing value (NaN) as null.
func (r ExpectResult) MarshalJSON() ([]byte, error) {
	j := expectJSON{Name: r.Name, Run: r.Run, Bound: r.Bound, Pass: r.Pass, Why: r.Why}
	if !math.IsNaN(r.Value) && !math.IsInf(r.Value, 0) {
		j.Value = &r.Value
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads null as a missing value (NaN).
func (r *ExpectResult) UnmarshalJSON(b []byte) error {
	var j expectJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = ExpectResult{Name: j.Name, Run: j.Run, Bound: j.Bound, Pass: j.Pass, Why: j.Why, Value: math.NaN()}
	if j.Value != nil {
		r.Value = *j.Value
	}
	return nil
}

// Measured is the value as a table shows it: "-" when there is none.
func (r ExpectResult) Measured() string {
	if math.IsNaN(r.Value) {
		return "-"
	}
	return fmtNum(r.Value)
}

func matchesAll(params, want map[string]string) bool {
	for k, v := range want {
		if params[k] != v {
			return false
		}
	}
	return true
}

// reference finds the row whose parameters equal r's except those in
// ratioTo, which take its values.
func reference(rows []Row, r Row, ratioTo map[string]string) (Row, bool) {
	for _, c := range rows {
		ok := true
		for k, v := range r.Params {
			if want, in := ratioTo[k]; in {
				v = want
			}
			if c.Params[k] != v {
				ok = false
				break
			}
		}
		if ok && len(c.Params) == len(r.Params) {
			return c, true
		}
	}
	return Row{}, false
}

func whereList(w map[string][]string) string {
	if len(w) == 0 {
		return "{} (all runs)"
	}
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, k+"="+strings.Join(w[k], "|"))
	}
	return strings.Join(out, " ")
}

// ExpectTable shows expectation results, failures first.
func ExpectTable(res []ExpectResult) Table {
	t := Table{Title: "Expectations", Header: []string{"expectation", "run", "measured", "bound", "result"}}
	sorted := slices.Clone(res)
	sort.SliceStable(sorted, func(i, j int) bool { return !sorted[i].Pass && sorted[j].Pass })
	for _, r := range sorted {
		val := r.Measured()
		verdict := "pass"
		if !r.Pass {
			verdict = "FAIL"
			if r.Why != "" {
				verdict += ": " + r.Why
			}
		}
		t.Cells = append(t.Cells, []string{r.Name, r.Run, val, r.Bound, verdict})
	}
	return t
}

// Failed counts the results that did not pass.
func Failed(res []ExpectResult) int {
	n := 0
	for _, r := range res {
		if !r.Pass {
			n++
		}
	}
	return n
}

// Validate checks the expectation against the metrics labrun knows.
func (e Expectation) Validate(known func(string) bool) error {
	if !known(e.Metric) {
		return fmt.Errorf("expectation %q: unknown metric %q", e.Name, e.Metric)
	}
	if e.Below == nil && e.Above == nil {
		return fmt.Errorf("expectation %q: give below = or above = (or both)", e.Name)
	}
	return nil
}
