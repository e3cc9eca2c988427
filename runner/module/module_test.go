package module

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// libB is module b at a tag: a library, a data file and its labrun.mod.
func libB(t *testing.T, base string) *gitRepo {
	b := newGitRepo(t, filepath.Join(base, "b"))
	b.commit("v1.0.0", map[string]string{
		ModFileName:      `module(name = "b")`,
		"lib.star":       "GAP = 10\n",
		"data/gaps.txt":  "1 2 3\n",
		"sub/inner.star": "X = 1\n",
	})
	return b
}

func TestTidyResolveVerify(t *testing.T) {
	hermeticGit(t)
	b := libB(t, t.TempDir())
	root := mainModule(t, `module(name = "lab_a")
require(name = "b", git = "`+b.url()+`", version = "v1.0.0")
`, map[string]string{"exp.star": ""})
	c := newCache(t, false)
	tidy(t, root, c)
	l, err := ReadLock(root)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := l.Find("b")
	if !ok || m.Commit != b.git("rev-parse", "v1.0.0") || !strings.HasPrefix(m.Hash, "t1:") || m.Version != "v1.0.0" {
		t.Fatalf("lock: %+v", l)
	}
	r, err := Open(root, c)
	if err != nil {
		t.Fatal(err)
	}
	top, err := r.Main(filepath.Join(root, "exp.star"))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := r.Resolve(top, "@b//lib.star")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.TreeDir(m.Commit, m.Hash), "lib.star"); loc.Path != want || loc.Label() != "@b//lib.star" {
		t.Fatalf("resolved to %+v, want %s", loc, want)
	}
	data, err := r.ReadFile(loc)
	if err != nil || string(data) != "GAP = 10\n" {
		t.Fatalf("read %q, %v", data, err)
	}
	// A relative data file from inside b stays in b and is verified too.
	d, err := r.Resolve(loc, "data/gaps.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFile(d); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(loc.Path)
	if err != nil || st.Mode().Perm()&0o222 != 0 {
		t.Fatalf("cached file mode %v, want read-only (%v)", st.Mode(), err)
	}
	dst, _ := os.Stat(filepath.Dir(loc.Path))
	if dst.Mode().Perm()&0o222 != 0 {
		t.Fatalf("cached folder mode %v, want read-only", dst.Mode())
	}
	if err := VerifyAll(root, c); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// TestTagMoved: a tag moved upstream is refused by verify, naming the
// module and both hashes, until tidy accepts it.
func TestTagMoved(t *testing.T) {
	hermeticGit(t)
	b := libB(t, t.TempDir())
	root := mainModule(t, `module(name = "lab_a")
require(name = "b", git = "`+b.url()+`", version = "v1.0.0")
`, nil)
	c := newCache(t, false)
	tidy(t, root, c)
	old, _ := mustLock(t, root).Find("b")
	b.commit("v1.0.0", map[string]string{"lib.star": "GAP = 11\n"})
	err := VerifyAll(root, NewCache(c.Dir, false))
	var hm *HashMismatchError
	if !errors.As(err, &hm) || hm.Module != "b" || hm.Want != old.Hash || hm.Got == old.Hash || !strings.Contains(err.Error(), old.Hash) {
		t.Fatalf("verify after the tag moved: %v", err)
	}
	tidy(t, root, NewCache(c.Dir, false))
	if err := VerifyAll(root, NewCache(c.Dir, false)); err != nil {
		t.Fatalf("verify after tidy: %v", err)
	}
	now, _ := mustLock(t, root).Find("b")
	if now.Commit == old.Commit || now.Hash == old.Hash {
		t.Fatalf("tidy kept %s", now.Commit)
	}
}

// TestCachedFileEdited: a file changed in the cache is refused at load
// time and by verify, and tidy puts the right content back.
func TestCachedFileEdited(t *testing.T) {
	hermeticGit(t)
	b := libB(t, t.TempDir())
	root := mainModule(t, `module(name = "lab_a")
require(name = "b", git = "`+b.url()+`", version = "v1.0.0")
`, nil)
	c := newCache(t, false)
	tidy(t, root, c)
	m, _ := mustLock(t, root).Find("b")
	p := filepath.Join(c.TreeDir(m.Commit, m.Hash), "lib.star")
	os.Chmod(filepath.Dir(p), 0o755)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("GAP = 99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(root, c)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := r.Resolve(Location{Module: "lab_a", Root: root, Path: filepath.Join(root, "x.star")}, "@b//lib.star")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadFile(loc)
	var hm *HashMismatchError
	if !errors.As(err, &hm) || hm.Module != "b" || hm.Want != m.Hash || !strings.Contains(err.Error(), hm.Got) {
		t.Fatalf("load of an edited cached file: %v", err)
	}
	if err := VerifyAll(root, c); !errors.As(err, &hm) {
		t.Fatalf("verify of an edited cache: %v", err)
	}
	tidy(t, root, NewCache(c.Dir, false))
	r, err = Open(root, c)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := r.ReadFile(loc); err != nil || string(data) != "GAP = 10\n" {
		t.Fatalf("after tidy: %q, %v", data, err)
	}
}

func mustLock(t *testing.T, root string) *Lock {
	t.Helper()
	l, err := ReadLock(root)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// diamond makes d (v1.0.0, v1.1.0, v1.2.0), b and c requiring d, and
// returns the folder holding them.
func diamond(t *testing.T, cOnD func(d *gitRepo) string) (b, c, d *gitRepo) {
	base := t.TempDir()
	d = newGitRepo(t, filepath.Join(base, "d"))
	d.commit("v1.0.0", map[string]string{ModFileName: `module(name = "d")`, "lib.star": "V = 100\n"})
	d.commit("v1.1.0", map[string]string{"lib.star": "V = 110\n"})
	d.commit("v1.2.0", map[string]string{"lib.star": "V = 120\n"})
	b = newGitRepo(t, filepath.Join(base, "b"))
	b.commit("v1.0.0", map[string]string{ModFileName: `module(name = "b")
require(name = "d", git = "` + d.url() + `", version = "v1.0.0")
`, "lib.star": `load("@d//lib.star", "V")` + "\n"})
	c = newGitRepo(t, filepath.Join(base, "c"))
	c.commit("v1.0.0", map[string]string{ModFileName: `module(name = "c")
require(name = "d", git = "` + d.url() + `", ` + cOnD(d) + `)
`, "lib.star": "\n"})
	return b, c, d
}

func v110(*gitRepo) string { return `version = "v1.1.0"` }

func TestDiamondMVS(t *testing.T) {
	hermeticGit(t)
	b, c, d := diamond(t, v110)
	root := mainModule(t, `module(name = "lab_a")
require(name = "b", git = "`+b.url()+`", version = "v1.0.0")
require(name = "c", git = "`+c.url()+`", version = "v1.0.0")
`, nil)
	g := tidy(t, root, newCache(t, false))
	m, _ := mustLock(t, root).Find("d")
	if m.Version != "v1.1.0" || m.Commit != d.git("rev-parse", "v1.1.0") {
		t.Fatalf("d chosen %s (%s), want v1.1.0: the highest required, not the newest (v1.2.0)", m.Version, m.Commit)
	}
	out := g.Explain()
	for _, want := range []string{"b@v1.0.0 d@v1.0.0", "c@v1.0.0 d@v1.1.0", "lab_a b@v1.0.0", "d v1.1.0", "the highest of the versions required: b@v1.0.0 requires v1.0.0, c@v1.0.0 requires v1.1.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("graph lacks %q:\n%s", want, out)
		}
	}
}

func TestCommitPinConflict(t *testing.T) {
	hermeticGit(t)
	var sha string
	b, c, _ := diamond(t, func(d *gitRepo) string {
		sha = d.git("rev-parse", "v1.0.0")
		return `commit = "` + sha + `"`
	})
	root := mainModule(t, `module(name = "lab_a")
require(name = "b", git = "`+b.url()+`", version = "v1.0.0")
require(name = "c", git = "`+c.url()+`", version = "v1.0.0")
`, nil)
	_, err := Resolve(root, newCache(t, false))
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("want a conflict, got %v", err)
	}
	for _, want := range []string{"module d", "b@v1.0.0", "c@v1.0.0", "commit " + sha[:7]} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict message lacks %q: %v", want, err)
		}
	}
}

