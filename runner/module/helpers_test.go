package module

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hermeticGit keeps the tests from reading the machine's git
// configuration and gives commits a fixed author.
func hermeticGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: the module tests need the git command line")
	}
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(t.TempDir(), "gitconfig"))
	for k, v := range map[string]string{"GIT_AUTHOR_NAME": "lab", "GIT_AUTHOR_EMAIL": "lab@example.org",
		"GIT_COMMITTER_NAME": "lab", "GIT_COMMITTER_EMAIL": "lab@example.org"} {
		t.Setenv(k, v)
	}
}

// newCache makes an empty cache in a temporary folder that the test
// removes even though its trees are read-only.
func newCache(t *testing.T, offline bool) *Cache {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { MakeWritable(dir) })
	return NewCache(dir, offline)
}

// gitRepo is a repository a test builds commit by commit.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T, dir string) *gitRepo {
	t.Helper()
	r := &gitRepo{t, dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.git("init", "--quiet", "-b", "main")
	return r
}

func (r *gitRepo) url() string { return "file://" + r.dir }

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path -> content) and commits them; it returns the
// commit and, when tag is not empty, moves or makes that tag there.
func (r *gitRepo) commit(tag string, files map[string]string) string {
	r.t.Helper()
	writeFiles(r.t, r.dir, files)
	r.git("add", "-A")
	r.git("commit", "--quiet", "--allow-empty", "-m", "change")
	if tag != "" {
		r.git("tag", "-f", tag)
	}
	return r.git("rev-parse", "HEAD")
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// mainModule makes the root of a main module with the given labrun.mod.
func mainModule(t *testing.T, mod string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if files == nil {
		files = map[string]string{}
	}
	files[ModFileName] = mod
	files[".labrun"] = ""
	writeFiles(t, dir, files)
	return dir
}

// tidy resolves the main module at root and writes its lock.
func tidy(t *testing.T, root string, c *Cache) *Graph {
	t.Helper()
	g, err := Resolve(root, c)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if err := g.Lock().Write(root); err != nil {
		t.Fatal(err)
	}
	return g
}
