package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/script"
)

// bigSweep is a plan of 100 x 1000 = 100,000 runs (plan.MaxRuns).
const bigSweep = `count = sweep.axis("count", list(range(10, 110)))
interval = sweep.axis("interval", ["%dus" % i for i in range(1, 1001)])
experiment(name = "big", seed = 1, trace = trace.synthetic(count = count, interval = interval), timer = timer.busy())
`

// BenchmarkPlan100k evaluates a 100,000-run sweep and prints its plan as
// JSON, as labrun plan --json does (without the watched child's second
// evaluation): go test -bench Plan100k -benchmem ./cmd/labrun.
func BenchmarkPlan100k(b *testing.B) {
	file := filepath.Join(b.TempDir(), "big.star")
	if err := os.WriteFile(file, []byte(bigSweep), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p, err := script.Evaluate(file, script.Options{MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Runs) != plan.MaxRuns {
			b.Fatalf("%d runs", len(p.Runs))
		}
		if err := plan.WritePlanJSON(io.Discard, p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlanSummary: a plan of more than planListMax runs is summarized
// (axes, counts, actions) unless --runs asks for the list; --max-runs
// refuses a larger plan, naming the flag, before anything is listed.
func TestPlanSummary(t *testing.T) {
	inTempRoot(t, map[string]string{"sixty.star": `n = sweep.axis("n", list(range(10, 70)))
experiment(name = "sixty", seed = 1, trace = trace.synthetic(count = n, interval = "1ms"), timer = timer.busy())
`})
	p, err := script.Evaluate("sixty.star", script.Options{MaxSteps: script.DefaultMaxSteps, MaxMemory: script.DefaultMaxMemory, MaxEvalTime: script.DefaultMaxEvalTime})
	if err != nil {
		t.Fatal(err)
	}
	first, last := p.Runs[0].ID, p.Runs[59].ID
	tests := []struct {
		args       []string
		code       int
		has, hasnt []string
	}{
		{[]string{"plan", "sixty.star"}, ExitOK, []string{"60 runs", "n                60 value(s): 10, 11, 12, 13, 14, ..., 68, 69", "runs: 60, listed by labrun plan --runs", "actions on the system: none"}, []string{first, last}},
		{[]string{"plan", "--runs", "sixty.star"}, ExitOK, []string{first, last, "actions on the system: none"}, []string{"listed by"}},
		{[]string{"plan", "--set", "n=12", "sixty.star"}, ExitOK, []string{p.Runs[2].ID}, []string{"listed by"}},
		{[]string{"plan", "--max-runs", "59", "--set", "n=12", "sixty.star"}, ExitOK, []string{p.Runs[2].ID}, nil},
		{[]string{"plan", "--max-runs", "59", "sixty.star"}, ExitScript, []string{"sixty.star:2:11: experiment: the sweep expands to more than 59 runs (--max-runs 59)", "give --max-runs up to 1000000"}, []string{first}},
		{[]string{"plan", "--max-runs", "60", "--runs", "sixty.star"}, ExitOK, []string{last}, nil},
		{[]string{"plan", "--max-runs", "2000000", "sixty.star"}, ExitUsage, []string{"want a number of runs from 1 to 1000000"}, nil},
	}
	for _, tc := range tests {
		code, stdout, stderr := run(t, tc.args...)
		all := stdout + stderr
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.code, all)
		}
		for _, s := range tc.has {
			if !strings.Contains(all, s) {
				t.Errorf("%v: no %q in\n%s", tc.args, s, all)
			}
		}
		for _, s := range tc.hasnt {
			if strings.Contains(all, s) {
				t.Errorf("%v: %q in\n%s", tc.args, s, all)
			}
		}
	}
}
