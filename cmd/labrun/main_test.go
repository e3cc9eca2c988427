package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/gopacket/pcapgo"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/execute"
	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/script"
)

// run calls Main in-process and returns its exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(&env{stdout: &stdout, stderr: &stderr}, args)
	return code, stdout.String(), stderr.String()
}

// inTempRoot makes a temp folder with a .labrun marker and the given
// files the working directory for the rest of the test.
func inTempRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files[".labrun"] = ""
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

// tiny is 2 timers x 2 intervals of 50 packets: about 15 ms of sending.
const tiny = `# A tiny experiment for the end-to-end tests.
packets = param("packets", default = 50)
interval = sweep.axis("interval", ["100us", "200us"])
tm = sweep.axis("timer", {"busy": timer.busy(), "sleep": timer.sleep()})

experiment(
    name = "tiny",
    trace = trace.synthetic(count = packets, interval = interval),
    timer = tm,
    sink = sink.null(),
    tables = [
        table(
            title = "Send-time error and CPU",
            rows = ["timer", "interval"],
            metrics = ["cpu_pct", "err_p50_us", "err_p99_us"],
            reference = reference(source = "Paper", metric = "cpu_pct", keys = ["timer", "interval"],
                                  values = {"busy": {"100us": 78, "200us": 99}}),
        ),
    ],
    figures = [figure.series(name = "epsilon", facet = ["timer", "interval"])],
)
`

// resultsDir returns the folder named on run's "results: DIR" line.
func resultsDir(t *testing.T, stdout string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^results: (.+)$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no results line in:\n%s", stdout)
	}
	return m[1]
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

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

