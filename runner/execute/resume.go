package execute

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// newRunDir creates the folder base, or base-2, base-3... if it exists, so
// the same plan run twice within a second never overwrites a result.
func newRunDir(base string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", fmt.Errorf("output folder: %w", err)
	}
	dir := base
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("output folder: %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}

// priorRun is a run finished by an earlier invocation.
type priorRun struct {
	run results.ManifestRun
	row results.Row
}

// loadPrior reads the result folder of an earlier invocation and returns
// the runs of plan p that finished there: status ok in the manifest, a
// row in runs.csv and a complete series file. Results are written
// atomically, so a file that exists is complete.
// A shard's folder is resumed as the same shard only.
func loadPrior(dir string, p *plan.Plan, shard string) (map[string]priorRun, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("--resume %s: not a result folder: %w", dir, unwrapPathErr(err))
	}
	var m struct {
		Experiment string                `json:"experiment"`
		Shard      string                `json:"shard"`
		Runs       []results.ManifestRun `json:"runs"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("--resume %s: manifest.json: %w", dir, err)
	}
	if m.Experiment != p.Experiment {
		return nil, fmt.Errorf("--resume %s: it holds experiment %q, not %q", dir, m.Experiment, p.Experiment)
	}
	if m.Shard != shard {
		return nil, fmt.Errorf("--resume %s: it holds %s, not %s: give the same --shard as the invocation being resumed", dir, shardWords(m.Shard), shardWords(shard))
	}
	rows, err := readRunsCSV(filepath.Join(dir, "runs.csv"))
	if err != nil {
		return nil, fmt.Errorf("--resume %s: %w", dir, err)
	}
	inPlan := map[string]bool{}
	for _, r := range p.Runs {
		inPlan[r.ID] = true
	}
	out := map[string]priorRun{}
	for _, r := range m.Runs {
		row, ok := rows[r.ID]
		if r.Status != "ok" || !ok || !row.Measured() || !inPlan[r.ID] {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "series", r.ID+".csv")); err != nil {
			continue
		}
		out[r.ID] = priorRun{run: r, row: row}
	}
	return out, nil
}

// shardWords names a shard ("K/N") or the whole plan ("").
func shardWords(s string) string {
	if s == "" {
		return "the whole plan"
	}
	return "shard " + s
}

// readRunsCSV reads runs.csv back into rows keyed by run ID. Columns that
// are metrics labrun knows become metrics; the others are parameters.
func readRunsCSV(path string) (map[string]results.Row, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return map[string]results.Row{}, nil
		}
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("runs.csv: %w", err)
	}
	out := map[string]results.Row{}
	if len(recs) == 0 {
		return out, nil
	}
	head := recs[0]
	metric := map[string]bool{}
	for _, n := range results.MetricOrder() {
		metric[n] = true
	}
	for _, rec := range recs[1:] {
		row := results.Row{Params: map[string]string{}, Metrics: map[string]float64{}}
		for i, v := range rec {
			v = results.ParseCSVCell(v)
			switch name := head[i]; {
			case name == "id":
				row.ID = v
			case name == "status":
				row.Status = v
			case metric[name]:
				if v != "" {
					if f, err := strconv.ParseFloat(v, 64); err == nil {
						row.Metrics[name] = f
					}
				}
			default:
				row.Params[name] = v
			}
		}
		out[row.ID] = row
	}
	return out, nil
}

// sweepNote removes the temporary files a killed labrun left in its result
// folder dir (results.SweepTemps) and says which, for the manifest.
func sweepNote(dir string) string {
	left, err := results.SweepTemps(dir)
	var parts []string
	for _, l := range left {
		parts = append(parts, l.String())
	}
	note := ""
	if len(parts) > 0 {
		note = "; removed the temporary files it left: " + strings.Join(parts, ", ")
	}
	if err != nil {
		note += "; could not remove its temporary files: " + err.Error()
	}
	return note
}

// unwrapPathErr drops the path of a file error whose message names the
// path already.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
