package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// exp is a valid experiment statement that error cases build on.
const exp = `experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy())` + "\n"

// fifoFile as a file's content makes it a FIFO.
const fifoFile = "<fifo>"

// errorPos matches the file:line:col an error message starts with.
var errorPos = regexp.MustCompile(`^[^\s:]+:\d+:\d+: `)

// TestErrorGolden runs labrun plan on small bad scripts and compares the
// exact stderr with testdata/errors/<name>.txt. Scripts are written to a
// temp root (with a .labrun marker) that is the working directory, so
// paths in messages are relative; the root's own path, where a message
// names it, is shown as $ROOT.
func TestErrorGolden(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		args  []string // after "plan"; the script is main.star unless given
		code  int
	}{
		// A misspelt keyword: the builtin suggests the right one.
		{"keyword_typo", map[string]string{"main.star": `timer.tick(perid = "1ms")` + "\n"}, nil, ExitScript},
		// A bare number where a duration is wanted.
		{"bare_duration", map[string]string{"main.star": `trace.synthetic(count = 10, interval = 70)` + "\n"}, nil, ExitScript},
		// "70 us": a space between number and unit.
		{"spaced_duration", map[string]string{"main.star": `timer.firm(margin = "70 us")` + "\n"}, nil, ExitScript},
		// A load path that climbs out of the root.
		{"load_escapes_root", map[string]string{"main.star": `load("../../../etc/passwd.star", "x")` + "\n"}, nil, ExitScript},
		// A load of something that is not a .star file.
		{"load_not_star", map[string]string{"main.star": `load("lib.txt", "x")` + "\n"}, nil, ExitScript},
		// An absolute load path.
		{"load_absolute", map[string]string{"main.star": `load("/etc/x.star", "x")` + "\n"}, nil, ExitScript},
		// A repository label other than @stdlib.
		{"load_label", map[string]string{"main.star": `load("@foo//x.star", "x")` + "\n"}, nil, ExitScript},
		// A module file that does not exist.
		{"load_missing_file", map[string]string{"main.star": `load("missing.star", "x")` + "\n"}, nil, ExitScript},
		// A standard library module that does not exist, with a suggestion.
		{"load_missing_stdlib", map[string]string{"main.star": `load("@stdlib//netvrc.star", "netvcr")` + "\n"}, nil, ExitScript},
		// Recursion is not allowed.
		{"recursion", map[string]string{"main.star": "def f():\n    f()\n\nf()\n"}, nil, ExitScript},
		// An endless loop ends at the step limit.
		{"endless_loop", map[string]string{"main.star": "while True:\n    pass\n"}, []string{"--max-steps", "1000"}, ExitScript},
		// An error in a loaded module: the module's line first, then where
		// it was loaded from.
		{"error_in_loaded_file", map[string]string{
			"main.star": `load("lib.star", "timers")` + "\n" + exp,
			"lib.star":  "# A library with a bad value.\ntimers = [timer.busy(), timer.tick(10)]\n",
		}, nil, ExitScript},
		// Two loads deep: every load on the way is named.
		{"error_two_loads_deep", map[string]string{
			"main.star":      `load("lib/outer.star", "x")` + "\n" + exp,
			"lib/outer.star": `load("inner.star", "y")` + "\nx = y\n",
			"lib/inner.star": "y = 1\nz = y + \"1\"\n",
		}, nil, ExitScript},
		// A syntax error.
		{"syntax_error", map[string]string{"main.star": "x = [1, 2\n"}, nil, ExitScript},
		// An undefined name.
		{"undefined_name", map[string]string{"main.star": "t = timer.busy()\nexperiment(name = \"x\", trace = trace, timer = tmier)\n"}, nil, ExitScript},
		// Two experiment() calls.
		{"two_experiments", map[string]string{"main.star": exp + exp}, nil, ExitScript},
		// No experiment() call.
		{"no_experiment", map[string]string{"main.star": "t = timer.busy()\n"}, nil, ExitScript},
		// A --set name the script does not declare.
		{"set_unknown", map[string]string{"main.star": `packets = param("packets", default = 10)` + "\n" + exp}, []string{"--set", "pakets=5"}, ExitUsage},
		// A --set of an int parameter to a word.
		{"set_int_not_int", map[string]string{"main.star": `packets = param("packets", default = 10)` + "\n" + exp}, []string{"--set", "packets=ten"}, ExitUsage},
		// A --set of a timer axis to a value it does not have.
		{"set_axis_value", map[string]string{"main.star": `t = sweep.axis("timer", {"busy": timer.busy(), "firm": timer.firm()})
experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = t)
`}, []string{"--set", "timer=frim"}, ExitUsage},
		// A table row that names no axis.
		{"table_row_not_axis", map[string]string{"main.star": `t = sweep.axis("timer", [timer.busy(), timer.sleep()])
experiment(
    name = "x",
    trace = trace.synthetic(count = 10, interval = "1ms"),
    timer = t,
    tables = [table(rows = ["timer", "intervall"], metrics = ["cpu_pct"])],
)
`}, nil, ExitScript},
		// A reference for a metric that is not in its table.
		{"reference_metric_not_in_table", map[string]string{"main.star": `t = sweep.axis("timer", [timer.busy(), timer.sleep()])
paper = reference(source = "Paper", metric = "err_p99_us", keys = ["timer"], values = {"busy": 1})
experiment(
    name = "x",
    trace = trace.synthetic(count = 10, interval = "1ms"),
    timer = t,
    tables = [table(rows = ["timer"], metrics = ["cpu_pct"], reference = paper)],
)
`}, nil, ExitScript},
		// An argument that cannot be swept.
		{"sweep_not_sweepable", map[string]string{"main.star": `sink.pcap(snaplen = sweep.axis("snaplen", ["64B", "128B"]))` + "\n"}, nil, ExitScript},
		// Zipped axes of different lengths.
		{"zip_length", map[string]string{"main.star": `z = sweep.zip(interval = ["70us", "2500us"], packets = [100])` + "\n"}, nil, ExitScript},
		// A misspelt builtin of a domain: the nearest name and the list.
		{"module_attr_typo", map[string]string{"main.star": "t = timer.frim()\n"}, nil, ExitScript},
		// A table row when the experiment sweeps nothing.
		{"table_row_no_axes", map[string]string{"main.star": `experiment(
    name = "x",
    trace = trace.synthetic(count = 10, interval = "1ms"),
    timer = timer.busy(),
    tables = [table(rows = ["timer"], metrics = ["cpu_pct"])],
)
`}, nil, ExitScript},
		// An expectation on a value the axis does not take.
		{"expect_where_value", map[string]string{"main.star": `experiment(
    name = "x",
    trace = trace.synthetic(count = 10, interval = "1ms"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    expectations = [expect(metric = "err_p99_us", where = {"timer": "bsy"}, below = 5)],
)
`}, nil, ExitScript},
		// An expectation on a metric labrun does not produce.
		{"expect_unknown_metric", map[string]string{"main.star": `expect(metric = "err_p99us", below = 5)` + "\n"}, nil, ExitScript},
		// A load past the engine's limit of timer expirations per second.
		{"background_timers_rate", map[string]string{"main.star": `b = background.timers(count = 200, interval = "50us")` + "\n"}, nil, ExitScript},
		// An error in a function of a module, called by the module that
		// loads it, while main loads that one: every line on the way.
		{"error_called_in_middle_module", map[string]string{
			"main.star":      `load("lib/outer.star", "x")` + "\n" + exp,
			"lib/outer.star": "# The middle module.\nload(\"inner.star\", \"f\")\nx = f()\n",
			"lib/inner.star": "def f():\n    return timer.tick(10)\n",
		}, nil, ExitScript},
		// An error found after evaluation in a table a library declares.
		{"plan_error_in_loaded_module", map[string]string{
			"main.star": `load("lib/tables.star", "tables")
experiment(name = "x", trace = trace.synthetic(count = 10, interval = "1ms"), timer = sweep.axis("timer", [timer.busy()]), tables = tables)
`,
			"lib/tables.star": `tables = [table(rows = ["timr"], metrics = ["cpu_pct"])]` + "\n",
		}, nil, ExitScript},
		// A FIFO as a data file: refused, not waited on.
		{"data_file_fifo", map[string]string{
			"main.star": `trace.synthetic(count = 10, gaps = "//data/gaps")` + "\n",
			"data/gaps": fifoFile,
		}, nil, ExitScript},
		// Control characters in a script's string are escaped.
		{"escape_label", map[string]string{"main.star": "print(\"clear\\x1b[2J\")\nt = timer.tick(\"\\x1b[2J\")\n"}, nil, ExitScript},
		// A --set value the builtin rejects is a command-line error.
		{"set_int_rejected_by_builtin", map[string]string{"main.star": `packets = param("packets", default = 10)
experiment(name = "x", trace = trace.synthetic(count = packets, interval = "1ms"), timer = timer.busy())
`}, []string{"--set", "packets=-5"}, ExitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := inTempRoot(t, tc.files)
			for name, src := range tc.files {
				if src == fifoFile {
					os.Remove(name)
					if err := syscall.Mkfifo(name, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			args := append([]string{"plan"}, tc.args...)
			args = append(args, "main.star")
			code, stdout, stderr := run(t, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if stdout != "" {
				t.Errorf("stdout:\n%s", stdout)
			}
			if real, err := filepath.EvalSymlinks(root); err == nil {
				stderr = strings.ReplaceAll(stderr, real, "$ROOT")
			}
			stderr = strings.ReplaceAll(stderr, root, "$ROOT")
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, ".go:") {
				t.Errorf("stderr carries a Go stack:\n%s", stderr)
			}
			if !strings.HasPrefix(stderr, "--set ") && !errorPos.MatchString(stderr) {
				t.Errorf("stderr does not start with file:line:col:\n%s", stderr)
			}
			checkGolden(t, filepath.Join("errors", tc.name+".txt"), stderr)
		})
	}
}

// checkGolden compares got with testdata/<name> (relative to the package
// folder), or rewrites the file under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(pkgDir, "testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("stderr differs from %s (run go test -update after checking the change):\n%s\nwant:\n%s", path, got, want)
	}
}

// pkgDir is the package folder, the working directory the test starts in.
var pkgDir = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return wd
}()