func TestRunEndToEnd(t *testing.T) {
	dir := inTempRoot(t, map[string]string{"tiny.star": tiny})
	out := filepath.Join(dir, "out")
	code, stdout, stderr := run(t, "run", "tiny.star", "-o", out)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The table, with the metrics' labels and the reference beside them.
	for _, want := range []string{"Send-time error and CPU", "CPU %", "CPU % (Paper)", "ε p50 (us)", "ε p99 (us)", "timer", "interval"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// Progress: a line per run started and finished.
	for _, want := range []string{"run 1/4 interval=100us timer=busy: synthetic 50 x 100us, 64B", "run 4/4 interval=200us timer=sleep: done, 50 packets"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	res := resultsDir(t, stdout)
	if rel, err := filepath.Rel(filepath.Join(out, "tiny"), res); err != nil || strings.Contains(rel, string(filepath.Separator)) {
		t.Errorf("results folder %s is not a child of %s", res, filepath.Join(out, "tiny"))
	}

	// manifest.json
	m := readManifest(t, res)
	if m.Status != "ok" || m.Experiment != "tiny" || m.Script != "tiny.star" || len(m.Runs) != 4 {
		t.Fatalf("manifest: status %q, experiment %q, script %q, %d runs", m.Status, m.Experiment, m.Script, len(m.Runs))
	}
	if strings.Join(m.Command, " ") != "labrun run tiny.star -o "+out {
		t.Errorf("manifest command %q", m.Command)
	}
	if m.Labrun.Version == "" || m.Labrun.Revision == "" || !strings.HasPrefix(m.Labrun.Go, "go") {
		t.Errorf("manifest build %+v", m.Labrun)
	}
	sources, _ := json.Marshal(m.Sources)
	var srcs []plan.Source
	if err := json.Unmarshal(sources, &srcs); err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 || srcs[0].Name != "tiny.star" || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(srcs[0].SHA256) {
		t.Errorf("manifest sources %+v", srcs)
	}
	for i, r := range m.Runs {
		if r.Status != "ok" || r.Series != "series/"+r.ID+".csv" {
			t.Errorf("manifest run %d: status %q, series %q", i, r.Status, r.Series)
		}
	}

	// runs.csv: a header and a row per run.
	rows := readCSV(t, filepath.Join(res, "runs.csv"))
	if len(rows) != 5 {
		t.Fatalf("runs.csv has %d records, want 5", len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, want := range []string{"id", "interval", "timer", "packets", "cpu_pct", "err_p50_us", "err_p99_us"} {
		if _, ok := col[want]; !ok {
			t.Errorf("runs.csv lacks column %s: %v", want, rows[0])
		}
	}
	for i, r := range rows[1:] {
		if r[col["id"]] != m.Runs[i].ID || r[col["timer"]] != m.Runs[i].Params["timer"] || r[col["packets"]] != "50" {
			t.Errorf("runs.csv row %d: %v", i+1, r)
		}
	}

	// series/<id>.csv: a line per packet.
	for _, r := range m.Runs {
		recs := readCSV(t, filepath.Join(res, "series", r.ID+".csv"))
		if strings.Join(recs[0], ",") != "packet,scheduled_ns,actual_ns,error_ns" || len(recs) != 51 {
			t.Errorf("series/%s.csv: header %v, %d records; want 51", r.ID, recs[0], len(recs))
		}
	}

	// tables.md and the figure's data.
	md, err := os.ReadFile(filepath.Join(res, "tables.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "### Send-time error and CPU") || !strings.Contains(string(md), "| CPU % (Paper) |") {
		t.Errorf("tables.md:\n%s", md)
	}
	plot := readCSV(t, filepath.Join(res, "plots", "epsilon.csv"))
	if strings.Join(plot[0], ",") != "run,timer,interval,packet,time_s,err_us" || len(plot) != 1+4*50 {
		t.Errorf("plots/epsilon.csv: header %v, %d records", plot[0], len(plot))
	}
}

func TestRunPcap(t *testing.T) {
	// A sink.pcap() run writes a pcapng file that gopacket reads back,
	// one packet per scheduled packet, each frame 64 bytes less the FCS.
	dir := inTempRoot(t, map[string]string{"pcap.star": `experiment(
    name = "pcap",
    trace = trace.synthetic(count = 30, interval = "100us"),
    timer = timer.busy(),
    sink = sink.pcap(),
)`})
	code, stdout, stderr := run(t, "run", "--quiet", "-o", filepath.Join(dir, "out"), "pcap.star")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if stderr != "" {
		t.Errorf("--quiet printed:\n%s", stderr)
	}
	res := resultsDir(t, stdout)
	m := readManifest(t, res)
	if len(m.Runs) != 1 || len(m.Runs[0].Files) != 1 || m.Runs[0].Files[0] != "pcap/"+m.Runs[0].ID+".pcapng" {
		t.Fatalf("manifest runs %+v", m.Runs)
	}
	f, err := os.Open(filepath.Join(res, m.Runs[0].Files[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		if len(data) != 60 {
			t.Errorf("packet %d: %d bytes, want 60", n, len(data))
		}
		n++
	}
	if n != 30 {
		t.Errorf("read %d packets, want 30", n)
	}
}

func TestInterrupted(t *testing.T) {
	// A run cancelled before it starts: nothing is measured, and the
	// manifest says the invocation was interrupted.
	inTempRoot(t, map[string]string{"tiny.star": tiny})
	p, err := script.Evaluate("tiny.star", script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := execute.Execute(ctx, p, execute.ExecOptions{Out: t.TempDir(), Progress: execute.ProgressQuiet})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Interrupted || len(out.Rows) != 0 {
		t.Errorf("outcome: interrupted %v, %d rows", out.Interrupted, len(out.Rows))
	}
	m := readManifest(t, out.Dir)
	if m.Status != "interrupted" || m.End.IsZero() {
		t.Errorf("manifest status %q, end %v", m.Status, m.End)
	}
	for _, r := range m.Runs {
		if r.Status != "pending" {
			t.Errorf("run %d status %q, want pending", r.Index, r.Status)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := run(t, "version")
	if code != 0 || stderr != "" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if !regexp.MustCompile(`^labrun \S+ \(revision \S+, go\S+\)\n$`).MatchString(stdout) {
		t.Errorf("version line %q", stdout)
	}
}

func TestCommandLine(t *testing.T) {
	inTempRoot(t, map[string]string{"tiny.star": tiny, "bad.star": "timer.tick(perid = \"1ms\")\n"})
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring, "" for none
		stderr string // a substring, "" for none
	}{
		// No command: usage, and exit 2.
		{"no command", nil, ExitUsage, "usage: labrun COMMAND", ""},
		// help asked for: usage, and exit 0.
		{"help", []string{"help"}, ExitOK, "commands:\n  run ", ""},
		// -h is help too.
		{"-h", []string{"-h"}, ExitOK, "plan     show every run", ""},
		// An unknown command lists the known ones.
		{"unknown command", []string{"frobnicate"}, ExitUsage, "", `labrun: unknown command "frobnicate"; commands: run, plan, trace, compare, report, merge, submit, archive, rerun, mod, recover, version`},
		// plan without a file.
		{"plan no file", []string{"plan"}, ExitUsage, "", "usage: labrun plan FILE"},
		// plan with two files.
		{"plan two files", []string{"plan", "tiny.star", "tiny.star"}, ExitUsage, "", "usage: labrun plan FILE"},
		// run without a file.
		{"run no file", []string{"run"}, ExitUsage, "", "usage: labrun run FILE"},
		// An unknown flag.
		{"unknown flag", []string{"plan", "--jsn", "tiny.star"}, ExitUsage, "", "flag provided but not defined: -jsn"},
		// --set without "=".
		{"set without =", []string{"plan", "tiny.star", "--set", "packets"}, ExitUsage, "", `want name=value, got "packets"`},
		// The same --set twice.
		{"set twice", []string{"plan", "tiny.star", "--set", "packets=1", "--set", "packets=2"}, ExitUsage, "", "packets is set twice"},
		// A --set naming nothing in the script.
		{"set unknown", []string{"plan", "tiny.star", "--set", "pakets=1"}, ExitUsage, "", `--set pakets: the script declares no parameter or sweep axis "pakets" (did you mean packets?)`},
		// Flags after the file work as well as before it.
		{"flags after file", []string{"plan", "tiny.star", "--set", "timer=busy", "--json"}, ExitOK, `"timer": "busy"`, ""},
		// A bad script: exit 3, and the error starts with the file name.
		{"bad script", []string{"plan", "bad.star"}, ExitScript, "", "bad.star:1:11: timer.tick: unknown keyword \"perid\" (did you mean period?)"},
		// A bad script for run: the same.
		{"bad script run", []string{"run", "bad.star"}, ExitScript, "", "bad.star:1:11: "},
		// A script that does not exist.
		{"missing script", []string{"plan", "nope.star"}, ExitUsage, "", "nope.star: no such file or directory"},
		// The step limit flag.
		{"max steps", []string{"plan", "--max-steps", "10", "tiny.star"}, ExitScript, "", "the script ran for more than 10 steps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if tc.stdout != "" && !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if tc.stderr != "" && !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if tc.name == "bad script" && !strings.HasPrefix(stderr, "bad.star:") {
				t.Errorf("stderr does not start with the file name:\n%s", stderr)
			}
		})
	}
}

func TestPlanCommand(t *testing.T) {
	// labrun plan prints what plan.WritePlan prints; --json the runs.
	code, stdout, stderr := run(t, "plan", "../../experiments/usleep_vs_firm.star")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "experiment usleep_vs_firm (../../experiments/usleep_vs_firm.star), seed 1: 8 runs") {
		t.Errorf("plan:\n%s", stdout)
	}
	code, stdout, _ = run(t, "plan", "--json", "../../experiments/usleep_vs_firm.star")
	var runs []plan.Run
	if err := json.Unmarshal([]byte(stdout), &runs); code != 0 || err != nil || len(runs) != 8 {
		t.Errorf("exit %d, %d runs, %v", code, len(runs), err)
	}
}
