package merge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/labrun/labrun/runner/shard"
)

// Fields of manifest.json that merge reads beyond results.Manifest's:
//
//	plan_hash  the full plan's hash, shard.PlanHash of all its run IDs in
//	           plan order (the folder name's 8 digits are its start)
//	shard      "K/N" when the invocation ran shard K of N (labrun run
//	           --shard), absent when it ran the whole plan
//	plan_runs  the full plan's run IDs in plan order, so that merge can
//	           name the runs of a shard whose folder is missing
//
// The manifest's runs of a shard are the shard's runs. A folder without
// plan_hash (written before shards existed) lists every run of its plan,
// finished or not, and its plan hash is computed from them.
const (
	fieldPlanHash = "plan_hash"
	fieldShard    = "shard"
	fieldPlanRuns = "plan_runs"
	fieldMerged   = "merged"
)

// manifest is what merge reads of a folder's manifest.json.
type manifest struct {
	Experiment string    `json:"experiment"`
	PlanHash   string    `json:"plan_hash"`
	Shard      string    `json:"shard"`
	PlanRuns   []string  `json:"plan_runs"`
	Status     string    `json:"status"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Machine    struct {
		Hostname string `json:"hostname"`
	} `json:"machine"`
	Runs []run `json:"runs"`

	dir  string
	raw  map[string]json.RawMessage // every field, to write back
	runs []json.RawMessage          // each run's record as written
}

// run is what merge reads of a run's record in manifest.json.
type run struct {
	Index  int       `json:"index"`
	ID     string    `json:"id"`
	Status string    `json:"status"`
	End    time.Time `json:"end"`
	Series string    `json:"series"`
	Files  []string  `json:"files"`
}

// readManifest reads dir/manifest.json and works out its plan hash.
func readManifest(dir string) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a labrun result folder (no manifest.json)", dir)
	}
	if err != nil {
		return nil, err
	}
	m := &manifest{dir: dir}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %v", dir, err)
	}
	if err := json.Unmarshal(b, &m.raw); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %v", dir, err)
	}
	if err := json.Unmarshal(m.raw["runs"], &m.runs); err != nil && m.raw["runs"] != nil {
		return nil, fmt.Errorf("%s/manifest.json: runs: %v", dir, err)
	}
	if m.Experiment == "" || len(m.Runs) == 0 && len(m.PlanRuns) == 0 {
		return nil, fmt.Errorf("%s/manifest.json: no experiment or no runs: not a labrun result folder", dir)
	}
	return m, m.resolveHash()
}

// resolveHash checks the plan hash a shard records, or computes it for a
// folder of a whole plan.
func (m *manifest) resolveHash() error {
	if len(m.PlanRuns) > 0 {
		if h := shard.PlanHash(m.PlanRuns); m.PlanHash != "" && h != m.PlanHash {
			return fmt.Errorf("%s/manifest.json: plan_hash %s does not match its plan_runs (hash %s)", m.dir, m.PlanHash, h)
		}
	}
	if m.Shard != "" {
		if _, err := shard.Parse(m.Shard, noEnv); err != nil {
			return fmt.Errorf("%s/manifest.json: shard: %v", m.dir, err)
		}
		if m.PlanHash == "" {
			return fmt.Errorf("%s/manifest.json: shard %s but no plan_hash: cannot tell which plan it belongs to", m.dir, m.Shard)
		}
		return nil
	}
	if m.PlanHash == "" {
		m.PlanHash = shard.PlanHash(m.planIDs())
	}
	return nil
}

// planIDs are the IDs of the full plan as far as this folder knows them.
func (m *manifest) planIDs() []string {
	if len(m.PlanRuns) > 0 {
		return m.PlanRuns
	}
	rs := slices.Clone(m.Runs)
	slices.SortStableFunc(rs, func(a, b run) int { return a.Index - b.Index })
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func noEnv(string) string { return "" }
