package script

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const loadExp = "\nexperiment(name = \"x\", trace = trace.synthetic(count = 1, interval = \"1ms\"), timer = timer.busy())\n"

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		main  string
		want  string
	}{
		// Two modules that load each other.
		{"cycle", map[string]string{
			"main.star": `load("a.star", "x")` + loadExp,
			"a.star":    `load("b.star", "y")` + "\nx = 1\n",
			"b.star":    `load("a.star", "x")` + "\ny = 1\n",
		}, "main.star", "b.star:1:1: cannot load a.star: cycle in load graph: a.star -> b.star -> a.star\n  loaded from a.star:1:1\n  loaded from main.star:1:1"},
		// A module that loads itself.
		{"self", map[string]string{"main.star": `load("main.star", "x")` + loadExp},
			"main.star", "main.star:1:1: cannot load main.star: "},
		// //.. leaves the root.
		{"root escape", map[string]string{"main.star": `load("//../x.star", "x")` + loadExp},
			"main.star", `main.star:1:1: cannot load //../x.star: load path "//../x.star" escapes the repository root`},
		// A relative path from a subfolder that climbs out of the root.
		{"relative escape", map[string]string{"sub/main.star": `load("../../x.star", "x")` + loadExp},
			"sub/main.star", `sub/main.star:1:1: cannot load ../../x.star: load path "../../x.star" escapes the repository root`},
		// ".." in a standard library path.
		{"stdlib dots", map[string]string{"main.star": `load("@stdlib//../netvcr.star", "x")` + loadExp},
			"main.star", `cannot load @stdlib//../netvcr.star: bad standard library path "@stdlib//../netvcr.star"`},
		// A name the module does not define.
		{"missing name", map[string]string{"main.star": `load("@stdlib//netvcr.star", "netvrc")` + loadExp},
			"main.star", "main.star:1:1: load: name netvrc not found in module @stdlib//netvcr.star"},
		// A folder named like a module.
		{"folder", map[string]string{"main.star": `load("dir.star", "x")` + loadExp, "dir.star/a": ""},
			"main.star", "main.star:1:1: cannot load dir.star: dir.star: not a regular file (it is a directory); name a plain file"},
		// An error two loads deep names each load on the way.
		{"nested error", map[string]string{
			"main.star":    `load("lib/b.star", "y")` + loadExp,
			"lib/b.star":   `load("c.star", "z")` + "\ny = z\n",
			"lib/c.star":   "z = 1\nfail(\"broken\")\n",
			"lib/ok.star":  "",
			"lib/not.star": "",
		}, "main.star", "lib/c.star:2:5: fail: broken\n  loaded from lib/b.star:1:1\n  loaded from main.star:1:1"},
		// A resolve error (an undefined name) in a loaded module.
		{"undefined in module", map[string]string{"main.star": `load("a.star", "x")` + loadExp, "a.star": "x = y\n"},
			"main.star", "a.star:1:5: undefined: y\n  loaded from main.star:1:1"},
		// A syntax error in a loaded module.
		{"syntax in module", map[string]string{"main.star": `load("a.star", "x")` + loadExp, "a.star": "x = (\n"},
			"main.star", "a.star:2:1: got end of file, want primary expression\n  loaded from main.star:1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalIn(t, tc.files, tc.main, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", err, tc.want)
			}
			checkErrorForm(t, err)
		})
	}
}

func TestLoadSymlinkEscape(t *testing.T) {
	// A symbolic link inside the root that points outside is refused.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.star"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := writeTree(t, map[string]string{"main.star": `load("link/secret.star", "x")` + loadExp})
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	_, err := Evaluate("main.star", Options{})
	if err == nil || !strings.Contains(err.Error(), `main.star:1:1: cannot load link/secret.star: load path "link/secret.star" leads outside the repository root`) {
		t.Errorf("error %v", err)
	}
	// A link that stays inside the root is fine.
	if err := os.Symlink(filepath.Join(root, "lib"), filepath.Join(root, "inside")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "lib", "ok.star"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "ok.star"), []byte(`load("inside/ok.star", "x")`+loadExp), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Evaluate("ok.star", Options{}); err != nil {
		t.Error(err)
	}
}

func TestLoadFromOutsideWorkingDir(t *testing.T) {
	// Modules below the working directory show relative names; others
	// show their absolute path, also in errors.
	root := writeTree(t, map[string]string{
		"main.star": `load("lib.star", "x")` + loadExp,
		"lib.star":  "x = 1 // 0\n",
	})
	t.Chdir(t.TempDir())
	main := filepath.Join(root, "main.star")
	_, err := Evaluate(main, Options{})
	want := filepath.Join(root, "lib.star") + ":1:7: floored division by zero\n  loaded from " + main + ":1:1"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadStdlib(t *testing.T) {
	// Standard library modules load each other relative to themselves and
	// cannot climb out of the library.
	lib := fstest.MapFS{
		"a.star":     {Data: []byte(`load("sub/b.star", "b")` + "\na = b + 1\n")},
		"sub/b.star": {Data: []byte("b = 41\n")},
		"bad.star":   {Data: []byte(`load("../x.star", "x")` + "\n")},
	}
	files := map[string]string{"main.star": `load("@stdlib//a.star", "a")
n = param("n", default = a)` + loadExp}
	p, err := evalIn(t, files, "main.star", Options{Stdlib: lib})
	if err != nil {
		t.Fatal(err)
	}
	if p.Params[0].Value != "42" {
		t.Errorf("n = %s, want 42", p.Params[0].Value)
	}
	var names []string
	for _, s := range p.Sources {
		names = append(names, s.Name)
	}
	if strings.Join(names, " ") != "main.star @stdlib//a.star @stdlib//sub/b.star" {
		t.Errorf("sources %v", names)
	}
	_, err = Evaluate("main.star", Options{Stdlib: fstest.MapFS{"a.star": lib["bad.star"]}})
	if err == nil || !strings.Contains(err.Error(), `@stdlib//a.star:1:1: cannot load ../x.star: load path "../x.star" escapes the standard library`) {
		t.Errorf("error %v", err)
	}
}

func TestLoadOnce(t *testing.T) {
	// A module loaded by two files is evaluated once: one param, no
	// "already declared" error.
	files := map[string]string{
		"main.star":   `load("a.star", "a")` + "\n" + `load("//b.star", "b")` + loadExp,
		"a.star":      `load("common.star", "n")` + "\na = n\n",
		"b.star":      `load("common.star", "n")` + "\nb = n\n",
		"common.star": `n = param("n", default = 1)` + "\n",
	}
	p, err := evalIn(t, files, "main.star", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Params) != 1 || len(p.Sources) != 4 {
		t.Errorf("params %+v, sources %+v", p.Params, p.Sources)
	}
}
