package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A failed expectation makes labrun exit with its own code and name the
// expectation and the measured value; expectations.csv is written.
func TestExpectationExitCode(t *testing.T) {
	inTempRoot(t, map[string]string{"e.star": `experiment(
    name = "e",
    trace = trace.synthetic(count = 50, interval = "100us"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    expectations = [
        expect(metric = "packets", where = {"timer": "busy"}, above = 50),
        expect(metric = "packets", where = {"timer": "sleep"}, below = 10, name = "too few packets"),
    ],
)
`})
	code, stdout, stderr := run(t, "run", "e.star", "-o", "out", "--quiet")
	if code != ExitExpectation {
		t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, ExitExpectation, stdout, stderr)
	}
	if !strings.Contains(stderr, "expectation failed: too few packets [timer=sleep]: measured 50, bound < 10") {
		t.Errorf("stderr does not name the expectation and value:\n%s", stderr)
	}
	if !strings.Contains(stdout, "Expectations") || !strings.Contains(stdout, "FAIL") || !strings.Contains(stdout, "pass") {
		t.Errorf("stdout lacks the expectations table:\n%s", stdout)
	}
	m, _ := filepath.Glob("out/e/*/expectations.csv")
	if len(m) != 1 {
		t.Fatalf("expectations.csv: %v", m)
	}
	b, _ := os.ReadFile(m[0])
	if !strings.HasPrefix(string(b), "expectation,run,measured,bound,result\n") || strings.Count(string(b), "\n") != 3 {
		t.Errorf("expectations.csv:\n%s", b)
	}

	inTempRoot(t, map[string]string{"ok.star": `experiment(
    name = "ok",
    trace = trace.synthetic(count = 20, interval = "100us"),
    timer = timer.busy(),
    expectations = [expect(metric = "packets", above = 20)],
)
`})
	if code, _, stderr := run(t, "run", "ok.star", "-o", "out", "--quiet"); code != ExitOK {
		t.Fatalf("passing expectation: exit %d: %s", code, stderr)
	}
}
