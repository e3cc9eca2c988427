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

// concluded are the files a result folder's conclusion writes, besides
// those in plots/.
var concluded = []string{"tables.md", "expectations.csv", "report.json"}

// TestRunShards runs a plan as N shards for N = 1..7, each with --shard
// auto from the environment of a Kubernetes Indexed Job pod
// (JOB_COMPLETION_INDEX, LABRUN_SHARDS), and merges them: the shards are
// disjoint, their union is the plan, and the merged folder's runs are the
// plan's in order. Its tables, figures and expectations are those that
// one unsharded invocation concludes from the same rows. The plans: a
// small script with a table, a figure and an expectation, and the shipped
// usleep_vs_firm.star with 20 packets per run (8 runs, a table with a
// reference and three figures, one of per-packet series).
func TestRunShards(t *testing.T) {
	shipped, err := filepath.Abs("../../experiments/usleep_vs_firm.star")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		sets       []string
	}{
		{"tiny", "tiny.star", nil},
		{"usleep_vs_firm", shipped, []string{"--set", "packets=20"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inTempRoot(t, map[string]string{"tiny.star": shardScript})
			runShards(t, tc.file, tc.sets)
		})
	}
}

func runShards(t *testing.T, file string, sets []string) {
	p, err := script.Evaluate(file, script.Options{Overrides: setMap(sets), MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime})
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for _, r := range p.Runs {
		plan = append(plan, r.ID)
	}
	whole := runDir(t, file, sets, "whole", "")
	checkConclusion(t, file, sets, whole, whole) // Conclude from runs.csv is the run's own conclusion
	for n := 1; n <= 7; n++ {
		t.Setenv("LABRUN_SHARDS", strconv.Itoa(n))
		var dirs []string
		seen := map[string]int{}
		for k := range n {
			t.Setenv("JOB_COMPLETION_INDEX", strconv.Itoa(k))
			d := runDir(t, file, sets, filepath.Join("n"+strconv.Itoa(n), strconv.Itoa(k)), "auto")
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
		checkConclusion(t, file, sets, out, whole)
	}
}

// setMap turns --set name=value pairs into script overrides.
func setMap(sets []string) map[string]string {
	m := map[string]string{}
	for i := 1; i < len(sets); i += 2 {
		k, v, _ := strings.Cut(sets[i], "=")
		m[k] = v
	}
	return m
}

// runDir runs file into out (with --shard shard if not "") and returns
// its result folder.
func runDir(t *testing.T, file string, sets []string, out, shard string) string {
	t.Helper()
	args := append([]string{"run", file, "-o", out, "--quiet"}, sets...)
	if shard != "" {
		args = append(args, "--shard", shard)
	}
	code, stdout, stderr := run(t, args...)
	if code != ExitOK {
		t.Fatalf("labrun %v: %d\n%s%s", args, code, stdout, stderr)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*", "*"))
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

// checkConclusion puts dir's runs.csv and series/ in a copy of the
// unsharded folder whole's manifest, concludes it there as one invocation
// of the whole plan would, and compares the files with dir's.
func checkConclusion(t *testing.T, file string, sets []string, dir, whole string) {
	t.Helper()
	cp := t.TempDir()
	copyFile(t, filepath.Join(whole, "manifest.json"), filepath.Join(cp, "manifest.json"))
	copyFile(t, filepath.Join(dir, "runs.csv"), filepath.Join(cp, "runs.csv"))
	series, _ := filepath.Glob(filepath.Join(dir, "series", "*"))
	for _, f := range series {
		copyFile(t, f, filepath.Join(cp, "series", filepath.Base(f)))
	}
	p, err := script.Evaluate(file, script.Options{Overrides: setMap(sets), MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime})
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
	files := slices.Clone(concluded)
	plots, _ := filepath.Glob(filepath.Join(cp, "plots", "*"))
	if len(p.Figures) > 0 && len(plots) == 0 {
		t.Errorf("%s: no plots", cp)
	}
	for _, f := range plots {
		files = append(files, filepath.Join("plots", filepath.Base(f)))
	}
	for _, f := range files {
		got, err1 := os.ReadFile(filepath.Join(dir, f))
		want, err2 := os.ReadFile(filepath.Join(cp, f))
		if os.IsNotExist(err1) && os.IsNotExist(err2) {
			continue
		}
		if err1 != nil || err2 != nil || string(got) != string(want) {
			t.Errorf("%s/%s differs from one invocation's conclusion of the same rows (%v, %v)", dir, f, err1, err2)
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(dst), 0o755)
	}
	if err == nil {
		err = os.WriteFile(dst, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestResumeShard: a shard's folder is resumed with the same --shard (its
// runs kept, the manifest still the shard's); without --shard, or with
// another, labrun refuses before running anything.
func TestResumeShard(t *testing.T) {
	inTempRoot(t, map[string]string{"tiny.star": shardScript})
	d := runDir(t, "tiny.star", nil, "s", "2/3")
	before := readJSONManifest(t, d)
	code, stdout, stderr := run(t, "run", "tiny.star", "--shard", "2/3", "--resume", d, "--quiet")
	if code != ExitOK {
		t.Fatalf("resume: %d\n%s%s", code, stdout, stderr)
	}
	after := readJSONManifest(t, d)
	if after.Shard != "2/3" || after.PlanHash != before.PlanHash || len(after.Runs) != len(before.Runs) || len(after.PlanRuns) != 7 {
		t.Errorf("resumed manifest: %+v, before %+v", after, before)
	}
	for _, args := range [][]string{{"--resume", d}, {"--shard", "1/3", "--resume", d}} {
		code, stdout, stderr := run(t, append([]string{"run", "tiny.star", "--quiet"}, args...)...)
		if code != ExitRunFailed || !strings.Contains(stderr, "it holds shard 2/3") {
			t.Errorf("%v: %d\n%s%s", args, code, stdout, stderr)
		}
	}
}
