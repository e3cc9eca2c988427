package main

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/execute"
	"github.com/labrun/labrun/runner/script"
	"github.com/labrun/labrun/runner/shard"
)

// TestShardPlan splits a shipped experiment's plan as labrun run --shard
// will: the shards partition the plan, keep plan order and full-plan
// indexes, and record the same plan hash and runs.
func TestShardPlan(t *testing.T) {
	const file = "../../experiments/timer_vs_cyclictest.star"
	opts := script.Options{MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime}
	full, err := script.Evaluate(file, opts)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, r := range full.Runs {
		all = append(all, r.ID)
	}
	seen := map[string]int{}
	for k := range 3 {
		p, err := script.Evaluate(file, opts)
		if err != nil {
			t.Fatal(err)
		}
		info := shardPlan(p, shard.Spec{K: k, N: 3})
		if info.Shard != (shard.Spec{K: k, N: 3}).String() || info.PlanHash != shard.PlanHash(all) || !slices.Equal(info.PlanRuns, all) {
			t.Errorf("shard %d: %+v", k, info)
		}
		for i, r := range p.Runs {
			seen[r.ID]++
			if full.Runs[r.Index].ID != r.ID || i > 0 && p.Runs[i-1].Index >= r.Index {
				t.Errorf("shard %d: run %s out of plan order or index %d wrong", k, r.ID, r.Index)
			}
		}
	}
	if len(seen) != len(all) {
		t.Errorf("the shards hold %d of the %d runs", len(seen), len(all))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("run %s in %d shards", id, n)
		}
	}
}

// TestShardsMerge runs a plan as 3 shards (shardPlan, then Execute with
// the shard's record, as labrun run --shard does) and merges them: every run once, none missing; without one shard,
// merge names the shard and its runs.
func TestShardsMerge(t *testing.T) {
	inTempRoot(t, map[string]string{"tiny.star": `n = sweep.axis("n", [10, 20, 30, 40, 50])
experiment(name = "tiny", seed = 1, trace = trace.synthetic(count = n, interval = "100us"), timer = timer.busy())
`})
	opts := script.Options{MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime}
	var dirs []string
	for k := range 3 {
		p, err := script.Evaluate("tiny.star", opts)
		if err != nil {
			t.Fatal(err)
		}
		info := shardPlan(p, shard.Spec{K: k, N: 3})
		res, err := execute.Execute(context.Background(), p, execute.ExecOptions{Out: filepath.Join("shards", strconv.Itoa(k)),
			Shard: &execute.ShardInfo{PlanHash: info.PlanHash, Shard: info.Shard, PlanRuns: info.PlanRuns}})
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, res.Dir)
	}
	code, out, errOut := run(t, append([]string{"merge", "-o", "merged"}, dirs...)...)
	if code != ExitOK || !strings.Contains(out, "merged 5 of 5 runs") || errOut != "" {
		t.Fatalf("merge: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "merge", "-o", "partial", dirs[0], dirs[2])
	if code != ExitRunFailed || !strings.Contains(errOut, "no folder of shard 1/3") || !strings.Contains(errOut, "missing: no folder measured it") {
		t.Errorf("merge without shard 1: %d\n%s%s", code, out, errOut)
	}
}

// A plan with a search is not split: run --shard and submit refuse it.
func TestShardRefusesSearch(t *testing.T) {
	for _, args := range [][]string{
		{"run", "../../experiments/rfc2544_throughput.star", "--shard", "0/2", "-o", t.TempDir()},
		{"submit", "--slurm", "../../experiments/rfc2544_throughput.star", "-o", t.TempDir(), "--shards", "2", "--dry-run"},
	} {
		code, _, stderr := run(t, args...)
		if code != ExitUsage || !strings.Contains(stderr, "has a search (rate)") {
			t.Errorf("%v: exit %d, stderr %q; want %d naming the search", args, code, stderr, ExitUsage)
		}
	}
}
