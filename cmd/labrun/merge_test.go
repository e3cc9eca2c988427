package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/shard"
)

const tinySweep = `n = sweep.axis("n", [10, 20, 30])
experiment(name = "tiny", seed = 1, trace = trace.synthetic(count = n, interval = "100us"), timer = timer.busy())
`

// TestMergeCommand merges two invocations of one plan (every run measured
// twice), refuses a folder of another plan, and draws the merged folder
// again with labrun report.
func TestMergeCommand(t *testing.T) {
	inTempRoot(t, map[string]string{"tiny.star": tinySweep})
	var dirs []string
	for _, args := range [][]string{{}, {}, {"--set", "n=20"}} {
		code, out, errOut := run(t, append([]string{"run", "tiny.star", "-o", "runs", "--quiet"}, args...)...)
		if code != ExitOK {
			t.Fatalf("run: %d %s", code, errOut)
		}
		dirs = append(dirs, resultsDir(t, out))
	}
	code, out, errOut := run(t, "merge", dirs[0], dirs[1], "-o", "merged")
	if code != ExitOK || !strings.Contains(out, "merged 3 of 3 runs of tiny") || strings.Count(errOut, "measured 2 times: kept from "+dirs[1]) != 3 {
		t.Fatalf("merge: %d\n%s\n%s", code, out, errOut)
	}
	var m struct {
		PlanHash string   `json:"plan_hash"`
		PlanRuns []string `json:"plan_runs"`
		Status   string
		Command  []string
	}
	b, _ := os.ReadFile("merged/manifest.json")
	if err := json.Unmarshal(b, &m); err != nil || m.Status != "ok" || len(m.PlanRuns) != 3 || m.PlanHash != shard.PlanHash(m.PlanRuns) || m.Command[1] != "merge" {
		t.Errorf("merged manifest: %+v %v", m, err)
	}
	// The plan's hash in the folder name is the start of the full one.
	if !strings.HasSuffix(filepath.Base(dirs[0]), "-"+m.PlanHash[:8]) {
		t.Errorf("folder %s does not end in the plan hash %s", dirs[0], m.PlanHash[:8])
	}
	if rows := readCSV(t, "merged/runs.csv"); len(rows) != 4 || rows[0][0] != "id" || rows[0][1] != "status" {
		t.Errorf("runs.csv: %v", rows)
	}
	// The plan evaluates again from the merged folder, and a changed
	// script is noticed.
	if p, err := mergedPlan("merged"); err != nil || len(p.Runs) != 3 {
		t.Errorf("mergedPlan: %v", err)
	}
	code, _, errOut = run(t, "merge", dirs[2], "-o", "pinned")
	if p, err := mergedPlan("pinned"); code != ExitOK || err != nil || len(p.Runs) != 1 {
		t.Errorf("mergedPlan of a run with --set: %v (merge: %d %s)", err, code, errOut)
	}
	os.WriteFile("tiny.star", []byte(strings.Replace(tinySweep, "30]", "31]", 1)), 0o644)
	if _, err := mergedPlan("merged"); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("mergedPlan after the script changed: %v", err)
	}
	os.WriteFile("tiny.star", []byte(tinySweep), 0o644)
	if code, _, errOut := run(t, "report", "merged"); code != ExitOK {
		t.Errorf("report merged: %d %s", code, errOut)
	}

	code, _, errOut = run(t, "merge", dirs[0], dirs[2], "-o", "mixed")
	if code != ExitRunFailed || !strings.Contains(errOut, "different plans") || !strings.Contains(errOut, dirs[2]) {
		t.Errorf("merge of two plans: %d %s", code, errOut)
	}
	if _, err := os.Stat("mixed"); err == nil {
		t.Error("a refused merge made its output folder")
	}
	if code, _, _ := run(t, "merge", dirs[0]); code != ExitUsage {
		t.Errorf("merge without -o: exit %d", code)
	}
}