func TestConfinement(t *testing.T) {
	hermeticGit(t)
	b, c, _ := diamond(t, v110)
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret.star": ""})
	root := mainModule(t, `module(name = "lab_a")
require(name = "b", git = "`+b.url()+`", version = "v1.0.0")
require(name = "c", git = "`+c.url()+`", version = "v1.0.0")
`, map[string]string{"exp.star": "", "lib/x.star": ""})
	os.Symlink(filepath.Join(outside, "secret.star"), filepath.Join(root, "lib", "link.star"))
	cache := newCache(t, false)
	tidy(t, root, cache)
	r, err := Open(root, cache)
	if err != nil {
		t.Fatal(err)
	}
	top, _ := r.Main(filepath.Join(root, "exp.star"))
	inB, err := r.Resolve(top, "@b//lib.star")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from  Location
		label string
		want  string // "" = accepted
	}{
		{top, "lib/x.star", ""},                         // relative in the main module
		{top, "//lib/x.star", ""},                       // from the main module's root
		{top, "@c//lib.star", ""},                       // a declared dependency
		{top, "@d//lib.star", "does not require"},       // d is b's and c's, not the main module's
		{top, "../x.star", "leads outside"},             // out of the repository
		{top, "//lib/link.star", "symbolic link"},       // out through a link
		{top, "/etc/passwd", "absolute path"},           // absolute
		{top, "@b", "want @name//path"},                 // not a label
		{inB, "@d//lib.star", ""},                       // b requires d
		{inB, "@c//lib.star", "does not require"},       // b does not require c
		{inB, "@lab_a//exp.star", "does not require"},   // nor the main module
		{inB, "../../x.star", "leads outside module b"}, // out of b's tree
		{inB, "//lib.star", ""},                         // b's own root
		{inB, "@b//lib.star", ""},                       // itself by name
	} {
		loc, err := r.Resolve(tc.from, tc.label)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s from %s: %v", tc.label, tc.from.Label(), err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s from %s: got %v (%s), want an error with %q", tc.label, tc.from.Label(), err, loc.Path, tc.want)
		}
	}
}

