package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/module"
)

// modExample copies examples/repos into a temporary folder, makes caliper
// a git repository tagged v1.0.0, points LABRUN_CACHE at an empty cache
// and makes lab_a the working folder. It returns the copy's folder.
func modExample(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: labrun mod needs the git command line")
	}
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(t.TempDir(), "gitconfig"))
	t.Setenv("LABRUN_OFFLINE", "")
	cache := t.TempDir()
	t.Cleanup(func() { module.MakeWritable(cache) })
	t.Setenv("LABRUN_CACHE", cache)
	dir := t.TempDir()
	src := filepath.Join("..", "..", "examples", "repos")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=lab", "-c", "user.email=lab@example.org"}, args...)...)
		cmd.Dir = filepath.Join(dir, "caliper")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-qm", "caliper")
	git("tag", "v1.0.0")
	t.Chdir(filepath.Join(dir, "lab_a"))
	return dir
}

// TestModExample runs the worked example of docs/repos.md end to end.
func TestModExample(t *testing.T) {
	dir := modExample(t)
	for _, step := range []struct {
		args []string
		code int
		want string // in stdout
	}{
		{[]string{"mod", "tidy"}, 0, "caliper v1.0.0  commit "},
		{[]string{"mod", "download"}, 0, "caliper v1.0.0  "},
		{[]string{"mod", "verify"}, 0, "the cache and the upstream tags match"},
		{[]string{"mod", "verify", "--offline"}, 0, "offline"},
		{[]string{"mod", "graph"}, 0, "lab_a caliper@v1.0.0"},
	} {
		code, out, errOut := run(t, step.args...)
		if code != step.code || !strings.Contains(out, step.want) {
			t.Fatalf("labrun %v: exit %d, stdout %q, stderr %q; want exit %d and %q", step.args, code, out, errOut, step.code, step.want)
		}
	}
	lock, err := os.ReadFile(filepath.Join(dir, "lab_a", "labrun.lock"))
	if err != nil || !strings.Contains(string(lock), `"hash": "t1:`) {
		t.Fatalf("labrun.lock: %v\n%s", err, lock)
	}
	// The script's load resolves to the cached, verified file.
	r, err := module.Open(filepath.Join(dir, "lab_a"), module.NewCache(os.Getenv("LABRUN_CACHE"), true))
	if err != nil {
		t.Fatal(err)
	}
	top, _ := r.Main("precision.star")
	loc, err := r.Resolve(top, "@caliper//schedules.star")
	if err != nil {
		t.Fatal(err)
	}
	if data, err := r.ReadFile(loc); err != nil || !strings.Contains(string(data), "def gaps_file") {
		t.Fatalf("@caliper//schedules.star: %v", err)
	}

	// The tag moves upstream: verify refuses, naming the module and both
	// hashes, until tidy accepts the new content.
	old := regexp.MustCompile(`t1:[0-9a-f]{64}`).FindString(string(lock))
	caliper := filepath.Join(dir, "caliper")
	os.WriteFile(filepath.Join(caliper, "schedules.star"), []byte("RATES = []\n"), 0o644)
	for _, args := range [][]string{{"commit", "-qam", "new"}, {"tag", "-f", "v1.0.0"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=lab", "-c", "user.email=lab@example.org"}, args...)...)
		cmd.Dir = caliper
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	code, _, errOut := run(t, "mod", "verify")
	if code != 1 || !strings.Contains(errOut, "module caliper: tag v1.0.0 now names commit") || !strings.Contains(errOut, "labrun.lock records "+old) {
		t.Fatalf("verify after the tag moved: exit %d, %s", code, errOut)
	}
	if code, out, errOut := run(t, "mod", "tidy"); code != 0 || strings.Contains(out, old) {
		t.Fatalf("tidy: exit %d, %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, "mod", "verify"); code != 0 {
		t.Fatalf("verify after tidy: exit %d, %s", code, errOut)
	}
}

func TestModErrors(t *testing.T) {
	dir := modExample(t)
	for _, tc := range []struct {
		name string
		mod  string // labrun.mod of lab_a; "" keeps the example's
		env  string // LABRUN_OFFLINE
		args []string
		code int
		want string // in stderr
	}{
		{"no subcommand", "", "", []string{"mod"}, 2, "usage: labrun mod"},
		{"unknown subcommand", "", "", []string{"mod", "tidi"}, 2, `unknown subcommand "tidi"; accepted: tidy, download, verify, graph`},
		{"unknown flag", "", "", []string{"mod", "tidy", "--ofline"}, 2, "flag provided but not defined"},
		{"stray argument", "", "", []string{"mod", "tidy", "x"}, 2, "unexpected argument"},
		{"no lock yet", "", "", []string{"mod", "verify"}, 1, "run labrun mod tidy"},
		{"LABRUN_OFFLINE=1, empty cache", "", "1", []string{"mod", "download"}, 1, "run labrun mod tidy"},
		{"LABRUN_OFFLINE=1, empty cache, tidy", "", "1", []string{"mod", "tidy"}, 1, "the module cache lacks"},
		{"offline, empty cache", "", "", []string{"mod", "tidy", "--offline"}, 1, "the module cache lacks:\n  the git repository " + filepath.Join(dir, "caliper")},
		{"bad labrun.mod", "module(name = \"lab_a\")\nrequire(name = \"caliper\", git = \"../caliper\", version = \"1.0\")\n", "", []string{"mod", "tidy"}, 3, "labrun.mod:2:57: version \"1.0\" is not a semver tag"},
		{"no such tag", "module(name = \"lab_a\")\nrequire(name = \"caliper\", git = \"../caliper\", version = \"v9.0.0\")\n", "", []string{"mod", "tidy"}, 1, "has no tag v9.0.0"},
		{"no such repository", "module(name = \"lab_a\")\nrequire(name = \"caliper\", git = \"../nowhere\", version = \"v1.0.0\")\n", "", []string{"mod", "tidy"}, 1, "fetching " + filepath.Join(dir, "nowhere")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LABRUN_OFFLINE", tc.env)
			if tc.mod != "" {
				p := filepath.Join(dir, "lab_a", "labrun.mod")
				old, _ := os.ReadFile(p)
				os.WriteFile(p, []byte(tc.mod), 0o644)
				defer os.WriteFile(p, old, 0o644)
			}
			code, _, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("labrun %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
			}
		})
	}
}
