package script

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

// experimentFile is the NetVCR experiment, as seen from this package.
const experimentFile = "../../experiments/usleep_vs_firm.star"

// writeTree writes files (slash-separated names relative to a new temp
// root with a .labrun marker) and returns the root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files[".labrun"] = ""
	for name, src := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// evalIn writes files to a temp root, makes it the working directory for
// the rest of the test, and evaluates main there.
func evalIn(t *testing.T, files map[string]string, main string, opts Options) (*plan.Plan, error) {
	t.Helper()
	t.Chdir(writeTree(t, files))
	return Evaluate(main, opts)
}

// evalSrc evaluates one script, x.star, in a temp root.
func evalSrc(t *testing.T, src string, overrides map[string]string) (*plan.Plan, error) {
	t.Helper()
	return evalIn(t, map[string]string{"x.star": src}, "x.star", Options{Overrides: overrides})
}

// mustEval is evalSrc that fails the test on an error.
func mustEval(t *testing.T, src string, overrides map[string]string) *plan.Plan {
	t.Helper()
	p, err := evalSrc(t, src, overrides)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readExperiment returns the NetVCR experiment's source.
func readExperiment(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(experimentFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceOnce replaces old, which must occur exactly once in s.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times, want once", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// checkErrorForm checks what every evaluation error must look like: it
// starts with file:line:col (or with --set, for a command-line value) and
// carries no Go stack.
func checkErrorForm(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "goroutine ") || strings.Contains(msg, ".go:") {
		t.Errorf("error carries a Go stack or source position:\n%s", msg)
	}
	if strings.HasPrefix(msg, "--set ") {
		return
	}
	if !errorPos.MatchString(msg) {
		t.Errorf("error does not start with file:line:col:\n%s", msg)
	}
}

// tinyExperiment is a valid experiment of 2 timers x 2 intervals and 50
// packets a run: about 15 ms of sending in all.
const tinyExperiment = `
packets = param("packets", default = 50)
interval = sweep.axis("interval", ["100us", "200us"])
tm = sweep.axis("timer", {"busy": timer.busy(), "sleep": timer.sleep()})
experiment(
    name = "tiny",
    trace = trace.synthetic(count = packets, interval = interval),
    timer = tm,
    tables = [table(rows = ["timer", "interval"], metrics = ["cpu_pct", "err_p50_us", "err_p99_us"],
                    reference = reference(source = "Paper", metric = "cpu_pct", keys = ["timer"], values = {"busy": 99}))],
    figures = [figure.series(name = "epsilon", facet = ["timer", "interval"]), figure.cdf(by = "timer")],
)
`
