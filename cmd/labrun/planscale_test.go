package main

import (
	"io"
	"os"
	"path/filepath"
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
