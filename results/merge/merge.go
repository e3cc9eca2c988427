// Package merge makes one result folder of several of the same plan: the
// shards of a sweep run on several machines (labrun run --shard), or the
// pieces of an invocation resumed elsewhere.
//
// Each run of the plan is taken from one folder. A run found in several
// (measured twice) is kept by this rule: the best status (ok, then
// interrupted, then failed, then skipped), then the latest end time, then
// the folder given first; the others are named as dropped. A run of the
// plan in no folder (or only pending there) is named missing.
package merge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configure Merge.
type Options struct {
	// Out is the merged folder; it must not exist or be empty.
	Out string
	// Command is the merging command line, for the manifest.
	Command []string
	// Redraw draws the merged folder's figures and report.html from its
	// report.json and manifest.json (labrun report's path). Nil is
	// results.RenderReport.
	Redraw func(dir string) error
}

// Result is what Merge did.
type Result struct {
	Dir        string
	Experiment string
	PlanHash   string
	Status     string // ok, failed (a run failed) or interrupted (runs missing or cut short)
	Runs       int    // runs in the plan
	Shards     []ShardRecord
	Missing    []Missing
	Duplicates []Duplicate
	// MissingShards are the shard numbers of N that no folder holds.
	MissingShards []string
}

// ShardRecord is one merged folder, as the merged manifest lists it.
type ShardRecord struct {
	Folder  string `json:"folder"`
	Machine string `json:"machine"`
	Shard   string `json:"shard,omitempty"`
	Status  string `json:"status"`
	Runs    int    `json:"runs"` // runs of the folder kept in the merge
}

// Missing is a run of the plan no folder measured.
type Missing struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
}

// Duplicate is a run measured in more than one folder.
type Duplicate struct {
	ID      string   `json:"id"`
	Kept    string   `json:"kept"`    // folder
	Dropped []string `json:"dropped"` // folders
	Why     string   `json:"why"`
}

// Merge writes o.Out from the folders dirs, which must hold the same plan.
func Merge(dirs []string, o Options) (*Result, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no folders to merge")
	}
	var ms []*manifest
	for _, d := range dirs {
		m, err := readManifest(filepath.Clean(d))
		if err != nil {
			return nil, err
		}
		if err := samePlan(ms, m); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if err := checkOut(o.Out, dirs); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(o.Out)
	p := choose(ms)
	if err := p.write(o); err != nil {
		// Nothing half-made is left: the folder goes if merge made it,
		// else what merge put in it.
		if statErr != nil {
			os.RemoveAll(o.Out)
		} else if ents, _ := os.ReadDir(o.Out); ents != nil {
			for _, e := range ents {
				os.RemoveAll(filepath.Join(o.Out, e.Name()))
			}
		}
		return nil, err
	}
	return p.res, nil
}

// samePlan refuses a folder of another plan than those before it.
func samePlan(prev []*manifest, m *manifest) error {
	for _, q := range prev {
		if q.dir == m.dir {
			return fmt.Errorf("%s is given twice", m.dir)
		}
	}
	if len(prev) == 0 {
		return nil
	}
	q := prev[0]
	if q.Experiment != m.Experiment {
		return fmt.Errorf("%s holds experiment %q and %s experiment %q: only folders of one plan merge", q.dir, q.Experiment, m.dir, m.Experiment)
	}
	if q.PlanHash != m.PlanHash {
		return fmt.Errorf("%s and %s are of different plans (plan hash %s and %s): only shards of one plan merge; were they run with other --set values or another script?", q.dir, m.dir, short(q.PlanHash), short(m.PlanHash))
	}
	return nil
}

func short(h string) string { return h[:min(len(h), 16)] }

// checkOut refuses an output folder that holds anything, or is one of the
// inputs.
func checkOut(out string, dirs []string) error {
	if out == "" {
		return fmt.Errorf("no output folder: give -o OUT")
	}
	for _, d := range dirs {
		if filepath.Clean(d) == filepath.Clean(out) {
			return fmt.Errorf("-o %s is one of the folders to merge: give a new folder", out)
		}
	}
	ents, err := os.ReadDir(out)
	if err == nil && len(ents) > 0 {
		return fmt.Errorf("-o %s exists and is not empty: give a new folder", out)
	}
	return nil
}

// statusRank orders the statuses a kept run may have: lower is better.
func statusRank(s string) int {
	switch s {
	case "ok":
		return 0
	case "interrupted":
		return 1
	case "failed":
		return 2
	case "skipped":
		return 3
	}
	return -1 // pending, running, missing: not measured
}

// candidate is run i of folder m.
type candidate struct {
	m *manifest
	i int
}

func (c candidate) run() run { return c.m.Runs[c.i] }

// better reports whether a is kept over b, and why.
func better(a, b candidate) (bool, string) {
	ra, rb := statusRank(a.run().Status), statusRank(b.run().Status)
	if ra != rb {
		return ra < rb, "status " + a.run().Status + " over " + b.run().Status
	}
	if c := a.run().End.Compare(b.run().End); c != 0 {
		return c > 0, "both " + a.run().Status + ", the later end (" + latest(a, b).UTC().Format("2006-01-02T15:04:05.000Z") + ")"
	}
	return false, "both " + a.run().Status + " and ended at the same time: the folder given first"
}

func latest(a, b candidate) time.Time {
	if a.run().End.After(b.run().End) {
		return a.run().End
	}
	return b.run().End
}

// statusOf is the merged folder's status.
func statusOf(kept []candidate, missing int) string {
	st := "ok"
	for _, c := range kept {
		switch {
		case c.m == nil:
		case c.run().Status == "failed":
			st = "failed"
		case c.run().Status == "interrupted" && st == "ok":
			st = "interrupted"
		}
	}
	if missing > 0 && st == "ok" {
		st = "interrupted"
	}
	return st
}

func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// listIDs joins up to 10 IDs, and says how many more.
func listIDs(ids []string) string {
	if len(ids) <= 10 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:10], ", ") + fmt.Sprintf(" and %d more", len(ids)-10)
}
