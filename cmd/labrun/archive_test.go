package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runIDs(t *testing.T, dir string) []string {
	t.Helper()
	var ids []string
	for _, r := range readManifest(t, dir).Runs {
		ids = append(ids, r.ID)
	}
	return ids
}

// labrun archive of a finished invocation, unpacked under another path
// and run from another working folder: the same plan hash and run IDs,
// and a comparison against the original.
func TestArchiveRunElsewhere(t *testing.T) {
	dir := modExample(t)
	mustRun(t, ExitOK, "mod", "tidy")
	out, _ := mustRun(t, ExitOK, append(smallRun, filepath.Join(dir, "out"))...)
	orig := resultsDir(t, out)
	tgz := filepath.Join(dir, "x.tar.gz")
	mustRun(t, ExitOK, "archive", orig, "-o", tgz, "--with-results")
	mustRun(t, ExitOK, "archive", "precision.star", "-o", filepath.Join(dir, "s.tar.gz"))

	// Elsewhere: another working folder, an empty module cache, offline.
	t.Chdir(t.TempDir())
	t.Setenv("LABRUN_CACHE", t.TempDir())
	t.Setenv("LABRUN_OFFLINE", "1")
	into := filepath.Join(t.TempDir(), "unpacked")
	out, errOut := mustRun(t, ExitOK, "run", tgz, "-C", into, "--quiet", "-o", "new")
	hash := orig[len(orig)-8:]
	if !strings.Contains(errOut, "plan "+hash+", the same as the original's") {
		t.Errorf("stderr does not confirm plan %s:\n%s", hash, errOut)
	}
	res := resultsDir(t, out)
	if !strings.HasSuffix(res, hash) || strings.Join(runIDs(t, res), ",") != strings.Join(runIDs(t, orig), ",") {
		t.Errorf("new folder %s runs %v; want plan %s and runs %v", res, runIDs(t, res), hash, runIDs(t, orig))
	}
	for _, want := range []string{"(original)", "B against A", "err_p99_us"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks the comparison (%q):\n%s", want, out)
		}
	}
	// An archive of a script (no results): it runs, with nothing to compare.
	if out, _ := mustRun(t, ExitOK, "run", filepath.Join(dir, "s.tar.gz"), "--quiet", "--set", "packets=20", "-o", "fromscript"); strings.Contains(out, "B against A") {
		t.Errorf("an archive without results printed a comparison:\n%s", out)
	}
	// Unpacking never writes over a folder.
	if _, errOut := mustRun(t, ExitUsage, "run", tgz, "-C", into); !strings.Contains(errOut, "new folder") {
		t.Errorf("run into an existing folder: %s", errOut)
	}
}

// labrun rerun DIR replans in place; a script changed since refuses with
// both plan hashes, and nothing runs.
func TestRerun(t *testing.T) {
	dir := modExample(t)
	mustRun(t, ExitOK, "mod", "tidy")
	out, _ := mustRun(t, ExitOK, append(smallRun, filepath.Join(dir, "out"))...)
	orig := resultsDir(t, out)
	out, _ = mustRun(t, ExitOK, "rerun", orig, "--quiet", "-o", filepath.Join(dir, "again"))
	if res := resultsDir(t, out); !strings.HasSuffix(res, orig[len(orig)-8:]) || !strings.Contains(out, "B against A") {
		t.Errorf("rerun: folder %s, stdout:\n%s", res, out)
	}
	src, _ := os.ReadFile("precision.star")
	os.WriteFile("precision.star", []byte(strings.Replace(string(src), "timer.busy()", "timer.sleep()", 1)), 0o644)
	_, errOut := mustRun(t, ExitRunFailed, "rerun", orig, "--quiet", "-o", filepath.Join(dir, "changed"))
	if !strings.Contains(errOut, "but the original's hashes "+orig[len(orig)-8:]) {
		t.Errorf("changed script: stderr lacks both hashes:\n%s", errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "changed")); err == nil {
		t.Errorf("a refused rerun made a result folder")
	}
	// The archive of a changed script is refused too: it would not repeat the run.
	if _, errOut := mustRun(t, ExitRunFailed, "archive", orig, "-o", filepath.Join(dir, "y.tar.gz")); !strings.Contains(errOut, "changed since it was read") {
		t.Errorf("archive of a changed script: %s", errOut)
	}
}
