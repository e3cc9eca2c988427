package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// resultDir returns the one result folder of experiment exp under out/.
func resultDir(t *testing.T, exp string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join("out", exp, "*"))
	if len(m) != 1 {
		t.Fatalf("result folders of %s: %v", exp, m)
	}
	return m[0]
}

// An expectation whose where matches no run (its runs were left out with
// --set) fails on its own, with exit 4, and the report is written all the
// same, without NaN. (A where naming a value no axis has is a script error,
// exit 3, found at plan time.)
func TestExpectationMatchingNoRun(t *testing.T) {
	inTempRoot(t, map[string]string{"e.star": `experiment(
    name = "e",
    trace = trace.synthetic(count = 20, interval = "100us"),
    timer = sweep.axis("timer", [timer.busy(), timer.sleep()]),
    expectations = [expect(metric = "err_p99_us", where = {"timer": "sleep"}, below = 1000)],
)
`})
	code, _, stderr := run(t, "run", "e.star", "-o", "out", "--quiet", "--set", "timer=busy")
	if code != ExitExpectation {
		t.Fatalf("exit %d, want %d: %s", code, ExitExpectation, stderr)
	}
	if !strings.Contains(stderr, "expectation failed: err_p99_us < 1000: matches no run: where timer=sleep") {
		t.Errorf("stderr:\n%s", stderr)
	}
	dir := resultDir(t, "e")
	for _, f := range []string{"report.html", "report.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Contains(string(b), "NaN") || !strings.Contains(string(b), "matches no run: where timer=sleep") {
			t.Errorf("%s:\n%s", f, b)
		}
	}
}

// labrun report reads only files inside its folder.
func TestReportConfined(t *testing.T) {
	inTempRoot(t, map[string]string{"r.star": `experiment(
    name = "r",
    trace = trace.synthetic(count = 20, interval = "100us"),
    timer = timer.busy(),
    figures = [figure.cdf(name = "cdf")],
)
`})
	if code, _, stderr := run(t, "run", "r.star", "-o", "out", "--quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dir := resultDir(t, "r")
	secret, _ := filepath.Abs("secret.txt")
	os.WriteFile(secret, []byte("SECRET"), 0o600)
	orig, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "report", dir); code != 0 {
		t.Fatalf("the folder as written: exit %d: %s", code, stderr)
	}
	tests := []struct {
		name, key, value string
	}{
		{"dotdot", "png", "../../../secret.txt"},
		{"absolute", "png", secret},
		{"symlink", "png", "plots/link.png"},
		{"plot name", "Name", "../../x"},
	}
	os.Symlink(secret, filepath.Join(dir, "plots", "link.png"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r map[string]any
			json.Unmarshal(orig, &r)
			if tc.key == "png" {
				r["figures"].([]any)[0].(map[string]any)["png"] = tc.value
			} else {
				r["plots"].([]any)[0].(map[string]any)["Name"] = tc.value
			}
			b, _ := json.Marshal(r)
			os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644)
			os.Remove(filepath.Join(dir, "report.html"))
			code, _, stderr := run(t, "report", dir)
			if code != ExitRunFailed || !strings.Contains(stderr, tc.value) || !strings.Contains(stderr, "refused") {
				t.Errorf("exit %d, stderr %s", code, stderr)
			}
			html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
			if strings.Contains(string(html), base64.StdEncoding.EncodeToString([]byte("SECRET"))) {
				t.Errorf("report.html holds the file outside the folder")
			}
		})
	}
}

// compare refuses two different experiments unless --force.
func TestCompareDifferentExperiments(t *testing.T) {
	src := `experiment(
    name = "%s",
    trace = trace.synthetic(count = 20, interval = "100us"),
    timer = timer.busy(),
)
`
	inTempRoot(t, map[string]string{"a.star": strings.Replace(src, "%s", "alpha", 1), "b.star": strings.Replace(src, "%s", "beta", 1)})
	for _, s := range []string{"a.star", "b.star"} {
		if code, _, stderr := run(t, "run", s, "-o", "out", "--quiet"); code != 0 {
			t.Fatalf("%s: exit %d: %s", s, code, stderr)
		}
	}
	a, b := resultDir(t, "alpha"), resultDir(t, "beta")
	code, stdout, stderr := run(t, "compare", a, b)
	if code != ExitUsage || !strings.Contains(stderr, `"alpha"`) || !strings.Contains(stderr, `"beta"`) || !strings.Contains(stderr, "--force") || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "compare", a, b, "--force")
	if code != 0 || !strings.Contains(stdout, "packets") {
		t.Errorf("--force: exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}
}
