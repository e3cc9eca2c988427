package execute

import (
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// checkExpectations evaluates the plan's expectations on the finished
// runs.
func checkExpectations(p *plan.Plan, rows []results.Row) []results.ExpectResult {
	var out []results.ExpectResult
	for _, e := range p.Expectations {
		out = append(out, e.Check(rows)...)
	}
	return out
}
