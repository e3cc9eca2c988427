package results

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/labrun/labrun/engine/measure"
)

// CompareOptions say what `labrun compare A B` compares.
type CompareOptions struct {
	A, B string // result folders (the one a run printed as "results: ...")
	// Metrics to compare; empty: every metric both sides have.
	Metrics []string
	// FailIf marks a regression when B/A of a metric is above Max and its
	// confidence interval lies above 1 too (or, where there is no
	// interval, the ratio alone is above Max).
	FailIf []Threshold
	// Resamples for the bootstrap; 0: 1000.
	Resamples int
	// Force compares folders of different experiments.
	Force bool
}

// ExperimentMismatchError is a comparison of two different experiments.
type ExperimentMismatchError struct {
	A, B       string // folders
	ExpA, ExpB string // their experiments
}

func (e *ExperimentMismatchError) Error() string {
	return fmt.Sprintf("%s holds experiment %q and %s experiment %q: their runs do not pair up; give --force to compare them anyway", e.A, e.ExpA, e.B, e.ExpB)
}

// Threshold is one --fail-if bound: metric=ratio.
type Threshold struct {
	Metric string
	Max    float64
}

// ParseThreshold reads "err_p99_us=1.2".
func ParseThreshold(s string) (Threshold, error) {
	k, v, ok := strings.Cut(s, "=")
	f, err := strconv.ParseFloat(v, 64)
	if !ok || err != nil || f <= 0 || !measure.Known(k) {
		return Threshold{}, fmt.Errorf("--fail-if %q: want metric=ratio with a metric labrun produces, e.g. err_p99_us=1.2 (B may be at most 1.2 x A)", s)
	}
	return Threshold{Metric: k, Max: f}, nil
}

// CompareRow is one metric of one run in both folders.
type CompareRow struct {
	Run           string // parameters, k=v ...
	Metric        string
	A, B, Ratio   float64
	Lo, Hi        float64 // 95 % bootstrap interval of the ratio (NaN: none)
	Verdict       string
	Regression    bool
	FromPerPacket bool
}

// resolutionUS is the smallest difference in a time metric that means
// anything: a few clock readings (about 25 ns each here).
const resolutionUS = 0.05

// Comparison is what Compare found.
type Comparison struct {
	Rows         []CompareRow
	OnlyA, OnlyB []string // runs in one folder only
	Regressions  int
}

// resultSet is one result folder read back.
type resultSet struct {
	dir        string
	experiment string
	rows       []Row
	series     map[string]string // run id -> series file
}

