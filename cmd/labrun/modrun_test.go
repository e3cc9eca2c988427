package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/module"
)

// gitIn runs git in dir with a fixed author.
func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=lab", "-c", "user.email=lab@example.org"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// mustRun runs labrun and fails the test unless it exits with code.
func mustRun(t *testing.T, code int, args ...string) (string, string) {
	t.Helper()
	c, out, errOut := run(t, args...)
	if c != code {
		t.Fatalf("labrun %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, c, code, out, errOut)
	}
	return out, errOut
}

// lockOf reads lab_a's lock and returns caliper's entry.
func lockOf(t *testing.T, dir string) module.LockedModule {
	t.Helper()
	l, err := module.ReadLock(filepath.Join(dir, "lab_a"))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := l.Find("caliper")
	if !ok {
		t.Fatalf("caliper not in the lock: %+v", l)
	}
	return m
}

var smallRun = []string{"run", "precision.star", "--set", "packets=50", "--quiet", "-o"}

// A script of lab_a loads @caliper//schedules.star (and caliper's data
// file); the manifest records the lock and the host's provenance.
func TestRunWithModule(t *testing.T) {
	dir := modExample(t)
	mustRun(t, ExitOK, "mod", "tidy")
	out, _ := mustRun(t, ExitOK, append(smallRun, filepath.Join(dir, "out"))...)
	res := resultsDir(t, out)
	raw, err := os.ReadFile(filepath.Join(res, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Modules    module.Lock `json:"modules"`
		Provenance struct {
			KernelCmdline string `json:"kernel_cmdline"`
		} `json:"provenance"`
		Sources []struct{ Name string } `json:"sources"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	want := lockOf(t, dir)
	got, ok := m.Modules.Find("caliper")
	if !ok || got.Commit != want.Commit || got.Hash != want.Hash {
		t.Fatalf("manifest modules %+v; want caliper at commit %s hash %s", m.Modules, want.Commit, want.Hash)
	}
	var names []string
	for _, s := range m.Sources {
		names = append(names, s.Name)
	}
	for _, n := range []string{"@caliper//schedules.star", "@caliper//data/gaps.txt"} {
		if !strings.Contains(strings.Join(names, " "), n) {
			t.Errorf("sources %v lack %s", names, n)
		}
	}
	if _, err := os.Stat("/proc/cmdline"); err == nil && m.Provenance.KernelCmdline == "" {
		t.Errorf("manifest provenance has no kernel command line:\n%s", raw)
	}
	// Offline with an empty cache: what is missing is listed; nothing is fetched.
	t.Setenv("LABRUN_CACHE", t.TempDir())
	_, errOut := mustRun(t, ExitScript, "plan", "precision.star", "--offline")
	if !strings.Contains(errOut, "module caliper v1.0.0") || !strings.Contains(errOut, "offline") {
		t.Errorf("offline with an empty cache: %s", errOut)
	}
}

// A tag moved upstream to other content, or a file edited in the cache:
// run refuses, naming the module and both hashes and the load's
// position, until labrun mod tidy (or download) accepts the change.
func TestRunModuleChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string, m module.LockedModule)
		accept string // the mod subcommand that accepts the change
	}{
		{"moved tag", func(t *testing.T, dir string, m module.LockedModule) {
			cal := filepath.Join(dir, "caliper")
			f := filepath.Join(cal, "schedules.star")
			data, _ := os.ReadFile(f)
			os.WriteFile(f, append(data, "\n# changed\n"...), 0o644)
			gitIn(t, cal, "commit", "-qam", "change")
			gitIn(t, cal, "tag", "-f", "v1.0.0")
		}, "tidy"},
		{"edited cache", func(t *testing.T, dir string, m module.LockedModule) {
			tree := module.NewCache(os.Getenv("LABRUN_CACHE"), false).TreeDir(m.Commit, m.Hash)
			f := filepath.Join(tree, "schedules.star")
			os.Chmod(f, 0o644)
			data, _ := os.ReadFile(f)
			if err := os.WriteFile(f, append(data, "\n# edited\n"...), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "tidy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := modExample(t)
			mustRun(t, ExitOK, "mod", "tidy")
			m := lockOf(t, dir)
			tc.change(t, dir, m)
			_, errOut := mustRun(t, ExitScript, append(smallRun, filepath.Join(dir, "out"))...)
			for _, want := range []string{"module caliper", m.Hash, "labrun.lock records", "precision.star:6:1"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
			mustRun(t, ExitOK, "mod", tc.accept)
			mustRun(t, ExitOK, append(smallRun, filepath.Join(dir, "out"))...)
		})
	}
}

// A module's loads stay in its own tree and the modules it requires.
func TestRunModuleConfined(t *testing.T) {
	dir := modExample(t)
	cal := filepath.Join(dir, "caliper")
	for name, src := range map[string]string{
		"escape.star":     "load(\"../lab_a/lib.star\", \"x\")\n",
		"undeclared.star": "load(\"@lab_a//lib.star\", \"x\")\n",
	} {
		os.WriteFile(filepath.Join(cal, name), []byte(src), 0o644)
	}
	gitIn(t, cal, "add", "-A")
	gitIn(t, cal, "commit", "-qm", "bad loads")
	gitIn(t, cal, "tag", "-f", "v1.0.0")
	mustRun(t, ExitOK, "mod", "tidy")
	lab := filepath.Join(dir, "lab_a")
	os.WriteFile(filepath.Join(lab, "lib.star"), []byte("x = 1\n"), 0o644)
	for _, tc := range []struct{ load, want string }{
		{"@caliper//escape.star", `leads outside module caliper`},
		{"@caliper//undeclared.star", `module caliper does not require module "lab_a"`},
		{"@topo//lib.star", `module lab_a does not require module "topo"`},
		{"//../caliper/schedules.star", `leads outside module lab_a`},
	} {
		os.WriteFile(filepath.Join(lab, "bad.star"), []byte("load(\""+tc.load+"\", \"x\")\n"), 0o644)
		_, errOut := mustRun(t, ExitScript, "run", "bad.star", "-o", filepath.Join(dir, "out"))
		if !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "bad.star:1:1") {
			t.Errorf("load(%q): stderr lacks %q and the load's position:\n%s", tc.load, tc.want, errOut)
		}
	}
	os.Remove(filepath.Join(lab, "labrun.lock"))
	_, errOut := mustRun(t, ExitScript, append(smallRun, filepath.Join(dir, "out"))...)
	if !strings.Contains(errOut, "run labrun mod tidy") {
		t.Errorf("without labrun.lock: stderr lacks the advice to tidy:\n%s", errOut)
	}
}
