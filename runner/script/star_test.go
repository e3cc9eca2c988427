package script

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/labrun/labrun/runner/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestStar runs every testdata/star/*.star script. The convention:
//
//   - A script is evaluated like an experiment script, with one more
//     predeclared name, assert (go.starlark.net/starlarktest: assert.eq,
//     assert.true, assert.fails(lambda: f(...), "regexp"), ...). A failed
//     assertion fails the test at the script's line; an uncaught error
//     fails it with file:line:col.
//   - Happy cases are plain statements checked with assert; each bad case
//     sits beside them as assert.fails(lambda: ..., "what the error says").
//   - Leading comment lines "# set: name=value" are --set overrides.
//   - A script that declares an experiment() must also plan: the driver
//     expands it, and if the script defines want_runs (an int) the plan
//     must have that many runs.
//   - An error found only when the plan is made (after evaluation) is
//     stated on the line that causes it, as go.starlark.net's tests do:
//     `x = ...  ### "regexp"`. The plan must then fail with an error that
//     names that line and matches the regexp; one such line per script.
//   - testdata/star holds a .labrun marker, so it is the root for load();
//     modules that scripts load live in testdata/star/lib/ and are not run
//     by themselves.
func TestStar(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "star", "*.star"))
	if err != nil {
		t.Fatal(err)
	}
	for _, domain := range []string{"experiment_sweep", "param", "trace", "timer", "sink", "kernel", "table_figure", "struct", "load", "plan"} {
		if !slices.Contains(files, filepath.Join("testdata", "star", domain+".star")) {
			t.Errorf("testdata/star/%s.star is missing", domain)
		}
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".star"), func(t *testing.T) {
			runStar(t, file)
		})
	}
}

// runStar evaluates one test script; see TestStar.
func runStar(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	overrides := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		if kv, ok := strings.CutPrefix(line, "# set: "); ok {
			k, v, _ := strings.Cut(kv, "=")
			overrides[k] = v
		}
	}
	assert, err := starlarktest.LoadAssertModule()
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	// The steps of Evaluate, with assert added to the predeclared names
	// and the experiment optional.
	h := newHost(Options{Overrides: overrides, MaxSteps: 1_000_000})
	h.root = findRoot(filepath.Dir(abs))
	h.files[file] = abs
	h.addSource(file, abs, data)
	thread := h.newThread(file)
	starlarktest.SetReporter(thread, t)
	predeclared := h.predeclared()
	predeclared["assert"] = assert["assert"]
	globals, err := starlark.ExecFileOptions(fileOptions, thread, file, data, predeclared)
	if err != nil {
		t.Fatal(h.scriptError(err))
	}
	want, wantLine := planErrorWant(t, data)
	if h.exp == nil {
		if _, ok := globals["want_runs"]; ok {
			t.Fatal("the script defines want_runs but declares no experiment")
		}
		return
	}
	if err := h.checkOverrides(); err != nil {
		t.Fatal(err)
	}
	p, err := h.plan()
	if want != nil {
		prefix := file + ":" + strconv.Itoa(wantLine) + ":"
		switch {
		case err == nil:
			t.Fatalf("%s: the plan was made, want an error matching %q", prefix, want)
		case !strings.HasPrefix(err.Error(), prefix) || !want.MatchString(err.Error()):
			t.Fatalf("plan error:\n%v\nwant one at %s matching %q", err, prefix, want)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := globals["want_runs"]; ok {
		n, err := starlark.AsInt32(w)
		if err != nil {
			t.Fatalf("want_runs: %v", err)
		}
		if len(p.Runs) != n {
			t.Errorf("the plan has %d runs, want_runs = %d; runs: %v", len(p.Runs), n, runParams(p))
		}
	}
}

// planErrorWant finds the `### "regexp"` a script states for its plan
// error, and its line.
func planErrorWant(t *testing.T, data []byte) (*regexp.Regexp, int) {
	t.Helper()
	for i, line := range strings.Split(string(data), "\n") {
		_, q, ok := strings.Cut(line, "### ")
		if !ok {
			continue
		}
		re, err := strconv.Unquote(strings.TrimSpace(q))
		if err != nil {
			t.Fatalf("line %d: ### wants a quoted regexp: %v", i+1, err)
		}
		return regexp.MustCompile(re), i + 1
	}
	return nil, 0
}

// runParams lists the runs' parameters, for failure messages.
func runParams(p *plan.Plan) []string {
	var out []string
	for _, r := range p.Runs {
		out = append(out, strconv.Itoa(r.Index+1)+": "+plan.ParamString(r.Params))
	}
	return out
}
