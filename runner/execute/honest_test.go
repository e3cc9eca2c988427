package execute

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/labrun/labrun/results"
)

// fileHas reports whether dir/name holds s.
func fileHas(t *testing.T, dir, name, s string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), s)
}

// runsCSV reads runs.csv as records.
func runsCSV(t *testing.T, dir string) [][]string {
	t.Helper()
	var recs [][]string
	for _, l := range readLines(t, filepath.Join(dir, "runs.csv")) {
		recs = append(recs, strings.Split(l, ","))
	}
	return recs
}

func TestExecuteFailedRunIsNoResult(t *testing.T) {
	// A failed run is a row of runs.csv with its status and no values, and
	// feeds no table, figure or expectation; the manifest names no file of
	// it; the report says how the invocation ended.
	p := mustEval(t, `experiment(name = "fail", trace = trace.synthetic(count = 20, interval = "10us"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    tables = [table(rows = ["timer"], metrics = ["packets", "err_p50_us"])],
    figures = [figure.cdf(name = "cdf", by = "timer")],
    expectations = [expect(metric = "packets", above = 20)])`, nil)
	p.Runs[0].Config.Timer.Mode = "bogus" // no script can say this
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet})
	if err != nil {
		t.Fatal(err)
	}
	recs := runsCSV(t, out.Dir)
	if len(recs) != 3 || recs[0][1] != "status" || recs[1][1] != "failed" || recs[2][1] != "ok" {
		t.Fatalf("runs.csv: %v", recs)
	}
	for _, cell := range recs[1][3:] {
		if cell != "" {
			t.Errorf("the failed run has values in runs.csv: %v", recs[1])
		}
	}
	if fileHas(t, out.Dir, "tables.md", "busy") || !fileHas(t, out.Dir, "tables.md", "sleep") {
		t.Errorf("tables.md shows the failed run, or not the other:\n%s", readLines(t, filepath.Join(out.Dir, "tables.md")))
	}
	if fileHas(t, out.Dir, "plots/cdf.csv", "busy") || !fileHas(t, out.Dir, "plots/cdf.csv", "sleep") {
		t.Errorf("plots/cdf.csv shows the failed run, or not the other")
	}
	if len(out.Expect) != 1 || !strings.Contains(out.Expect[0].Run, "sleep") {
		t.Errorf("expectations checked on %+v", out.Expect)
	}
	m := readManifest(t, out.Dir)
	if m.Runs[0].Series != "" || m.Runs[0].Files != nil || m.Runs[1].Series == "" {
		t.Errorf("manifest files: %+v", m.Runs)
	}
	for _, r := range m.Runs {
		if r.Series != "" {
			if _, err := os.Stat(filepath.Join(out.Dir, r.Series)); err != nil {
				t.Errorf("manifest names a missing file: %v", err)
			}
		}
	}
	if !fileHas(t, out.Dir, "report.html", "<dt>status</dt><dd>failed</dd>") {
		t.Errorf("report.html does not show the final status failed")
	}
}

func TestExecuteReportShowsFinalStatus(t *testing.T) {
	p := mustEval(t, `experiment(name = "s", trace = trace.synthetic(count = 5, interval = "10us"), timer = timer.busy())`, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet})
	if err != nil {
		t.Fatal(err)
	}
	if !fileHas(t, out.Dir, "report.html", "<dt>status</dt><dd>ok</dd>") {
		t.Errorf("report.html does not say ok")
	}
	if recs := runsCSV(t, out.Dir); len(recs[0]) > 40 || strings.Contains(strings.Join(recs[0], ","), "lat_p50_us") {
		// Only the metrics this run filled: no receiver, no latency.
		t.Errorf("runs.csv has %d columns: %v", len(recs[0]), recs[0])
	}
	if names, _ := filepath.Glob(filepath.Join(out.Dir, ".*")); len(names) != 0 {
		t.Errorf("hidden files left: %v", names)
	}
}

func TestExecuteInterruptedRunKeepsRow(t *testing.T) {
	// Interrupted in its second run: that run keeps its row, marked
	// interrupted in runs.csv and in the table.
	p := mustEval(t, `experiment(name = "i", trace = trace.synthetic(count = sweep.axis("count", [20, 30]), interval = "10us"),
    timer = timer.busy(), tables = [table(rows = ["count"], metrics = ["packets"])])`, nil)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	prog := &cancelOn{marker: "run 2/2 count=30: synthetic", cancel: func() { cancel(errors.New("interrupted by SIGHUP")) }}
	out, err := Execute(ctx, p, ExecOptions{Out: t.TempDir(), Stderr: prog, Progress: ProgressPlain})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Interrupted {
		t.Fatal("not interrupted")
	}
	recs := runsCSV(t, out.Dir)
	if len(recs) != 3 || recs[1][1] != "ok" || recs[2][1] != "interrupted" {
		t.Fatalf("runs.csv: %v", recs)
	}
	m := readManifest(t, out.Dir)
	if m.Status != "interrupted" || m.Runs[1].Status != "interrupted" || m.Error != "interrupted by SIGHUP" {
		t.Errorf("manifest %q %q, runs %+v", m.Status, m.Error, m.Runs)
	}
	if len(out.Rows) != 2 || !fileHas(t, out.Dir, "tables.md", "30 (interrupted)") || !fileHas(t, out.Dir, "tables.md", interruptedNote) {
		t.Errorf("tables.md does not mark the interrupted run:\n%s", readLines(t, filepath.Join(out.Dir, "tables.md")))
	}
	if !fileHas(t, out.Dir, "report.html", "<dt>status</dt><dd>interrupted</dd>") {
		t.Errorf("report.html does not say interrupted")
	}
}

