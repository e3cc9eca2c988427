package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanJSONGolden holds labrun plan --json of every shipped experiment,
// with its default parameters, against testdata/golden/plan-json/<name>.json:
// the runs a script describes must not change when the code that reads it
// does.
func TestPlanJSONGolden(t *testing.T) {
	files, err := filepath.Glob("../../experiments/*.star")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped experiments found: %v", err)
	}
	// Data files are named by absolute path; the checkout's own is $ROOT.
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".star")
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, "plan", "--json", f)
			if stdout == "" {
				t.Fatalf("exit %d, no plan; stderr:\n%s", code, stderr)
			}
			got := strings.ReplaceAll(stdout, root+string(filepath.Separator), "$ROOT/")
			checkGolden(t, filepath.Join("golden", "plan-json", name+".json"), got)
		})
	}
}