func TestSubmitCommand(t *testing.T) {
	inTempRoot(t, map[string]string{"tiny.star": tinySweep, "bad.star": "experiment(\n"})
	tests := []struct {
		args []string
		code int
		out  string // in stdout (ok) or stderr
	}{
		{[]string{"--slurm", "tiny.star", "-o", "/shared/x", "--shards", "2", "--dry-run", "--", "--partition=lab"}, ExitOK, "#SBATCH --array=0-1"},
		{[]string{"--slurm", "tiny.star", "-o", "/shared/x", "--shards", "2", "--dry-run", "--", "--partition=lab"}, ExitOK, "--dependency=afterok:<shards job ID> --kill-on-invalid-dep=yes --partition=lab"},
		{[]string{"--k8s", "tiny.star", "-o", "/results", "--shards", "3", "--image", "labrun:1", "--dry-run"}, ExitOK, `"completionMode": "Indexed"`},
		{[]string{"--k8s", "tiny.star", "-o", "/results", "--shards", "3", "--dry-run"}, ExitUsage, "--image"},
		{[]string{"--slurm", "tiny.star", "-o", "/shared/x", "--shards", "4", "--dry-run"}, ExitUsage, "the plan has 3 runs"},
		{[]string{"--slurm", "--k8s", "tiny.star", "-o", "/x", "--shards", "2"}, ExitUsage, "one of --slurm and --k8s"},
		{[]string{"--slurm", "tiny.star", "--shards", "2"}, ExitUsage, "-o SHARED"},
		{[]string{"--slurm", "bad.star", "-o", "/x", "--shards", "2"}, ExitScript, "bad.star:"},
		{[]string{"--slurm", "tiny.star", "-o", "/x", "--shards", "2", "--merge-after", "never", "--dry-run"}, ExitUsage, "--merge-after"},
	}
	for _, tc := range tests {
		code, out, errOut := run(t, append([]string{"submit"}, tc.args...)...)
		text := errOut
		if tc.code == ExitOK {
			text = out
		}
		if code != tc.code || !strings.Contains(text, tc.out) {
			t.Errorf("submit %v: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.out, out, errOut)
		}
	}
	// k8s without --dry-run writes the two manifests.
	if code, out, errOut := run(t, "submit", "--k8s", "tiny.star", "-o", "/results", "--shards", "3", "--image", "labrun:1", "--manifests", "k8s"); code != ExitOK ||
		!strings.Contains(out, "kubectl wait --for=condition=complete --timeout=24h job/labrun-tiny") {
		t.Errorf("submit --k8s: %d %s %s", code, out, errOut)
	}
	for _, f := range []string{"k8s/labrun-tiny-shards.json", "k8s/labrun-tiny-merge.json"} {
		if b, err := os.ReadFile(f); err != nil || !json.Valid(b) {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestRunFlags(t *testing.T) {
	sets, cpus := runFlags([]string{"labrun", "run", "x.star", "--set", "a=1", "-set=b=2=3", "--quiet", "--cpu", "1,2", "-o", "--set", "--set"})
	if len(sets) != 2 || sets["a"] != "1" || sets["b"] != "2=3" || cpus != "1,2" {
		t.Errorf("runFlags: %v %q", sets, cpus)
	}
}

// TestSubmitSbatch submits through a stand-in sbatch: the job IDs it
// prints are read, the merge depends on the shards' job, and when sbatch
// fails nothing submit made is left.
func TestSubmitSbatch(t *testing.T) {
	root := inTempRoot(t, map[string]string{"tiny.star": tinySweep})
	bin := filepath.Join(root, "bin")
	os.MkdirAll(bin, 0o755)
	fake := `#!/bin/sh
echo "$@" >> ` + root + `/sbatch.log
case "$*" in *merge.sbatch) echo "42;cluster" ;; *) echo 41 ;; esac
`
	writeFile(t, filepath.Join(bin, "sbatch"), fake)
	os.Chmod(filepath.Join(bin, "sbatch"), 0o755)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	out := filepath.Join(root, "shared")
	code, stdout, errOut := run(t, "submit", "--slurm", "tiny.star", "-o", out, "--shards", "2", "--", "--partition=lab")
	if code != ExitOK || !strings.Contains(stdout, "shards: job 41 (array 0-1, 2 shards)") || !strings.Contains(stdout, "squeue -j 41,42") {
		t.Fatalf("submit: %d\n%s%s", code, stdout, errOut)
	}
	log, _ := os.ReadFile(filepath.Join(root, "sbatch.log"))
	want := "--parsable --partition=lab " + out + "/slurm/shards.sbatch\n--parsable --dependency=afterok:41 --kill-on-invalid-dep=yes --partition=lab " + out + "/slurm/merge.sbatch\n"
	if string(log) != want {
		t.Errorf("sbatch got\n%s\nwant\n%s", log, want)
	}
	// Again into the same folder: refused before anything is submitted.
	if code, _, errOut := run(t, "submit", "--slurm", "tiny.star", "-o", out, "--shards", "2"); code != ExitUsage || !strings.Contains(errOut, "give a new -o folder") {
		t.Errorf("submit into a used folder: %d %s", code, errOut)
	}
	if log2, _ := os.ReadFile(filepath.Join(root, "sbatch.log")); string(log2) != string(log) {
		t.Errorf("a refused submit ran sbatch: %s", log2)
	}
	writeFile(t, filepath.Join(bin, "sbatch"), "#!/bin/sh\necho 'sbatch: error: no cluster' >&2\nexit 1\n")
	fresh := filepath.Join(root, "fresh", "sweep")
	code, _, errOut = run(t, "submit", "--slurm", "tiny.star", "-o", fresh, "--shards", "2")
	if code != ExitRunFailed || !strings.Contains(errOut, "no cluster") {
		t.Errorf("submit with a failing sbatch: %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "fresh")); err == nil {
		t.Error("a failed submit left its folders")
	}
}
