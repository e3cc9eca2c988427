package execute

import "fmt"

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
