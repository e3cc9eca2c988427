package execute

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/script"
)

// readManifest parses dir/manifest.json.
func readManifest(t *testing.T, dir string) results.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m results.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// readLines returns a file's lines.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// cancelOn is a progress writer that cancels a context when a line
// containing marker is written.
type cancelOn struct {
	mu     sync.Mutex
	marker string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.Contains(string(p), c.marker) {
		c.cancel()
	}
	return len(p), nil
}

func TestExecuteInterruptedBetweenRuns(t *testing.T) {
	// Cancelled after the first run: that run is kept, the others stay
	// pending, and the manifest says the invocation was interrupted.
	p := mustEval(t, tinyExperiment, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prog := &cancelOn{marker: "run 1/4 interval=100us timer=busy: done", cancel: cancel}
	out, err := Execute(ctx, p, ExecOptions{Out: t.TempDir(), Stderr: prog, Progress: ProgressPlain})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Interrupted || len(out.Rows) != 1 || out.Failed != 0 {
		t.Fatalf("outcome: interrupted %v, %d rows, %d failed", out.Interrupted, len(out.Rows), out.Failed)
	}
	m := readManifest(t, out.Dir)
	if m.Status != "interrupted" {
		t.Errorf("manifest status %q, want interrupted", m.Status)
	}
	var states []string
	for _, r := range m.Runs {
		states = append(states, r.Status)
	}
	if strings.Join(states, ",") != "ok,pending,pending,pending" {
		t.Errorf("run states %v", states)
	}
	if lines := readLines(t, filepath.Join(out.Dir, "runs.csv")); len(lines) != 2 {
		t.Errorf("runs.csv has %d lines, want 2", len(lines))
	}
	// Tables and figures cover the run that finished.
	if lines := readLines(t, filepath.Join(out.Dir, "plots", "epsilon.csv")); len(lines) != 51 {
		t.Errorf("plots/epsilon.csv has %d lines, want 51", len(lines))
	}
	if b, err := os.ReadFile(filepath.Join(out.Dir, "tables.md")); err != nil || !strings.Contains(string(b), "| busy") {
		t.Errorf("tables.md: %v\n%s", err, b)
	}
}

func TestExecuteOutputs(t *testing.T) {
	// Every file of the results folder, for a plan of 4 short runs.
	p := mustEval(t, tinyExperiment, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet, Command: []string{"labrun", "run", "x.star"}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Interrupted || out.Failed != 0 || len(out.Rows) != 4 || len(out.Tables) != 1 {
		t.Fatalf("outcome %+v", out)
	}
	m := readManifest(t, out.Dir)
	if m.Status != "ok" || m.Experiment != "tiny" || m.Script != "x.star" || len(m.Runs) != 4 || strings.Join(m.Command, " ") != "labrun run x.star" {
		t.Errorf("manifest %+v", m)
	}
	for i, r := range m.Runs {
		if r.Status != "ok" || r.ID != p.Runs[i].ID || r.Series != "series/"+r.ID+".csv" || r.Start.IsZero() || r.End.Before(r.Start) {
			t.Errorf("manifest run %d: %+v", i, r)
		}
		lines := readLines(t, filepath.Join(out.Dir, r.Series))
		if lines[0] != "packet,scheduled_ns,actual_ns,error_ns" || len(lines) != 51 {
			t.Errorf("%s: header %q, %d lines", r.Series, lines[0], len(lines))
		}
		// Packet i is due i intervals after the first.
		step := map[string]int64{"100us": 100_000, "200us": 200_000}[r.Params["interval"]]
		for j, line := range lines[1:] {
			f := strings.Split(line, ",")
			sched, _ := strconv.ParseInt(f[1], 10, 64)
			actual, _ := strconv.ParseInt(f[2], 10, 64)
			e, _ := strconv.ParseInt(f[3], 10, 64)
			if f[0] != strconv.Itoa(j) || sched != int64(j)*step || e != actual-sched {
				t.Errorf("%s line %d: %q", r.Series, j+2, line)
				break
			}
		}
	}
	// The CDF: per run, every packet's error in order, up to 1.
	lines := readLines(t, filepath.Join(out.Dir, "plots", "cdf-2.csv"))
	if lines[0] != "run,timer,err_us,cdf" || len(lines) != 1+4*50 {
		t.Errorf("cdf-2.csv: header %q, %d lines", lines[0], len(lines))
	}
	if last := lines[50]; !strings.HasSuffix(last, ",1") || !strings.HasPrefix(last, p.Runs[0].ID+",busy,") {
		t.Errorf("cdf-2.csv line 51: %q", last)
	}
	prev := -1e300
	for _, l := range lines[1:51] {
		f := strings.Split(l, ",")
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil || v < prev {
			t.Errorf("cdf-2.csv: %q after %g", l, prev)
		}
		prev = v
	}
	series := readLines(t, filepath.Join(out.Dir, "plots", "epsilon.csv"))
	if series[0] != "run,timer,interval,packet,time_s,err_us" || len(series) != 1+4*50 {
		t.Errorf("epsilon.csv: header %q, %d lines", series[0], len(series))
	}
	md, err := os.ReadFile(filepath.Join(out.Dir, "tables.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# tiny", "CPU %", "CPU % (Paper)", "ε p50 (us)", "ε p99 (us)", " 99 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("tables.md lacks %q:\n%s", want, md)
		}
	}
}

func TestExecuteSameSecond(t *testing.T) {
	// The same plan run twice at once gets two folders: the second never
	// overwrites the first.
	p := mustEval(t, `experiment(name = "twice", trace = trace.synthetic(count = 2, interval = "10us"), timer = timer.busy())`, nil)
	dir := t.TempDir()
	a, err := Execute(context.Background(), p, ExecOptions{Out: dir, Progress: ProgressQuiet})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Execute(context.Background(), p, ExecOptions{Out: dir, Progress: ProgressQuiet})
	if err != nil {
		t.Fatal(err)
	}
	if a.Dir == b.Dir {
		t.Fatalf("both runs wrote %s", a.Dir)
	}
	for _, d := range []string{a.Dir, b.Dir} {
		if m := readManifest(t, d); m.Status != "ok" {
			t.Errorf("%s: status %q", d, m.Status)
		}
	}
}

func TestExecuteFailedRun(t *testing.T) {
	// A run that cannot start fails alone; the others go on, and the
	// manifest records the failure and its reason.
	p := mustEval(t, `experiment(name = "fail", trace = trace.synthetic(count = 2, interval = "10us"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep()]))`, nil)
	p.Runs[0].Config.Timer.Mode = "bogus" // no script can say this
	var progress strings.Builder
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Stderr: &progress, Progress: ProgressPlain})
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed != 1 || len(out.Rows) != 1 || out.Interrupted {
		t.Fatalf("outcome: %d failed, %d rows, interrupted %v", out.Failed, len(out.Rows), out.Interrupted)
	}
	m := readManifest(t, out.Dir)
	if m.Status != "failed" || m.Runs[0].Status != "failed" || !strings.Contains(m.Runs[0].Error, "bogus") || m.Runs[1].Status != "ok" {
		t.Errorf("manifest status %q, runs %+v", m.Status, m.Runs)
	}
	if !strings.Contains(progress.String(), "run 1/2 timer=busy failed: ") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestWriteSettings(t *testing.T) {
	// Each kernel setting's outcome is printed with its runs; none, nothing.
	var b strings.Builder
	WriteSettings(&b, &Outcome{})
	if b.String() != "" {
		t.Errorf("no settings printed %q", b.String())
	}
	p := mustEval(t, `experiment(name = "k", trace = trace.synthetic(count = 2, interval = "10us"), timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    kernel = kernel.settings(timer_slack = "1us"))`, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet})
	if err != nil {
		t.Fatal(err)
	}
	WriteSettings(&b, out)
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 || lines[0] != "kernel settings:" || !strings.HasPrefix(lines[1], "  timer_slack = 1µs: ") || !strings.Contains(lines[1], "(runs 1-2)") {
		t.Errorf("settings:\n%s", b.String())
	}
}

