package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExitCodes runs the labrun binary (the test binary standing in for
// it) once per documented exit code of docs/cli.md, and checks the code
// the process exits with. Every case writes its files to a fresh root.
func TestExitCodes(t *testing.T) {
	const ok = `experiment(name = "e", trace = trace.synthetic(count = 5, interval = "100us"), timer = timer.busy())` + "\n"
	const param = `packets = param("packets", default = 5)
experiment(name = "e", trace = trace.synthetic(count = packets, interval = "100us"), timer = timer.busy())
`
	const expects = `experiment(
    name = "e",
    trace = trace.synthetic(count = 5, interval = "100us"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    expectations = [expect(metric = "packets", where = {"timer": "busy"}, below = 2)],
)
`
	// A and B of labrun compare: cpu_pct went from 10 to 50.
	cmpA := map[string]string{"a/runs.csv": "id,timer,cpu_pct\nr1,busy,10\n", "a/manifest.json": `{"runs": [{"id": "r1"}]}`}
	cmpB := map[string]string{"b/runs.csv": "id,timer,cpu_pct\nr1,busy,50\n", "b/manifest.json": `{"runs": [{"id": "r1"}]}`}
	tests := []struct {
		name      string
		files     map[string]string
		args      []string
		code      int
		interrupt bool // send SIGINT once the second run is under way
	}{
		// 0: plan and run of a good script; the short form labrun FILE.star.
		{"plan ok", map[string]string{"e.star": ok}, []string{"plan", "e.star"}, ExitOK, false},
		{"run ok", map[string]string{"e.star": ok}, []string{"run", "e.star", "-o", "out", "--quiet"}, ExitOK, false},
		{"FILE.star ok", map[string]string{"e.star": ok}, []string{"e.star", "-o", "out", "--quiet"}, ExitOK, false},
		{"help", nil, []string{"help"}, ExitOK, false},
		// 1: labrun itself failed: the results cannot be written (-o is a file).
		{"results not writable", map[string]string{"e.star": ok, "out": "a file"}, []string{"run", "e.star", "-o", "out", "--quiet"}, ExitRunFailed, false},
		// 2: the command line is wrong.
		{"no command", nil, nil, ExitUsage, false},
		{"unknown command", nil, []string{"frobnicate"}, ExitUsage, false},
		{"unknown flag", map[string]string{"e.star": ok}, []string{"plan", "--jsn", "e.star"}, ExitUsage, false},
		{"missing FILE", nil, []string{"plan"}, ExitUsage, false},
		{"FILE does not exist", nil, []string{"run", "nosuch.star"}, ExitUsage, false},
		{"FILE.star does not exist", nil, []string{"nosuch.star"}, ExitUsage, false},
		{"FILE is a directory", map[string]string{"d.star/x": ""}, []string{"plan", "d.star"}, ExitUsage, false},
		{"malformed --set", map[string]string{"e.star": param}, []string{"plan", "--set", "packets", "e.star"}, ExitUsage, false},
		{"--set unknown name", map[string]string{"e.star": param}, []string{"plan", "--set", "pakets=5", "e.star"}, ExitUsage, false},
		{"--set value of the wrong type", map[string]string{"e.star": param}, []string{"plan", "--set", "packets=ten", "e.star"}, ExitUsage, false},
		{"--set value a builtin rejects", map[string]string{"e.star": param}, []string{"plan", "--set", "packets=-5", "e.star"}, ExitUsage, false},
		{"bad --max-memory", map[string]string{"e.star": ok}, []string{"plan", "--max-memory", "1 GiB", "e.star"}, ExitUsage, false},
		{"bad --max-eval-time", map[string]string{"e.star": ok}, []string{"plan", "--max-eval-time", "30", "e.star"}, ExitUsage, false},
		// 3: the script is wrong.
		{"syntax", map[string]string{"e.star": "x = [1,\n"}, []string{"plan", "e.star"}, ExitScript, false},
		{"bad unit", map[string]string{"e.star": `timer.tick(10)` + "\n"}, []string{"plan", "e.star"}, ExitScript, false},
		{"bad script by FILE.star", map[string]string{"e.star": `timer.frim()` + "\n"}, []string{"e.star"}, ExitScript, false},
		{"load outside the root", map[string]string{"e.star": `load("../x.star", "x")` + "\n"}, []string{"plan", "e.star"}, ExitScript, false},
		{"step limit", map[string]string{"e.star": "while True:\n    pass\n"}, []string{"plan", "--max-steps", "1000", "e.star"}, ExitScript, false},
		{"memory cap", map[string]string{"e.star": "x = [0] * (1 << 28)\n"}, []string{"plan", "--max-memory", "64MiB", "--max-eval-time", "2s", "e.star"}, ExitScript, false},
		// 4: every run finished and an expectation failed.
		{"expectation failed", map[string]string{"e.star": expects}, []string{"run", "e.star", "-o", "out", "--quiet"}, ExitExpectation, false},
		// 4: an expectation that matches no run (--set left only sleep) is
		// a failed expectation too. NOTE: owned by another engineer's
		// branch; this case may fail until that branch is merged.
		{"expectation matches no run", map[string]string{"e.star": expects}, []string{"run", "e.star", "--set", "timer=sleep", "-o", "out", "--quiet"}, ExitExpectation, false},
		// 5: labrun compare, a metric worse beyond --fail-if.
		{"compare regression", merge(cmpA, cmpB), []string{"compare", "a", "b", "--fail-if", "cpu_pct=1.2"}, ExitRegression, false},
		// 130: SIGINT during a run.
		{"interrupted", map[string]string{"k.star": `experiment(
    name = "k",
    trace = trace.synthetic(count = sweep.axis("count", [5, 300000]), interval = "100us"),
    timer = timer.sleep(),
)
`}, []string{"run", "k.star", "-o", "out", "--quiet"}, ExitInterrupted, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{".labrun": ""}
			for k, v := range tc.files {
				files[k] = v
			}
			for name, src := range files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(os.Args[0], tc.args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "LABRUN_AS_MAIN=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if tc.interrupt {
				out := filepath.Join(dir, "out")
				if !poll(30*time.Second, func() bool {
					m, _ := readKillManifest(t, out)
					return len(m.Runs) == 2 && m.Runs[0].Status == "ok" && m.Runs[1].Status != "ok"
				}) {
					cmd.Process.Kill()
					<-done
					t.Fatalf("the second run never started: %s", stderr.String())
				}
				cmd.Process.Signal(syscall.SIGINT)
			}
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				<-done
				t.Fatalf("labrun %s did not end", strings.Join(tc.args, " "))
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("labrun %s: exit %d, want %d; stderr:\n%s", strings.Join(tc.args, " "), code, tc.code, stderr.String())
			}
			if strings.Contains(stderr.String(), "goroutine ") {
				t.Errorf("stderr carries a Go stack:\n%s", stderr.String())
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
