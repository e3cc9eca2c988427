package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	resmerge "github.com/labrun/labrun/results/merge"
	"github.com/labrun/labrun/runner/execute"
	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/script"
	"github.com/labrun/labrun/runner/shard"
)

// mergeRedraw concludes a merged folder as one invocation of the whole
// plan would: the plan evaluated again (mergedPlan, checked by its hash),
// the rows of its runs.csv, then tables.md, plots/, expectations.csv and
// the report (execute.Conclude). If the plan cannot be made again, it
// draws the report of the folder's runs and says why the rest is missing.
func mergeRedraw(stderr io.Writer) func(dir string) error {
	return func(dir string) error {
		p, err := mergedPlan(dir)
		if err != nil {
			if rerr := execute.Report(dir); rerr != nil {
				return rerr
			}
			return fmt.Errorf("tables, figures and expectations not drawn: %w", err)
		}
		rows, err := execute.ReadRows(dir, p)
		if err != nil {
			return err
		}
		_, err = execute.Conclude(dir, p, rows, stderr)
		return err
	}
}

// mergedPlan evaluates the plan of a merged folder again, from the script
// and the --set and --cpu flags its manifest's command gives, and checks
// that it is the plan the folder holds (its plan_hash).
func mergedPlan(dir string) (*plan.Plan, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m struct {
		Script   string   `json:"script"`
		Command  []string `json:"command"`
		PlanHash string   `json:"plan_hash"`
		Merged   struct {
			Shards []struct {
				Folder string `json:"folder"`
			} `json:"shards"`
		} `json:"merged"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %v", dir, err)
	}
	cmd := m.Command
	if len(m.Merged.Shards) > 0 { // the merged manifest's command is merge's: take the run's
		var first struct {
			Command []string `json:"command"`
		}
		fb, err := os.ReadFile(filepath.Join(m.Merged.Shards[0].Folder, "manifest.json"))
		if err == nil {
			err = json.Unmarshal(fb, &first)
		}
		if err != nil {
			return nil, fmt.Errorf("the command of %s: %v", m.Merged.Shards[0].Folder, err)
		}
		cmd = first.Command
	}
	sets, cpus := runFlags(cmd)
	pin, err := parseCPUList(cpus)
	if err != nil {
		return nil, err
	}
	p, err := evaluate(m.Script, script.Options{Overrides: sets, CPUs: pin, MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, r := range p.Runs {
		ids = append(ids, r.ID)
	}
	if h := shard.PlanHash(ids); h != m.PlanHash {
		return nil, fmt.Errorf("%s with %v makes plan %s now, not the folder's %s: the script or what it reads changed", m.Script, sets, h[:16], m.PlanHash[:min(16, len(m.PlanHash))])
	}
	return p, nil
}

// runFlags picks the flags that shape the plan out of a labrun run
// command line: --set name=value (repeatable) and --cpu.
func runFlags(cmd []string) (map[string]string, string) {
	sets, cpus := map[string]string{}, ""
	for i := 0; i < len(cmd); i++ {
		name, val, inline := strings.Cut(strings.TrimLeft(cmd[i], "-"), "=")
		if !strings.HasPrefix(cmd[i], "-") || name != "set" && name != "cpu" {
			continue
		}
		if !inline && i+1 < len(cmd) {
			i++
			val = cmd[i]
		}
		if name == "cpu" {
			cpus = val
		} else if k, v, ok := strings.Cut(val, "="); ok {
			sets[k] = v
		}
	}
	return sets, cpus
}

func cmdMerge(e *env, args []string) int {
	fs := newFlags(e, "merge", "DIR... -o OUT")
	out := fs.String("o", "", "the merged result folder to write (new or empty)")
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) == 0 || *out == "" {
		fs.Usage()
		return ExitUsage
	}
	res, err := resmerge.Merge(pos, resmerge.Options{Out: *out, Command: append([]string{"labrun", "merge"}, args...), Redraw: mergeRedraw(e.stderr)})
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun merge: %s\n", plan.PrintableLines(err.Error()))
		return ExitRunFailed
	}
	for _, s := range res.Shards {
		name := s.Shard
		if name == "" {
			name = "whole plan"
		}
		fmt.Fprintf(e.stdout, "%s: %s on %s, %s: %d run(s) kept\n", plan.Printable(s.Folder), name, plan.Printable(s.Machine), s.Status, s.Runs)
	}
	const most = 10 // lines per kind; the manifest lists them all
	for i, d := range res.Duplicates {
		if i == most {
			fmt.Fprintf(e.stderr, "labrun merge: and %d more runs measured more than once (manifest.json: merged.duplicates)\n", len(res.Duplicates)-most)
			break
		}
		fmt.Fprintf(e.stderr, "labrun merge: run %s measured %d times: kept from %s (%s); dropped %s\n", d.ID, len(d.Dropped)+1, plan.Printable(d.Kept), d.Why, plan.Printable(strings.Join(d.Dropped, ", ")))
	}
	for _, k := range res.MissingShards {
		fmt.Fprintf(e.stderr, "labrun merge: no folder of shard %s\n", k)
	}
	for i, m := range res.Missing {
		if i == most {
			fmt.Fprintf(e.stderr, "labrun merge: and %d more runs missing (manifest.json: merged.missing)\n", len(res.Missing)-most)
			break
		}
		fmt.Fprintf(e.stderr, "labrun merge: run %d (%s) missing: no folder measured it\n", m.Index+1, m.ID)
	}
	fmt.Fprintf(e.stdout, "merged %d of %d runs of %s (plan %s), status %s\nresults: %s\n", res.Runs-len(res.Missing), res.Runs, plan.Printable(res.Experiment), res.PlanHash[:16], res.Status, plan.Printable(res.Dir))
	if res.Status != "ok" {
		return ExitRunFailed
	}
	return ExitOK
}
