package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/execute"
	"github.com/labrun/labrun/runner/script"
)

// shardScript is a small plan (7 runs) with a table, a figure and an
// expectation, so that a merged folder has each to compare.
const shardScript = `n = sweep.axis("n", [10, 20, 30, 40, 50, 60, 70])
experiment(name = "tiny", seed = 1, trace = trace.synthetic(count = n, interval = "50us"), timer = timer.busy(),
    tables = [table(title = "lateness", rows = ["n"], metrics = ["err_p50_us", "err_max_us"])],
    figures = [figure.lines(name = "max-vs-n", x = "n", y = "err_max_us")],
    expectations = [expect(metric = "err_p50_us", below = 1000000)],
)
`

// concluded are the files a result folder's conclusion writes.
var concluded = []string{"tables.md", "expectations.csv", "report.json", "plots/max-vs-n.csv", "plots/max-vs-n.svg", "plots/max-vs-n.png"}

// TestRunShards runs the plan as N shards for N = 1..7, each with
// --shard auto from the environment of a Kubernetes Indexed Job pod
// (JOB_COMPLETION_INDEX, LABRUN_SHARDS), and merges them: the shards are
// disjoint, their union is the plan, and the merged folder's runs are the
// plan's in order. Its tables, figures and expectations are those that
// one unsharded invocation concludes from the same rows.
func TestRunShards(t *testing.T) {
	inTempRoot(t, map[string]string{"tiny.star": shardScript})
	p, err := script.Evaluate("tiny.star", script.Options{MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime})
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for _, r := range p.Runs {
		plan = append(plan, r.ID)
	}
	whole := runDir(t, "whole", "")
	checkConclusion(t, whole, whole) // Conclude from runs.csv is the run's own conclusion
	for n := 1; n <= 7; n++ {
		t.Setenv("LABRUN_SHARDS", strconv.Itoa(n))
		var dirs []string
		seen := map[string]int{}
		for k := range n {
			t.Setenv("JOB_COMPLETION_INDEX", strconv.Itoa(k))
			d := runDir(t, filepath.Join("n"+strconv.Itoa(n), strconv.Itoa(k)), "auto")
			m := readJSONManifest(t, d)
			if m.Shard != strconv.Itoa(k)+"/"+strconv.Itoa(n) || !slices.Equal(m.PlanRuns, plan) || !strings.HasSuffix(d, m.PlanHash[:8]) {
				t.Errorf("%s: shard %q plan_runs %v plan_hash %s", d, m.Shard, m.PlanRuns, m.PlanHash)
			}
			for _, r := range m.Runs {
				seen[r.ID]++
				if plan[r.Index] != r.ID {
					t.Errorf("%s: run %s has index %d, the plan's run %s", d, r.ID, r.Index, plan[r.Index])
				}
			}
			dirs = append(dirs, d)
		}
		for _, id := range plan {
			if seen[id] != 1 {
				t.Errorf("%d shards: run %s is in %d shards", n, id, seen[id])
			}
		}
		if len(seen) != len(plan) {
			t.Errorf("%d shards hold %d runs, the plan %d", n, len(seen), len(plan))
		}
		out := "merged" + strconv.Itoa(n)
		code, stdout, stderr := run(t, append([]string{"merge", "-o", out}, dirs...)...)
		if code != ExitOK || stderr != "" {
			t.Fatalf("merge of %d shards: %d\n%s%s", n, code, stdout, stderr)
		}
		m := readJSONManifest(t, out)
		var ids []string
		for _, r := range m.Runs {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, plan) || m.Status != "ok" {
			t.Errorf("merge of %d shards: status %s, runs %v, want %v", n, m.Status, ids, plan)
		}
		checkConclusion(t, out, whole)
	}
}

// runDir runs tiny.star into out (with --shard shard if not "") and
// returns its result folder.
func runDir(t *testing.T, out, shard string) string {
	t.Helper()
	args := []string{"run", "tiny.star", "-o", out, "--quiet"}
	if shard != "" {
		args = append(args, "--shard", shard)
	}
	code, stdout, stderr := run(t, args...)
	if code != ExitOK {
		t.Fatalf("labrun %v: %d\n%s%s", args, code, stdout, stderr)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "tiny", "*"))
	if len(dirs) != 1 {
		t.Fatalf("%s: %d result folders", out, len(dirs))
	}
	return dirs[0]
}

type testManifest struct {
	Status   string   `json:"status"`
	PlanHash string   `json:"plan_hash"`
	Shard    string   `json:"shard"`
	PlanRuns []string `json:"plan_runs"`
	Runs     []struct {
		Index int    `json:"index"`
		ID    string `json:"id"`
	} `json:"runs"`
}

func readJSONManifest(t *testing.T, dir string) testManifest {
	t.Helper()
	var m testManifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkConclusion puts dir's runs.csv in a copy of the unsharded folder
// whole (its manifest and series stay), concludes it there as one
// invocation of the whole plan would, and compares the files with dir's.
func checkConclusion(t *testing.T, dir, whole string) {
	t.Helper()
	cp := t.TempDir()
	for _, f := range []string{"manifest.json", "runs.csv"} {
		src := filepath.Join(whole, f)
		if f == "runs.csv" {
			src = filepath.Join(dir, f)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(cp, f), string(b))
	}
	p, err := script.Evaluate("tiny.star", script.Options{MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := execute.ReadRows(cp, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := execute.Conclude(cp, p, rows, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range concluded {
		got, err1 := os.ReadFile(filepath.Join(dir, f))
		want, err2 := os.ReadFile(filepath.Join(cp, f))
		if err1 != nil || err2 != nil || string(got) != string(want) {
			t.Errorf("%s/%s differs from one invocation's conclusion of the same rows (%v, %v)", dir, f, err1, err2)
		}
	}
}