// A table metric that no run produces (the firm margin, without a firm
// timer) shows as "-" instead of failing the table after every run.
func TestExecuteTableMissingMetric(t *testing.T) {
	src := `experiment(name = "m", trace = trace.synthetic(count = 5, interval = "100us"), timer = sweep.axis("timer", [timer.busy()]),
    tables = [table(rows = ["timer"], metrics = ["err_p50_us", "firm_margin_us"])])`
	p := mustEval(t, src, nil)
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet})
	if err != nil || len(out.Tables) != 1 {
		t.Fatalf("err %v, tables %d", err, len(out.Tables))
	}
	row := out.Tables[0].Cells[0]
	if row[len(row)-1] != "-" {
		t.Fatalf("row %v: want - for the missing metric", row)
	}
}

// An interrupted invocation resumed with --resume keeps its finished run
// (same metrics, not run again) and runs the rest into the same folder.
func TestExecuteResume(t *testing.T) {
	p := mustEval(t, tinyExperiment, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prog := &cancelOn{marker: "run 1/4 interval=100us timer=busy: done", cancel: cancel}
	first, err := Execute(ctx, p, ExecOptions{Out: t.TempDir(), Stderr: prog, Progress: ProgressPlain})
	if err != nil || !first.Interrupted || len(first.Rows) != 1 {
		t.Fatalf("first invocation: %v, %+v", err, first)
	}
	var log strings.Builder
	second, err := Execute(context.Background(), p, ExecOptions{Resume: first.Dir, Stderr: &log, Progress: ProgressPlain})
	if err != nil || second.Interrupted || second.Dir != first.Dir || second.Resumed != 1 || len(second.Rows) != 4 {
		t.Fatalf("resumed: %v, %+v", err, second)
	}
	if !strings.Contains(log.String(), "run 1/4 interval=100us timer=busy: kept from the interrupted invocation") {
		t.Errorf("progress does not say the run was kept:\n%s", log.String())
	}
	kept := second.Rows[0]
	if kept.ID != first.Rows[0].ID || kept.Metrics["err_p99_us"] != first.Rows[0].Metrics["err_p99_us"] || kept.Params["timer"] != "busy" {
		t.Errorf("kept row %+v, first %+v", kept, first.Rows[0])
	}
	m := readManifest(t, first.Dir)
	if m.Status != "ok" {
		t.Errorf("manifest status %q", m.Status)
	}
	for _, r := range m.Runs {
		if r.Status != "ok" {
			t.Errorf("run %s status %q", r.ID, r.Status)
		}
	}
	if lines := readLines(t, filepath.Join(first.Dir, "runs.csv")); len(lines) != 5 {
		t.Errorf("runs.csv has %d lines, want 5", len(lines))
	}
	// Resuming a folder of another experiment is refused.
	other := mustEval(t, strings.Replace(tinyExperiment, `name = "tiny"`, `name = "other"`, 1), nil)
	if _, err := Execute(context.Background(), other, ExecOptions{Resume: first.Dir, Progress: ProgressQuiet}); err == nil || !strings.Contains(err.Error(), `holds experiment "tiny", not "other"`) {
		t.Errorf("resume of another experiment: %v", err)
	}
}

// A replay at a bit rate says in its table which layer the rate counts.
func TestExecuteRateNote(t *testing.T) {
	root := writeTree(t, map[string]string{"x.star": `experiment(name = "r",
    trace = trace.pcap(generate = trace.synthetic(count = 20, interval = "10us"), rate = sweep.axis("rate", ["100Mbps"]), layer = "l1"),
    timer = timer.busy(), tables = [table(rows = "rate", metrics = ["packets"])])`})
	p, err := script.Evaluate(filepath.Join(root, "x.star"), script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet})
	if err != nil || len(out.Tables) != 1 {
		t.Fatalf("%v %+v", err, out)
	}
	if notes := strings.Join(out.Tables[0].Notes, "\n"); !strings.Contains(notes, "rates count L1") {
		t.Fatalf("notes %q", notes)
	}
	if out.Rows[0].Metrics["packets"] != 20 {
		t.Fatalf("row %+v", out.Rows[0])
	}
}