// TestPruneSuperseded: a module that only a version not chosen requires
// is not in the build list.
func TestPruneSuperseded(t *testing.T) {
	hermeticGit(t)
	base := t.TempDir()
	e := newGitRepo(t, filepath.Join(base, "e"))
	e.commit("v1.0.0", map[string]string{ModFileName: `module(name = "e")`})
	d := newGitRepo(t, filepath.Join(base, "d"))
	d.commit("v1.0.0", map[string]string{ModFileName: `module(name = "d")
require(name = "e", git = "` + e.url() + `", version = "v1.0.0")
`})
	d.commit("v1.1.0", map[string]string{ModFileName: `module(name = "d")`})
	b := newGitRepo(t, filepath.Join(base, "b"))
	b.commit("v1.0.0", map[string]string{ModFileName: `module(name = "b")
require(name = "d", git = "` + d.url() + `", version = "v1.0.0")
`})
	root := mainModule(t, `module(name = "lab_a")
require(name = "b", git = "`+b.url()+`", version = "v1.0.0")
require(name = "d", git = "`+d.url()+`", version = "v1.1.0")
`, nil)
	tidy(t, root, newCache(t, false))
	l := mustLock(t, root)
	if m, _ := l.Find("d"); m.Version != "v1.1.0" {
		t.Errorf("d %s, want v1.1.0", m.Version)
	}
	if _, ok := l.Find("e"); ok {
		t.Errorf("e is in the build list, though only d v1.0.0 (not chosen) requires it: %+v", l.Modules)
	}
}

// TestOpenRefusesStaleOrMissingLock: a run never resolves afresh; it
// uses the lock, and only a lock made for this labrun.mod.
func TestOpenRefusesStaleOrMissingLock(t *testing.T) {
	hermeticGit(t)
	b := libB(t, t.TempDir())
	b.commit("v1.1.0", map[string]string{"lib.star": "GAP = 12\n"})
	mod := func(v string) string {
		return `module(name = "lab_a")
require(name = "b", git = "` + b.url() + `", version = "` + v + `")
`
	}
	root := mainModule(t, mod("v1.0.0"), nil)
	c := newCache(t, false)
	if _, err := Open(root, c); err == nil || !strings.Contains(err.Error(), "no labrun.lock beside it: run labrun mod tidy") {
		t.Errorf("no lock: %v", err)
	}
	tidy(t, root, c)
	writeFiles(t, root, map[string]string{ModFileName: mod("v1.1.0")})
	if _, err := Open(root, c); err == nil || !strings.Contains(err.Error(), "out of date: labrun.mod requires b v1.1.0, the lock was made for b v1.0.0; run labrun mod tidy") {
		t.Errorf("stale lock: %v", err)
	}
	writeFiles(t, root, map[string]string{ModFileName: "module(name = \"lab_a\")\nrequire(name = \"b\")\n"})
	var mfe *ModFileError
	if _, err := Open(root, c); !errors.As(err, &mfe) || !strings.Contains(err.Error(), "labrun.mod:2:1: require() needs git") {
		t.Errorf("bad labrun.mod: %v", err)
	}
	// Without a labrun.mod there are no modules to load.
	plain := t.TempDir()
	r, err := Open(plain, c)
	if err != nil {
		t.Fatal(err)
	}
	top, _ := r.Main(filepath.Join(plain, "exp.star"))
	if _, err := r.Resolve(top, "@b//lib.star"); err == nil || !strings.Contains(err.Error(), "there is no labrun.mod") {
		t.Errorf("@b// without labrun.mod: %v", err)
	}
}
