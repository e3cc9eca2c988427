package plan

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"

	"github.com/labrun/labrun/engine/units"
)

// MaxSearchCandidates bounds the candidates of one search: the runs it
// adds to the plan.
const MaxSearchCandidates = 100_000

// A Search is sweep.search: the largest value of one parameter, among
// Candidates (Lo, Lo+Resolution, ..., Hi), whose run meets Until. The plan
// holds a run per candidate; execute bisects them (RFC 2544) and skips
// those the search does not need.
type Search struct {
	Name       string   `json:"name"`
	Lo         string   `json:"lo"`
	Hi         string   `json:"hi"`
	Resolution string   `json:"resolution"`
	Candidates []string `json:"candidates"`
	Until      Until    `json:"until"`
	// Confirm repeats the trial of the value found; it must pass again.
	Confirm bool   `json:"confirm"`
	Pos     string `json:"declared_at"`
}

// Until is a search's condition on one metric of a run: at most or at
// least a bound (one of the two).
type Until struct {
	Metric  string   `json:"metric"`
	AtMost  *float64 `json:"at_most,omitempty"`
	AtLeast *float64 `json:"at_least,omitempty"`
}

// String is the condition as labrun plan shows it: "rx_loss_pct <= 0.1".
func (u Until) String() string {
	if u.AtMost != nil {
		return u.Metric + " <= " + strconv.FormatFloat(*u.AtMost, 'g', -1, 64)
	}
	if u.AtLeast != nil {
		return u.Metric + " >= " + strconv.FormatFloat(*u.AtLeast, 'g', -1, 64)
	}
	return u.Metric
}

// Pass says whether a run's metrics meet the condition; a run without
// the metric is an error (the search cannot go on).
func (u Until) Pass(metrics map[string]float64) (bool, error) {
	v, ok := metrics[u.Metric]
	if !ok || math.IsNaN(v) {
		return false, fmt.Errorf("the search's condition needs the metric %s, which the run did not report", u.Metric)
	}
	if u.AtMost != nil && v > *u.AtMost {
		return false, nil
	}
	if u.AtLeast != nil && v < *u.AtLeast {
		return false, nil
	}
	return true, nil
}

// SearchTrials is the most trials a search over n candidates takes:
// bisection over n+1 outcomes (none passes, or candidate i is the largest
// that passes), ceil(log2(n+1)), and the confirming trial.
func SearchTrials(n int, confirm bool) int {
	t := bits.Len(uint(n))
	if confirm {
		t++
	}
	return t
}

// MaxTrials is the most trials the search takes.
func (s Search) MaxTrials() int { return SearchTrials(len(s.Candidates), s.Confirm) }

// Describe is the search as labrun plan shows it.
func (s Search) Describe() string {
	confirm := ""
	if s.Confirm {
		confirm = ", the last confirmed"
	}
	return fmt.Sprintf("search %s: %s..%s by %s, %d candidates, at most %d trials%s, until %s",
		s.Name, s.Lo, s.Hi, s.Resolution, len(s.Candidates), s.MaxTrials(), confirm, s.Until)
}

// SearchCandidates are the values lo, lo+resolution, ..., hi of a search
// over rates ("10Mbps", "1Mpps"): all of one kind, lo <= hi, and hi - lo a
// whole number of resolutions.
func SearchCandidates(lo, hi, resolution string) ([]string, error) {
	var r [3]units.Rate
	for i, s := range []string{lo, hi, resolution} {
		v, err := units.ParseRate(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", [3]string{"lo", "hi", "resolution"}[i], err)
		}
		r[i] = v
	}
	if r[0].Kind != r[1].Kind || r[0].Kind != r[2].Kind {
		return nil, fmt.Errorf("lo, hi and resolution must all be bit rates (bps) or all packet rates (pps): %s, %s, %s", lo, hi, resolution)
	}
	l, h, step := r[0].PerSecond, r[1].PerSecond, r[2].PerSecond
	if step <= 0 {
		return nil, fmt.Errorf("resolution must be above 0, got %s", resolution)
	}
	if h < l {
		return nil, fmt.Errorf("hi (%s) is below lo (%s)", hi, lo)
	}
	steps := (h - l) / step
	whole := math.Round(steps)
	if math.Abs(steps-whole) > 1e-9*math.Max(1, steps) {
		return nil, fmt.Errorf("hi - lo (%s - %s) must be a whole number of resolutions (%s)", hi, lo, resolution)
	}
	if whole+1 > MaxSearchCandidates {
		return nil, fmt.Errorf("%s..%s by %s is %.0f candidates, more than %d; give a coarser resolution", lo, hi, resolution, whole+1, MaxSearchCandidates)
	}
	out := make([]string, 0, int(whole)+1)
	for i := range int(whole) + 1 {
		v := l + float64(i)*step
		if i == int(whole) {
			v = h // no drift at the top
		}
		out = append(out, units.Rate{Kind: r[0].Kind, PerSecond: math.Round(v*1e3) / 1e3}.String())
	}
	return out, nil
}

// writeSearches says, for each search of the plan, its range and how many
// of its candidate runs it can need: one search per point of the other
// axes, each at most MaxTrials trials.
func writeSearches(w io.Writer, p *Plan) {
	for _, a := range p.Axes {
		if a.Search == nil {
			continue
		}
		cand := 0
		for _, r := range p.Runs {
			if r.Search != nil && r.Search.Name == a.Search.Name {
				cand++
			}
		}
		points := 0
		if n := len(valuesInRuns(p, a)); n > 0 {
			points = cand / n
		}
		fmt.Fprintln(w, Printable(a.Search.Describe()))
		fmt.Fprintf(w, "  %d search(es), one per point of the other axes: at most %d trials over their %d candidate runs; the candidates not tried are skipped\n",
			points, points*a.Search.MaxTrials(), cand)
	}
}
