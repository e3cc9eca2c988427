package runner_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/labrun/labrun/"

// TestLayers holds the dependency rules of docs/architecture.md: only
// runner/script imports Starlark, and imports point down only
// (script -> plan, execute -> plan; plan imports neither).
func TestLayers(t *testing.T) {
	deps := goListDeps(t, "./runner/...", "./cmd/...", "./results/...", "./engine/...")
	starlark := func(deps []string) bool {
		return slices.ContainsFunc(deps, func(d string) bool { return strings.HasPrefix(d, "go.starlark.net") })
	}
	if !starlark(deps[module+"runner/script"]) {
		t.Errorf("runner/script does not import go.starlark.net: is the package list right?")
	}
	// runner/module belongs to the script layer: it reads labrun.mod with
	// Starlark's parser (syntax only: it evaluates nothing) and resolves
	// the @module// labels of load().
	scriptLayer := []string{module + "runner/script", module + "runner/module", module + "cmd/labrun"}
	for pkg, d := range deps {
		if starlark(d) && !slices.Contains(scriptLayer, pkg) {
			t.Errorf("%s depends on go.starlark.net; only runner/script (and runner/module's parser of labrun.mod) may", pkg)
		}
	}
	for _, imp := range directImports(t, "./runner/module") {
		if strings.HasPrefix(imp, "go.starlark.net") && imp != "go.starlark.net/syntax" {
			t.Errorf("runner/module imports %s; it may use Starlark's parser only", imp)
		}
	}
	forbidden := map[string][]string{
		"runner/plan":     {"runner/script", "runner/execute", "runner/linkconf"},
		"runner/linkconf": {"runner/script", "runner/execute"},
		"runner/script":   {"runner/execute"},
		"runner/execute":  {"runner/script"},
		"runner/module":   {"runner/script", "runner/plan", "runner/execute"},
		"runner/remote":   {"runner/script", "runner/plan", "runner/execute", "runner/linkconf"},
		"results":         {"runner/plan", "runner/script", "runner/execute"},
	}
	for pkg, bad := range forbidden {
		d, ok := deps[module+pkg]
		if !ok {
			t.Errorf("package %s not found", pkg)
			continue
		}
		for _, b := range bad {
			if slices.Contains(d, module+b) {
				t.Errorf("%s imports %s", pkg, b)
			}
		}
	}
	for pkg, d := range deps {
		if strings.HasPrefix(pkg, module+"engine/") && slices.ContainsFunc(d, func(x string) bool {
			return strings.HasPrefix(x, module+"runner") || strings.HasPrefix(x, module+"results") || strings.HasPrefix(x, module+"cmd")
		}) {
			t.Errorf("%s imports a package above the engine", pkg)
		}
	}
	// runner/plan makes no system calls of its own.
	for _, imp := range directImports(t, "./runner/plan") {
		if slices.Contains([]string{"os", "os/exec", "syscall", "net", "golang.org/x/sys/unix"}, imp) {
			t.Errorf("runner/plan imports %s; the plan makes no system calls", imp)
		}
	}
	// cmd/labrun reaches Starlark only through runner/script.
	if d := deps[module+"cmd/labrun"]; !slices.Contains(d, module+"runner/script") {
		t.Errorf("cmd/labrun does not import runner/script")
	}
	if imps := directImports(t, "./cmd/labrun"); slices.ContainsFunc(imps, func(d string) bool { return strings.HasPrefix(d, "go.starlark.net") }) {
		t.Errorf("cmd/labrun imports go.starlark.net directly: %v", imps)
	}
}

// goListDeps maps each package of the patterns (without tests) to its
// transitive dependencies, as go list -deps sees them.
func goListDeps(t *testing.T, patterns ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"-C", "..", "list", "-json=ImportPath,Deps"}, patterns...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		deps[p.ImportPath] = p.Deps
	}
	return deps
}

// directImports lists the packages pkg imports itself.
func directImports(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "-C", "..", "list", "-f", `{{join .Imports "\n"}}`, pkg).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	return strings.Fields(string(out))
}
