package execute

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// Conclude writes the tables (tables.md), figures (plots/),
// expectations (expectations.csv) and report (report.json, report.html)
// of the result folder dir from the rows of its runs (ReadRows reads
// them from runs.csv) and its manifest.json, as the invocation that
// measured those rows writes them: labrun merge draws a merged folder
// with it. p is the folder's plan; a figure's error is also written to
// stderr.
func Conclude(dir string, p *plan.Plan, rows []results.Row, stderr io.Writer) (*Outcome, error) {
	m, err := manifestOf(dir)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Dir: dir}
	for _, r := range rows {
		switch r.Status {
		case "failed":
			out.Failed++
		case "skipped":
			out.Skipped++
		case "interrupted":
			out.Interrupted = true
		}
		if len(r.Metrics) > 0 && (r.Status == "ok" || r.Status == "interrupted") {
			out.Rows = append(out.Rows, r)
		}
	}
	for _, r := range m.Runs {
		var outs []kernel.Outcome
		if b, err := json.Marshal(r.Settings); err == nil && json.Unmarshal(b, &outs) == nil {
			out.addSettings(r.Index+1, outs)
		}
	}
	return out, concludeOutcome(dir, p, out, stderr, func(error) *results.Manifest { return m })
}

// manifestOf reads dir/manifest.json.
func manifestOf(dir string) (*results.Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a labrun result folder: %w", dir, unwrapPathErr(err))
	}
	m := &results.Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	return m, nil
}

// ReadRows reads dir/runs.csv back into rows, in its order: each run's
// parameters are its parameters in plan p, and every other column but id
// and status is a metric (empty cells are absent metrics).
func ReadRows(dir string, p *plan.Plan) ([]results.Row, error) {
	path := filepath.Join(dir, "runs.csv")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("%s: %v", path, cmpErr(err, "empty"))
	}
	runs := make(map[string]*plan.Run, len(p.Runs))
	isParam := map[string]bool{}
	for i := range p.Runs {
		runs[p.Runs[i].ID] = &p.Runs[i]
		for k := range p.Runs[i].Params {
			isParam[k] = true
		}
	}
	head := recs[0]
	var rows []results.Row
	for n, rec := range recs[1:] {
		row := results.Row{Metrics: map[string]float64{}}
		for i, v := range rec {
			v = results.ParseCSVCell(v)
			switch name := head[i]; {
			case name == "id":
				row.ID = v
			case name == "status":
				row.Status = v
			case isParam[name] || v == "":
			default:
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %s = %q is not a number", path, n+2, name, v)
				}
				row.Metrics[name] = x
			}
		}
		r, ok := runs[row.ID]
		if !ok {
			return nil, fmt.Errorf("%s:%d: run %s is not a run of the plan", path, n+2, row.ID)
		}
		row.Params = r.Params
		rows = append(rows, row)
	}
	return rows, nil
}

func cmpErr(err error, alt string) any {
	if err != nil {
		return err
	}
	return alt
}
