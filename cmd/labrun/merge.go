package main

import (
	"fmt"
	"strings"

	resmerge "github.com/labrun/labrun/results/merge"
	"github.com/labrun/labrun/runner"
)

// mergeRedraw draws a merged folder's figures and report.html, the way
// labrun report does. Integration point: once the plan can be evaluated
// again from the merged manifest, this is where its tables, figures and
// expectations are rebuilt from the merged runs.csv (as run's conclusion
// does) before the report is drawn.
var mergeRedraw = runner.Report

func cmdMerge(e *env, args []string) int {
	fs := newFlags(e, "merge", "DIR... -o OUT")
	out := fs.String("o", "", "the merged result folder to write (new or empty)")
	pos, err := parse(fs, args)
	if err != nil {
		return runner.ExitUsage
	}
	if len(pos) == 0 || *out == "" {
		fs.Usage()
		return runner.ExitUsage
	}
	res, err := resmerge.Merge(pos, resmerge.Options{Out: *out, Command: append([]string{"labrun", "merge"}, args...), Redraw: mergeRedraw})
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun merge: %s\n", runner.PrintableLines(err.Error()))
		return runner.ExitRunFailed
	}
	for _, s := range res.Shards {
		name := s.Shard
		if name == "" {
			name = "whole plan"
		}
		fmt.Fprintf(e.stdout, "%s: %s on %s, %s: %d run(s) kept\n", runner.Printable(s.Folder), name, runner.Printable(s.Machine), s.Status, s.Runs)
	}
	const most = 10 // lines per kind; the manifest lists them all
	for i, d := range res.Duplicates {
		if i == most {
			fmt.Fprintf(e.stderr, "labrun merge: and %d more runs measured more than once (manifest.json: merged.duplicates)\n", len(res.Duplicates)-most)
			break
		}
		fmt.Fprintf(e.stderr, "labrun merge: run %s measured %d times: kept from %s (%s); dropped %s\n", d.ID, len(d.Dropped)+1, runner.Printable(d.Kept), d.Why, runner.Printable(strings.Join(d.Dropped, ", ")))
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
	fmt.Fprintf(e.stdout, "merged %d of %d runs of %s (plan %s), status %s\nresults: %s\n", res.Runs-len(res.Missing), res.Runs, runner.Printable(res.Experiment), res.PlanHash[:16], res.Status, runner.Printable(res.Dir))
	if res.Status != "ok" {
		return runner.ExitRunFailed
	}
	return runner.ExitOK
}
