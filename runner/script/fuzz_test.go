package script

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

// goStack matches the header of a goroutine's stack trace.
var goStack = regexp.MustCompile(`goroutine \d+ \[`)

// FuzzEvaluate evaluates arbitrary scripts: evaluation must never panic,
// hang or leak a Go stack; every error is a *ScriptError or names the
// script first.
func FuzzEvaluate(f *testing.F) {
	seeds := []string{readExperimentF(f), tinyExperiment, "", "x = (", "def f():\n    f()\nf()\n", "while True:\n    pass\n",
		// Values changed after a builtin checked them.
		"cpus = [0]\nk = kernel.settings(cpu = cpus)\ncpus.append(\"x\")\nexperiment(name = \"x\", trace = trace.synthetic(count = 1, interval = \"1ms\"), timer = timer.busy(), kernel = k)\n",
		"ts = []\nexperiment(name = \"x\", trace = trace.synthetic(count = 1, interval = \"1ms\"), timer = timer.busy(), tables = ts)\nts.append(1)\n",
		// An axis inside another axis's value.
		"experiment(name = \"x\", trace = trace.synthetic(count = 1, interval = \"1ms\"), timer = sweep.axis(\"t\", [timer.tick(sweep.axis(\"p\", [\"1ms\", \"2ms\"]))]))\n",
		// A module that loads itself.
		"load(\"fuzz.star\", \"x\")\nx = 1\n",
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "star", "*.star"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(b))
	}
	for _, s := range seeds {
		f.Add(s)
	}
	// One folder for all inputs (a fresh one per input would make each
	// execution slower than the evaluation it tests). The .labrun marker
	// makes it the root, so load() sees nothing else.
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".labrun"), nil, 0o644); err != nil {
		f.Fatal(err)
	}
	file := filepath.Join(dir, "fuzz.star")
	f.Fuzz(func(t *testing.T, src string) {
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Evaluate(file, Options{MaxSteps: 20_000})
		if err != nil {
			msg := err.Error()
			var se *plan.ScriptError
			if !errors.As(err, &se) && !strings.HasPrefix(msg, file) {
				t.Errorf("error is a %T not naming the script first:\n%s", err, msg)
			}
			if goStack.MatchString(msg) {
				t.Errorf("error carries a Go stack:\n%s", msg)
			}
			return
		}
		if len(p.Runs) == 0 {
			t.Errorf("a plan without runs")
		}
		var b strings.Builder
		if err := plan.WritePlan(&b, p); err != nil {
			t.Error(err)
		}
		if err := plan.WritePlanJSON(&b, p); err != nil {
			t.Error(err)
		}
	})
}

// readExperimentF reads the NetVCR experiment for a fuzz seed.
func readExperimentF(f *testing.F) string {
	b, err := os.ReadFile(experimentFile)
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}