func TestResumeRemovesLeftTempFiles(t *testing.T) {
	// A temporary file of a labrun that was killed is removed by the next
	// invocation writing into the folder, and said.
	p := mustEval(t, tinyExperiment, nil)
	ctx, cancel := context.WithCancel(context.Background())
	first, err := Execute(ctx, p, ExecOptions{Out: t.TempDir(), Progress: ProgressPlain,
		Stderr: &cancelOn{marker: "run 1/4 interval=100us timer=busy: done", cancel: cancel}})
	cancel()
	if err != nil || !first.Interrupted {
		t.Fatalf("first: %v", err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(first.Dir, "series", ".x.csv.tmp-"+strconv.Itoa(dead.Process.Pid)+"-1")
	if err := os.WriteFile(left, make([]byte, 2000), 0o644); err != nil {
		t.Fatal(err)
	}
	var prog strings.Builder
	if _, err := Execute(context.Background(), p, ExecOptions{Resume: first.Dir, Progress: ProgressPlain, Stderr: &prog}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file is still there: %v", err)
	}
	if !strings.Contains(prog.String(), "removed series/.x.csv.tmp-") || !strings.Contains(prog.String(), "(2 kB)") {
		t.Errorf("progress does not say what was removed:\n%s", prog.String())
	}
}

func TestExecuteDiskFull(t *testing.T) {
	// The disk fills up in the second run: the run fails with ENOSPC
	// named, the invocation stops and its manifest says failed (never
	// running); the first run is kept.
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a small tmpfs to fill it (run the tests as root, as CI does)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	p := mustEval(t, `experiment(name = "full", trace = trace.synthetic(count = sweep.axis("count", [50, 40000, 60]), interval = "5us"),
    timer = timer.busy(), tables = [table(rows = ["count"], metrics = ["packets"])])`, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: dir, Progress: ProgressQuiet})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "(ENOSPC)") {
		t.Fatalf("err = %v, want disk full ... (ENOSPC)", err)
	}
	m := readManifest(t, out.Dir)
	if m.Status != "failed" || !strings.Contains(m.Error, "(ENOSPC)") || strings.Contains(m.Error, "no such file") {
		t.Errorf("manifest %q: %s", m.Status, m.Error)
	}
	var states []string
	for _, r := range m.Runs {
		states = append(states, r.Status)
	}
	if strings.Join(states, ",") != "ok,failed,pending" || !strings.Contains(m.Runs[1].Error, "ENOSPC") || m.Runs[1].Series != "" {
		t.Errorf("runs %v, %+v", states, m.Runs[1])
	}
	var tmp []string
	filepath.WalkDir(out.Dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			tmp = append(tmp, path)
		}
		return nil
	})
	if len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if _, err := results.ReadFileIn(out.Dir, "runs.csv"); err == nil {
		if recs := runsCSV(t, out.Dir); len(recs) != 3 || recs[2][1] != "failed" {
			t.Errorf("runs.csv: %v", recs)
		}
	}
}

// panicOn is a progress writer that panics when a line containing marker
// is written: a fault in labrun in the middle of an invocation.
type panicOn struct{ marker string }

func (p panicOn) Write(b []byte) (int, error) {
	if strings.Contains(string(b), p.marker) {
		panic("injected fault")
	}
	return len(b), nil
}

func TestExecutePanicEndsManifest(t *testing.T) {
	// A panic ends the invocation as failed, with the manifest saying so
	// and the folder left clean.
	p := mustEval(t, tinyExperiment, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressPlain, Stderr: panicOn{"run 2/4"}})
	if err == nil || !strings.Contains(err.Error(), "internal error: injected fault") {
		t.Fatalf("err = %v", err)
	}
	m := readManifest(t, out.Dir)
	if m.Status != "failed" || !strings.Contains(m.Error, "injected fault") || m.Runs[0].Status != "ok" {
		t.Errorf("manifest %q %q %+v", m.Status, m.Error, m.Runs)
	}
	if names, _ := filepath.Glob(filepath.Join(out.Dir, ".*")); len(names) != 0 {
		t.Errorf("hidden files left: %v", names)
	}
}
