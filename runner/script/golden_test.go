package script

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/labrun/labrun/runner/plan"
)

// checkGolden compares got with testdata/golden/name, or rewrites the
// file under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(pkgDir, "testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update after checking the change):\n%s\nwant:\n%s", path, got, want)
	}
}

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		golden    string
		overrides map[string]string
		write     func(*bytes.Buffer, *plan.Plan) error
	}{
		// labrun plan: the runs as a table and the actions on the system.
		{"usleep_vs_firm.plan.txt", nil, func(b *bytes.Buffer, p *plan.Plan) error { return plan.WritePlan(b, p) }},
		// labrun plan --json: the runs as a JSON array.
		{"usleep_vs_firm.plan.json", nil, func(b *bytes.Buffer, p *plan.Plan) error { return plan.WritePlanJSON(b, p) }},
		// With --set packets=2000 --set rt=true: set parameters are marked,
		// and the real-time kernel settings show up as actions.
		{"usleep_vs_firm.set.plan.txt", map[string]string{"packets": "2000", "rt": "true"}, func(b *bytes.Buffer, p *plan.Plan) error { return plan.WritePlan(b, p) }},
	}
	// The plan names the script as given: from runner/, as the goldens
	// were made.
	t.Chdir("..")
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			p, err := Evaluate("../experiments/usleep_vs_firm.star", Options{Overrides: tc.overrides})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := tc.write(&b, p); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
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
