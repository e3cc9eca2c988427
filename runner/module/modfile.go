package module

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.starlark.net/syntax"
)

// ModFileName and LockFileName are the files at a module's root.
const (
	ModFileName  = "labrun.mod"
	LockFileName = "labrun.lock"
)

// Requirement is one require(...) of a labrun.mod: a module by name, where
// to fetch it, and either a semver tag (Version) or a commit (Commit).
type Requirement struct {
	Name    string `json:"name"`
	Git     string `json:"git"`
	Version string `json:"version,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Pos     string `json:"-"` // file:line:col of the require(...) call
}

// Pin is the requirement's version or commit, as written.
func (r Requirement) Pin() string {
	if r.Commit != "" {
		return r.Commit
	}
	return r.Version
}

// ModFile is a parsed labrun.mod.
type ModFile struct {
	Name     string
	Requires []Requirement
	Path     string // the file it was read from, as given
}

// ModFileError is a mistake in a labrun.mod. Its message starts with
// file:line:col; the command line exits 3 for it.
type ModFileError struct{ Msg string }

func (e *ModFileError) Error() string { return e.Msg }

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

const modForms = `accepted: module(name = "lab_a") once, then require(name = "caliper", git = "<url or path>", version = "v1.2.0") or require(..., commit = "<40-hex sha>")`

// ReadModFile reads and parses the labrun.mod at path.
func ReadModFile(path string) (*ModFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseModFile(path, data)
}

// ParseModFile parses a labrun.mod. It is Starlark syntax, but nothing is
// evaluated: the file must be a sequence of module(...) and require(...)
// calls whose arguments are keyword=string literals.
func ParseModFile(filename string, data []byte) (*ModFile, error) {
	f, err := syntax.Parse(filename, data, 0)
	if err != nil {
		return nil, &ModFileError{err.Error() + "; " + modForms}
	}
	mf := &ModFile{Path: filename}
	seen := map[string]string{}
	for _, st := range f.Stmts {
		call, fn, err := modCall(st)
		if err != nil {
			return nil, err
		}
		kw, err := keywords(call, fn)
		if err != nil {
			return nil, err
		}
		pos := posString(call.Lparen)
		switch fn {
		case "module":
			if err := mf.setModule(call, kw); err != nil {
				return nil, err
			}
		case "require":
			if mf.Name == "" {
				return nil, errAt(call.Fn, "require(...) before module(name = ...); "+modForms)
			}
			r, err := requirement(call, kw, pos)
			if err != nil {
				return nil, err
			}
			if prev, dup := seen[r.Name]; dup {
				return nil, errAt(call.Fn, fmt.Sprintf("module %q is required twice (first at %s); require each module once", r.Name, prev))
			}
			if r.Name == mf.Name {
				return nil, errAt(call.Fn, fmt.Sprintf("module %q requires itself", r.Name))
			}
			seen[r.Name] = pos
			mf.Requires = append(mf.Requires, r)
		}
	}
	if mf.Name == "" {
		return nil, &ModFileError{fmt.Sprintf("%s:1:1: no module(name = ...) call; %s", filename, modForms)}
	}
	return mf, nil
}

// modCall checks that a statement is a call of module or require.
func modCall(st syntax.Stmt) (*syntax.CallExpr, string, error) {
	es, ok := st.(*syntax.ExprStmt)
	if ok {
		if call, ok := es.X.(*syntax.CallExpr); ok {
			if id, ok := call.Fn.(*syntax.Ident); ok && (id.Name == "module" || id.Name == "require") {
				return call, id.Name, nil
			}
			return nil, "", errAt(call.Fn, "unknown function; only module(...) and require(...) may be called; "+modForms)
		}
	}
	return nil, "", errAt(st, "only module(...) and require(...) calls are allowed in "+ModFileName+"; "+modForms)
}

// keywords collects name = "string" arguments, refusing anything else.
func keywords(call *syntax.CallExpr, fn string) (map[string]*syntax.Literal, error) {
	allowed := map[string][]string{"module": {"name"}, "require": {"name", "git", "version", "commit"}}[fn]
	kw := map[string]*syntax.Literal{}
	for _, a := range call.Args {
		b, ok := a.(*syntax.BinaryExpr)
		if !ok || b.Op != syntax.EQ {
			return nil, errAt(a, fmt.Sprintf("%s() takes keyword arguments only (%s); %s", fn, strings.Join(allowed, ", "), modForms))
		}
		k := b.X.(*syntax.Ident).Name
		if !contains(allowed, k) {
			return nil, errAt(b.X, fmt.Sprintf("%s() has no argument %q; accepted: %s", fn, k, strings.Join(allowed, ", ")))
		}
		lit, ok := b.Y.(*syntax.Literal)
		if !ok || lit.Token != syntax.STRING {
			return nil, errAt(b.Y, fmt.Sprintf("%s = ... must be a string literal", k))
		}
		if _, dup := kw[k]; dup {
			return nil, errAt(b.X, fmt.Sprintf("%s is given twice", k))
		}
		kw[k] = lit
	}
	return kw, nil
}

func (mf *ModFile) setModule(call *syntax.CallExpr, kw map[string]*syntax.Literal) error {
	if mf.Name != "" {
		return errAt(call.Fn, "module(...) is called twice; call it once, first")
	}
	n, ok := kw["name"]
	if !ok {
		return errAt(call.Fn, `module() needs name = "..."; `+modForms)
	}
	if v := n.Value.(string); !nameRE.MatchString(v) || v == "stdlib" {
		return errAt(n, fmt.Sprintf("bad module name %q: want lower-case letters, digits and _, starting with a letter (and not \"stdlib\")", v))
	}
	mf.Name = n.Value.(string)
	return nil
}

func requirement(call *syntax.CallExpr, kw map[string]*syntax.Literal, pos string) (Requirement, error) {
	r := Requirement{Pos: pos}
	for _, k := range []string{"name", "git"} {
		if kw[k] == nil {
			return r, errAt(call.Fn, fmt.Sprintf("require() needs %s = \"...\"; %s", k, modForms))
		}
	}
	r.Name, r.Git = kw["name"].Value.(string), kw["git"].Value.(string)
	if !nameRE.MatchString(r.Name) || r.Name == "stdlib" {
		return r, errAt(kw["name"], fmt.Sprintf("bad module name %q: want lower-case letters, digits and _, starting with a letter (and not \"stdlib\")", r.Name))
	}
	if err := checkGitURL(r.Git); err != nil {
		return r, errAt(kw["git"], err.Error())
	}
	v, c := kw["version"], kw["commit"]
	switch {
	case (v == nil) == (c == nil):
		return r, errAt(call.Fn, "require() needs exactly one of version = \"v1.2.0\" (a semver tag) or commit = \"<40-hex sha>\"")
	case v != nil:
		r.Version = v.Value.(string)
		if _, ok := parseSemver(r.Version); !ok {
			return r, errAt(v, fmt.Sprintf("version %q is not a semver tag; accepted: v1.2.0, v1.2.0-rc.1", r.Version))
		}
	default:
		r.Commit = c.Value.(string)
		if !commitRE.MatchString(r.Commit) {
			return r, errAt(c, fmt.Sprintf("commit %q is not a full commit hash; accepted: 40 lower-case hex digits", r.Commit))
		}
	}
	return r, nil
}

func errAt(n syntax.Node, msg string) error {
	start, _ := n.Span()
	return &ModFileError{posString(start) + ": " + msg}
}

func posString(p syntax.Position) string {
	return fmt.Sprintf("%s:%d:%d", p.Filename(), p.Line, p.Col)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
