package execute

import (
	"encoding/csv"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// A search finds, among the candidate values of one parameter (in
// ascending order: lo, lo+resolution, ..., hi), the largest one whose run
// meets a condition (RFC 2544 throughput: the highest rate with loss at
// most 0.1 %). It assumes the condition holds below some value and fails
// above it, and tries candidates by bisection: each trial is one run.
//
// With confirm, the value found is tried once more and must pass again;
// when it does not, the search found nothing (a link whose answer moves
// between trials has no throughput to report).

// searchTrial runs candidate i and says whether it met the condition. An
// error ends the search.
type searchTrial func(i int) (pass bool, err error)

// searchTry is one trial of a search: the candidate and its outcome.
type searchTry struct {
	Index int
	Pass  bool
}

// searchResult is the outcome of a search over n candidates.
type searchResult struct {
	// Found is the largest candidate that passed (and passed again when
	// confirmed); -1 when none did.
	Found int
	// Pass is the highest candidate that passed a trial (-1: none);
	// Fail the lowest that failed one (n: none). They bracket the answer.
	Pass, Fail int
	// Confirmed is true when the confirming trial passed.
	Confirmed bool
	// Trials are the runs in the order they were made.
	Trials []searchTry
	// Reason says why nothing was found, for the result table.
	Reason string
}

// runSearch bisects n candidates with trial.
func runSearch(n int, confirm bool, trial searchTrial) (searchResult, error) {
	if n < 1 {
		return searchResult{}, fmt.Errorf("a search needs at least one candidate")
	}
	r := searchResult{Found: -1, Pass: -1, Fail: n}
	try := func(i int) (bool, error) {
		ok, err := trial(i)
		if err != nil {
			return false, err
		}
		r.Trials = append(r.Trials, searchTry{Index: i, Pass: ok})
		return ok, nil
	}
	// Invariant: every candidate <= Pass passes, every one >= Fail fails.
	for r.Fail-r.Pass > 1 {
		mid := r.Pass + (r.Fail-r.Pass)/2
		ok, err := try(mid)
		if err != nil {
			return r, err
		}
		if ok {
			r.Pass = mid
		} else {
			r.Fail = mid
		}
	}
	if r.Pass < 0 {
		r.Reason = "no candidate met the condition, not even the lowest"
		return r, nil
	}
	if !confirm {
		r.Found = r.Pass
		return r, nil
	}
	ok, err := try(r.Pass)
	if err != nil {
		return r, err
	}
	r.Confirmed = ok
	if !ok {
		r.Reason = "the value found failed its confirming trial"
		return r, nil
	}
	r.Found = r.Pass
	return r, nil
}

// searchSkipped lists the candidates of n that a search did not try, in
// ascending order: their runs are marked skipped ("not needed by the
// search").
func searchSkipped(n int, r searchResult) []int {
	tried := make([]bool, n)
	for _, t := range r.Trials {
		tried[t.Index] = true
	}
	var out []int
	for i, ok := range tried {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// searchPoint is one search of a plan: the runs of its candidates at one
// point of the other axes, in candidate order.
type searchPoint struct {
	search *plan.Search
	runs   []int // plan run indexes, by candidate
	params map[string]string
	done   bool
	result searchResult
	err    string // why the search stopped early
}

// searchPoints groups the plan's search candidates by point: the run
// index of each candidate leads to its search.
func searchPoints(p *plan.Plan) (map[int]*searchPoint, []*searchPoint) {
	byName := map[string]*plan.Search{}
	for _, a := range p.Axes {
		if a.Search != nil {
			byName[a.Search.Name] = a.Search
		}
	}
	byKey := map[string]*searchPoint{}
	byRun := map[int]*searchPoint{}
	var order []*searchPoint
	for _, r := range p.Runs {
		if r.Search == nil {
			continue
		}
		others := map[string]string{}
		for k, v := range r.Params {
			if k != r.Search.Name {
				others[k] = v
			}
		}
		key := r.Search.Name + "\x00" + plan.ParamString(others)
		sp := byKey[key]
		if sp == nil {
			s := byName[r.Search.Name]
			sp = &searchPoint{search: s, runs: make([]int, len(s.Candidates)), params: others}
			for i := range sp.runs {
				sp.runs[i] = -1
			}
			byKey[key] = sp
			order = append(order, sp)
		}
		sp.runs[r.Search.Candidate] = r.Index
		byRun[r.Index] = sp
	}
	return byRun, order
}

// errSearchStop ends one search (a trial did not finish) but not the
// invocation.
type errSearchStop struct{ reason string }

func (e *errSearchStop) Error() string { return e.reason }

// search runs the bisection of sp: each trial is the step of its
// candidate's run; the candidates not tried are marked skipped.
func (inv *invocation) search(sp *searchPoint) error {
	p := inv.p
	tried := map[int]bool{}
	trial := func(c int) (bool, error) {
		i := sp.runs[c]
		if i < 0 { // pinned away: cannot happen (a search cannot be --set)
			return false, &errSearchStop{fmt.Sprintf("candidate %s is not in the plan", sp.search.Candidates[c])}
		}
		before := len(inv.all)
		if err := inv.step(i); err != nil {
			return false, err
		}
		if tried[c] { // the confirming trial: keep its row, not the first
			inv.keepLatest(p.Runs[i].ID, before)
		}
		tried[c] = true
		row := inv.all[len(inv.all)-1]
		if row.Status != "ok" {
			return false, &errSearchStop{fmt.Sprintf("run %d (%s = %s) ended %s", i+1, sp.search.Name, sp.search.Candidates[c], row.Status)}
		}
		pass, err := sp.search.Until.Pass(row.Metrics)
		if err != nil {
			return false, &errSearchStop{err.Error()}
		}
		return pass, nil
	}
	res, err := runSearch(len(sp.runs), sp.search.Confirm, trial)
	sp.result, sp.done = res, true
	var stop *errSearchStop
	if errors.As(err, &stop) {
		sp.err, err = stop.reason, nil
	}
	if err != nil {
		return err
	}
	if inv.out.Interrupted || inv.ctx.Err() != nil {
		sp.done = false // its runs not yet made stay pending, for --resume
		return nil
	}
	reason := "not needed by the search"
	if sp.err != "" {
		reason = "the search stopped: " + sp.err
	}
	for _, c := range searchSkipped(len(sp.runs), res) {
		if i := sp.runs[c]; i >= 0 {
			inv.skip(i, reason)
		}
	}
	inv.prog.line("%s", sp.describe())
	if err := writeRuns(inv.dir, p, inv.all); err != nil {
		return err
	}
	return results.WriteManifest(inv.manifest, inv.m)
}

// keepLatest drops an earlier row of run id (a confirming trial ran it
// again): runs.csv and the tables have one row per run, the latest.
func (inv *invocation) keepLatest(id string, before int) {
	for j := 0; j < before; j++ {
		if inv.all[j].ID == id {
			inv.all = append(inv.all[:j], inv.all[j+1:]...)
			for k, r := range inv.out.Rows {
				if r.ID == id {
					inv.out.Rows = append(inv.out.Rows[:k], inv.out.Rows[k+1:]...)
					break
				}
			}
			return
		}
	}
}

// skip marks run i skipped without running it.
func (inv *invocation) skip(i int, reason string) {
	r := inv.p.Runs[i]
	mr := &inv.m.Runs[i]
	mr.Status, mr.Error = "skipped", reason
	inv.all = append(inv.all, results.Row{ID: r.ID, Params: r.Params, Status: "skipped"})
	inv.out.Skipped++
}

// describe is the search's outcome in one line.
func (sp *searchPoint) describe() string {
	s, r := sp.search, sp.result
	at := plan.ParamString(sp.params)
	if at != "" {
		at = " at " + at
	}
	val := func(i int) string {
		if i < 0 || i >= len(s.Candidates) {
			return "-"
		}
		return s.Candidates[i]
	}
	found := "nothing found: " + r.Reason
	if sp.err != "" {
		found = "stopped: " + sp.err
	} else if r.Found >= 0 {
		found = s.Name + " = " + val(r.Found)
	}
	return fmt.Sprintf("search %s%s: %s (highest passing %s, lowest failing %s, %d trials of at most %d)",
		s.Name, at, found, val(r.Pass), val(r.Fail), len(r.Trials), s.MaxTrials())
}

// stepOrSearch runs run i, or the whole search it is a candidate of.
func (inv *invocation) stepOrSearch(i int, sp *searchPoint) error {
	if sp == nil {
		return inv.step(i)
	}
	return inv.search(sp)
}

// searchLines are the outcomes of the searches that ran.
func searchLines(sps []*searchPoint) []string {
	var out []string
	for _, sp := range sps {
		if sp.done {
			out = append(out, sp.describe())
		}
	}
	return out
}

// writeSearches writes searches.csv: a row per search with the value it
// found and the trials that bracket it.
func writeSearches(dir string, sps []*searchPoint) error {
	if len(sps) == 0 {
		return nil
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"search", "at", "found", "highest_pass", "lowest_fail", "trials", "max_trials", "confirmed", "note"})
	for _, sp := range sps {
		s, r := sp.search, sp.result
		val := func(i int) string {
			if !sp.done || i < 0 || i >= len(s.Candidates) {
				return ""
			}
			return s.Candidates[i]
		}
		note := r.Reason
		if sp.err != "" {
			note = "stopped: " + sp.err
		} else if !sp.done {
			note = "not run"
		}
		w.Write([]string{s.Name, plan.ParamString(sp.params), val(r.Found), val(r.Pass), val(r.Fail),
			strconv.Itoa(len(r.Trials)), strconv.Itoa(s.MaxTrials()), strconv.FormatBool(r.Confirmed), note})
	}
	w.Flush()
	return results.WriteFileAtomic(filepath.Join(dir, "searches.csv"), []byte(b.String()))
}