func readResultSet(dir string) (*resultSet, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s is not a labrun result folder (no manifest.json); give the folder a run printed after \"results:\"", dir)
		}
		return nil, err
	}
	var m struct {
		Experiment string `json:"experiment"`
		Runs       []struct {
			ID     string `json:"id"`
			Series string `json:"series"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	rs := &resultSet{dir: dir, experiment: m.Experiment, series: map[string]string{}}
	for _, r := range m.Runs {
		if r.Series != "" {
			if err := CheckRelPath(r.Series); err != nil {
				return nil, fmt.Errorf("%s/manifest.json: run %s: series %w", dir, r.ID, err)
			}
			rs.series[r.ID] = filepath.Join(dir, r.Series)
		}
	}
	f, err := os.Open(filepath.Join(dir, "runs.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s/runs.csv: %w", dir, err)
	}
	if len(recs) == 0 || len(recs[0]) == 0 || recs[0][0] != "id" {
		return nil, fmt.Errorf("%s/runs.csv: want a header starting with id", dir)
	}
	head := recs[0]
	for i, rec := range recs[1:] {
		if len(rec) != len(head) {
			return nil, fmt.Errorf("%s/runs.csv:%d: %d fields, header has %d", dir, i+2, len(rec), len(head))
		}
		r := Row{ID: ParseCSVCell(rec[0]), Params: map[string]string{}, Metrics: map[string]float64{}}
		for j := 1; j < len(head); j++ {
			if head[j] == "status" {
				r.Status = rec[j]
			} else if measure.Known(head[j]) {
				if rec[j] != "" {
					v, err := strconv.ParseFloat(rec[j], 64)
					if err != nil {
						return nil, fmt.Errorf("%s/runs.csv:%d: %s: bad number %q", dir, i+2, head[j], rec[j])
					}
					r.Metrics[head[j]] = v
				}
			} else {
				r.Params[head[j]] = ParseCSVCell(rec[j])
			}
		}
		if r.Status == "failed" || r.Status == "skipped" {
			continue // nothing measured
		}
		rs.rows = append(rs.rows, r)
	}
	return rs, nil
}

// paramKey identifies a run across folders: its parameters but the
// repeat number.
func paramKey(p map[string]string) string { return KV(p, "rep") }

// perPacket maps a metric to the per-packet column and statistic that
// give it, so its ratio gets a bootstrap interval.
var perPacket = map[string]struct {
	col  string
	q    float64 // quantile; 0.5 median
	abs  bool
	unit float64
}{
	measure.ErrP50US:     {"error_ns", 0.5, false, 1e3},
	measure.ErrP99US:     {"error_ns", 0.99, false, 1e3},
	measure.IATErrP50US:  {"iat_err_ns", 0.5, true, 1e3},
	measure.IATErrP99US:  {"iat_err_ns", 0.99, true, 1e3},
	measure.LatP50US:     {"latency_ns", 0.5, false, 1e3},
	measure.LatP99US:     {"latency_ns", 0.99, false, 1e3},
	measure.ReadP50US:    {"read_ns", 0.5, false, 1e3},
	measure.ReadP99US:    {"read_ns", 0.99, false, 1e3},
	measure.IATErrP95US:  {"iat_err_ns", 0.95, true, 1e3},
	measure.IATErrP999US: {"iat_err_ns", 0.999, true, 1e3},
}

func column(path, col string, abs bool) []float64 {
	if path == "" || col == "" {
		return nil
	}
	s, err := ReadSeries(path)
	if err != nil {
		return nil
	}
	vals := s.Column(col)
	out := make([]float64, 0, len(vals))
	for _, v := range vals {
		if v == Missing {
			continue
		}
		f := float64(v)
		if abs && f < 0 {
			f = -f
		}
		out = append(out, f)
	}
	return out
}

func quantileOf(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

// bootstrapRatio is the 95 % percentile-bootstrap interval of
// stat(B)/stat(A), resampling each side's packets with replacement.
func bootstrapRatio(a, b []float64, q float64, n int, rng *rand.Rand) (lo, hi float64) {
	// Large series are thinned to 20,000 packets for resampling: the
	// interval's width depends on the sample size, so report it as such.
	a, b = thin(a, 20000), thin(b, 20000)
	ratios := make([]float64, 0, n)
	ra, rb := make([]float64, len(a)), make([]float64, len(b))
	for range n {
		blockResample(ra, a, rng)
		blockResample(rb, b, rng)
		slices.Sort(ra)
		slices.Sort(rb)
		if sa := quantileOf(ra, q); sa != 0 {
			ratios = append(ratios, quantileOf(rb, q)/sa)
		}
	}
	if len(ratios) < n/2 {
		return math.NaN(), math.NaN()
	}
	slices.Sort(ratios)
	return quantileOf(ratios, 0.025), quantileOf(ratios, 0.975)
}

// blockResample fills dst with blocks of consecutive packets drawn at
// random from src (a moving-block bootstrap): a run's errors come in
// bursts (a stall delays several packets in a row, and the host's noise
// comes and goes over seconds), so resampling packets one by one would
// treat a burst as independent evidence and make the interval far too
// narrow. Blocks are a tenth of the run: the interval is wide, as the
// evidence one run gives about its own tail is thin.
func blockResample(dst, src []float64, rng *rand.Rand) {
	block := max(20, len(src)/10)
	if block > len(src) {
		block = len(src)
	}
	for i := 0; i < len(dst); {
		start := rng.IntN(len(src) - block + 1)
		i += copy(dst[i:], src[start:start+block])
	}
}

func thin(v []float64, n int) []float64 {
	if len(v) <= n {
		return v
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = v[i*len(v)/n]
	}
	return out
}

// Compare compares two result folders run by run.
func Compare(o CompareOptions) (*Comparison, error) {
	a, err := readResultSet(o.A)
	if err != nil {
		return nil, err
	}
	b, err := readResultSet(o.B)
	if err != nil {
		return nil, err
	}
	if a.experiment != b.experiment && !o.Force {
		return nil, &ExperimentMismatchError{A: o.A, B: o.B, ExpA: a.experiment, ExpB: b.experiment}
	}
	if o.Resamples == 0 {
		o.Resamples = 1000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	c := &Comparison{}
	pairs, onlyA, onlyB := pairRuns(a.rows, b.rows)
	c.OnlyA, c.OnlyB = onlyA, onlyB
	for _, pr := range pairs {
		ra, rb := pr.a[0], pr.b[0]
		metrics := o.Metrics
		if len(metrics) == 0 {
			for _, n := range measure.Names {
				if _, ok := ra.Metrics[n.Name]; ok {
					if _, ok := rb.Metrics[n.Name]; ok {
						metrics = append(metrics, n.Name)
					}
				}
			}
		}
		for _, m := range metrics {
			if row, regressions, ok := compareMetric(o, a, b, pr, m, rng); ok {
				c.Regressions += regressions
				c.Rows = append(c.Rows, row)
			}
		}
	}
	return c, nil
}

// runPair is a group of runs of A and the group of B it is compared with.
type runPair struct {
	a, b []Row
	key  string
}

// pairRuns pairs runs up by their parameters (repeats of a run group
// together); what is left on both sides pairs up in order when both have as many
// (a parameter whose value was changed between the two invocations),
// else it is listed as being on one side only.
func pairRuns(rowsA, rowsB []Row) (pairs []runPair, onlyA, onlyB []string) {
	group := func(rows []Row) (map[string][]Row, []string) {
		g := map[string][]Row{}
		var order []string
		for _, r := range rows {
			k := paramKey(r.Params)
			if _, ok := g[k]; !ok {
				order = append(order, k)
			}
			g[k] = append(g[k], r)
		}
		return g, order
	}
	ga, orderA := group(rowsA)
	gb, orderB := group(rowsB)
	var leftA, leftB []string
	for _, k := range orderA {
		if _, ok := gb[k]; ok {
			pairs = append(pairs, runPair{ga[k], gb[k], k})
		} else {
			leftA = append(leftA, k)
		}
	}
	for _, k := range orderB {
		if _, ok := ga[k]; !ok {
			leftB = append(leftB, k)
		}
	}
	if len(leftA) == len(leftB) {
		for i := range leftA {
			pairs = append(pairs, runPair{ga[leftA[i]], gb[leftB[i]], leftA[i] + " | B: " + leftB[i]})
		}
		return pairs, nil, nil
	}
	return pairs, leftA, leftB
}

// compareMetric compares metric m between the runs of a pair: medians
// and an interval from the repeats, or a ratio with an interval from the
// per-packet values; with how many --fail-if thresholds it passes, and
// false if either side lacks m.
func compareMetric(o CompareOptions, a, b *resultSet, pr runPair, m string, rng *rand.Rand) (row CompareRow, regressions int, ok bool) {
	ra, rb, key := pr.a[0], pr.b[0], pr.key
	reps := len(pr.a) >= 2 && len(pr.b) >= 2
	va, okA := ra.Metrics[m]
	vb, okB := rb.Metrics[m]
	if !okA || !okB {
		return row, 0, false
	}
	var xa, xb []float64
	if reps {
		xa, xb = metricOver(pr.a, m), metricOver(pr.b, m)
		va, vb = medianOf(xa), medianOf(xb)
	}
	row = CompareRow{Run: key, Metric: m, A: va, B: vb, Ratio: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if va != 0 {
		row.Ratio = vb / va
	}
	if reps {
		// Repeats: the interval comes from how the metric varies
		// between runs, which is what differs between invocations.
		if len(xa) >= 2 && len(xb) >= 2 {
			row.Lo, row.Hi = bootstrapRuns(xa, xb, o.Resamples, rng)
		}
	} else if pp, ok := perPacket[m]; ok && pp.col != "" {
		xa, xb := column(a.series[ra.ID], pp.col, pp.abs), column(b.series[rb.ID], pp.col, pp.abs)
		if len(xa) >= 20 && len(xb) >= 20 {
			row.Lo, row.Hi = bootstrapRatio(xa, xb, pp.q, o.Resamples, rng)
			row.FromPerPacket = true
		}
	}
	row.Verdict = verdict(row)
	if strings.HasSuffix(m, "_us") && math.Abs(row.B-row.A) < resolutionUS && row.Verdict != "-" {
		row.Verdict = "within resolution"
	}
	for _, t := range o.FailIf {
		if t.Metric == m && !math.IsNaN(row.Ratio) && row.Ratio > t.Max && (math.IsNaN(row.Lo) || row.Lo > 1) {
			row.Regression = true
			row.Verdict += fmt.Sprintf("; REGRESSION (> %gx)", t.Max)
			regressions++
		}
	}
	return row, regressions, true
}

func verdict(r CompareRow) string {
	switch {
	case math.IsNaN(r.Ratio):
		return "-"
	case math.IsNaN(r.Lo):
		if r.Ratio == 1 {
			return "same"
		}
		return "no interval"
	case r.Lo <= 1 && r.Hi >= 1:
		return "within noise"
	case r.Lo > 1:
		return "higher"
	default:
		return "lower"
	}
}

// Table shows the comparison.
func (c *Comparison) Table() Table {
	t := Table{Title: "B against A", Header: []string{"run", "metric", "A", "B", "B/A", "95% interval", "verdict"}}
	num := func(f float64) string {
		if math.IsNaN(f) {
			return "-"
		}
		return strconv.FormatFloat(f, 'g', 4, 64)
	}
	for _, r := range c.Rows {
		ci := "-"
		if !math.IsNaN(r.Lo) {
			ci = num(r.Lo) + " - " + num(r.Hi)
		}
		t.Cells = append(t.Cells, []string{r.Run, r.Metric, num(r.A), num(r.B), num(r.Ratio), ci, r.Verdict})
	}
	for _, k := range c.OnlyA {
		t.Notes = append(t.Notes, "only in A: "+k)
	}
	for _, k := range c.OnlyB {
		t.Notes = append(t.Notes, "only in B: "+k)
	}
	t.Notes = append(t.Notes, "intervals: with repeats (repeat = N) on both sides, A and B are medians over the repeats and the interval is a bootstrap over them, the noise between invocations; with one run a side, a bootstrap of the ratio over each run's per-packet series (up to 20,000 packets, resampled in blocks of consecutive packets), the noise within a run. \"within noise\" when the interval holds 1, \"within resolution\" when A and B differ by less than 0.05 us")
	return t
}

// metricOver lists a metric over a group of repeated runs.
func metricOver(rows []Row, m string) []float64 {
	var out []float64
	for _, r := range rows {
		if v, ok := r.Metrics[m]; ok && !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

func medianOf(v []float64) float64 { return Median(v) }

// bootstrapRuns is the 95 % percentile-bootstrap interval of the ratio of
// the medians over repeated runs, resampling the runs.
func bootstrapRuns(a, b []float64, n int, rng *rand.Rand) (lo, hi float64) {
	ra, rb := make([]float64, len(a)), make([]float64, len(b))
	ratios := make([]float64, 0, n)
	for range n {
		for i := range ra {
			ra[i] = a[rng.IntN(len(a))]
		}
		for i := range rb {
			rb[i] = b[rng.IntN(len(b))]
		}
		if ma := medianOf(ra); ma != 0 {
			ratios = append(ratios, medianOf(rb)/ma)
		}
	}
	if len(ratios) < n/2 {
		return math.NaN(), math.NaN()
	}
	slices.Sort(ratios)
	return quantileOf(ratios, 0.025), quantileOf(ratios, 0.975)
}
