package module

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Location is a file a script names: the module it belongs to, the
// module's root folder and the file's absolute path below it.
type Location struct {
	Module string // module name; the main module's name ("" without a labrun.mod)
	Root   string // the module's root: the repository, or its tree in the cache
	Path   string // absolute path of the file
	Dep    bool   // the file is in a dependency (from the cache), not the main module
}

// Rel is the file's slash-separated path below its module's root.
func (l Location) Rel() string {
	r, _ := filepath.Rel(l.Root, l.Path)
	return filepath.ToSlash(r)
}

// Label is how the file is shown: @name//path for a dependency's file,
// the absolute path for the main module's (the host shortens it).
func (l Location) Label() string {
	if l.Dep {
		return "@" + l.Module + "//" + l.Rel()
	}
	return l.Path
}

// Resolver maps the labels of load() and of data files to files, keeping
// each module's loads inside its own tree and its declared dependencies,
// and checks every dependency file read against labrun.lock.
type Resolver struct {
	root    string
	mod     *ModFile // nil: no labrun.mod
	lock    *Lock
	cache   *Cache
	trees   map[string]string  // dependency name -> tree folder
	sums    map[string]TreeSum // dependency name -> hashes, once verified
	depsOf  map[string][]string
	openErr error
}

// Open makes the resolver of the main module at root (the folder that
// holds labrun.mod, .labrun or .git). Without a labrun.mod there are no
// dependencies and @name// labels are refused. With one, labrun.lock
// must exist and match it, and every locked module must be in the cache
// (online, a missing one is downloaded; offline it is a MissingError
// listing all that are missing).
func Open(root string, c *Cache) (*Resolver, error) {
	r := &Resolver{root: root, cache: c, trees: map[string]string{}, sums: map[string]TreeSum{}, depsOf: map[string][]string{}}
	mf, err := ReadModFile(filepath.Join(root, ModFileName))
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	r.mod = mf
	for _, q := range mf.Requires {
		r.depsOf[mf.Name] = append(r.depsOf[mf.Name], q.Name)
	}
	if r.lock, err = ReadLock(root); errors.Is(err, os.ErrNotExist) && len(mf.Requires) == 0 {
		r.lock = &Lock{LockVersion: LockVersion, Module: mf.Name, Requires: []Requirement{}, Modules: []LockedModule{}}
	} else if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s beside it: run labrun mod tidy to resolve and pin the modules it requires", mf.Path, LockFileName)
	} else if err != nil {
		return nil, err
	}
	if s := r.lock.Stale(mf); s != "" {
		return nil, fmt.Errorf("%s is out of date: %s; run labrun mod tidy", filepath.Join(root, LockFileName), s)
	}
	var missing []string
	for _, m := range r.lock.resolved(root).Modules {
		for _, q := range m.Requires {
			r.depsOf[m.Name] = append(r.depsOf[m.Name], q.Name)
		}
		dir := c.TreeDir(m.Commit, m.Hash)
		if _, err := os.Stat(dir); err != nil {
			if dir, _, err = c.Ensure(m, false); err != nil {
				var me *MissingError
				if errors.As(err, &me) {
					missing = append(missing, me.Missing...)
					continue
				}
				return nil, err
			}
		}
		r.trees[m.Name] = dir
	}
	if len(missing) > 0 {
		return nil, &MissingError{missing}
	}
	return r, nil
}

// Lock is the lock the resolver checks against (nil without a
// labrun.mod), to be recorded in the manifest.
func (r *Resolver) Lock() *Lock { return r.lock }

// Main is the location of a file of the main module, such as the script
// given on the command line.
func (r *Resolver) Main(file string) (Location, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return Location{}, err
	}
	loc := Location{Root: r.root, Path: abs}
	if r.mod != nil {
		loc.Module = r.mod.Name
	}
	if rel := loc.Rel(); rel == ".." || strings.HasPrefix(rel, "../") {
		return Location{}, fmt.Errorf("%s is outside the repository root %s", file, r.root)
	}
	return loc, nil
}

const labelForms = `accepted: "lib.star" or "data/x.txt" (relative to this file), "//dir/lib.star" (from this module's root), "@name//dir/lib.star" (a module this module requires in labrun.mod)`

// Resolve maps a label seen from a file to the file it names. Relative
// labels and //path stay inside from's module; @name//path must name
// from's module itself or a module its labrun.mod requires (for a
// dependency, as recorded in labrun.lock), and stays inside that
// module's tree. @stdlib// is not handled here: the host serves it.
func (r *Resolver) Resolve(from Location, label string) (Location, error) {
	switch {
	case strings.HasPrefix(label, "@"):
		name, rel, ok := strings.Cut(label[1:], "//")
		if !ok || name == "" {
			return Location{}, fmt.Errorf("bad label %q: want @name//path; %s", label, labelForms)
		}
		root, dep, err := r.moduleRoot(from, name, label)
		if err != nil {
			return Location{}, err
		}
		return r.inside(label, Location{Module: name, Root: root, Dep: dep}, rel)
	case strings.HasPrefix(label, "//"):
		return r.inside(label, from, label[2:])
	case strings.HasPrefix(label, "/"):
		return Location{}, fmt.Errorf("absolute path %q is not allowed; %s", label, labelForms)
	}
	dir := path.Dir(from.Rel())
	return r.inside(label, from, path.Join(dir, label))
}

// moduleRoot is the root of module name as seen from a file of from.
func (r *Resolver) moduleRoot(from Location, name, label string) (string, bool, error) {
	if name == from.Module && from.Module != "" {
		return from.Root, from.Dep, nil
	}
	if r.mod == nil {
		return "", false, fmt.Errorf("%s: unknown module %q: there is no %s at %s to require it; %s", label, name, ModFileName, r.root, labelForms)
	}
	if !contains(r.depsOf[from.Module], name) {
		declared := "none"
		if d := r.depsOf[from.Module]; len(d) > 0 {
			declared = strings.Join(d, ", ")
		}
		return "", false, fmt.Errorf("%s: module %s does not require module %q in its labrun.mod (it requires: %s); a module loads only its own files and the modules it requires", label, from.Module, name, declared)
	}
	if name == r.mod.Name { // a dependency requiring the main module gets the working tree
		return r.root, false, nil
	}
	if r.trees[name] == "" {
		return "", false, fmt.Errorf("%s: module %q is not in %s: run labrun mod tidy", label, name, LockFileName)
	}
	return r.trees[name], true, nil
}

// inside joins rel below loc's root, refusing a path that leaves it, also
// through a symbolic link.
func (r *Resolver) inside(label string, loc Location, rel string) (Location, error) {
	clean := path.Clean(rel)
	if rel == "" || clean == "." {
		return Location{}, fmt.Errorf("label %q names no file; %s", label, labelForms)
	}
	if clean == ".." || strings.HasPrefix(clean, "../") || strings.HasPrefix(clean, "/") {
		return Location{}, fmt.Errorf("%q leads outside module %s (root %s); %s", label, loc.Module, loc.Root, labelForms)
	}
	loc.Path = filepath.Join(loc.Root, filepath.FromSlash(clean))
	if real, err := filepath.EvalSymlinks(loc.Path); err == nil {
		realRoot, _ := filepath.EvalSymlinks(loc.Root)
		if rr, err := filepath.Rel(realRoot, real); err != nil || rr == ".." || strings.HasPrefix(rr, "../") {
			return Location{}, fmt.Errorf("%q leads outside module %s (root %s) through a symbolic link", label, loc.Module, loc.Root)
		}
	}
	return loc, nil
}

// Verify checks the content read from a dependency's file against
// labrun.lock: the module's whole tree is hashed once and compared with
// the lock's hash, and each file's content with its hash in that tree.
// Files of the main module are not checked (they are the working tree).
func (r *Resolver) Verify(loc Location, data []byte) error {
	if !loc.Dep {
		return nil
	}
	m, _ := r.lock.Find(loc.Module)
	ts, ok := r.sums[loc.Module]
	if !ok {
		var err error
		if ts, err = HashTree(r.trees[loc.Module]); err != nil {
			return fmt.Errorf("module %s: %v", loc.Module, err)
		}
		if ts.Hash != m.Hash {
			return &HashMismatchError{m.Name, "the cached tree " + r.trees[loc.Module], m.Hash, ts.Hash}
		}
		r.sums[loc.Module] = ts
	}
	want, ok := ts.Files[loc.Rel()]
	if !ok {
		return fmt.Errorf("%s: no such file in module %s %s", loc.Label(), m.Name, m.Pin())
	}
	if got := fileSum(data); got != want {
		return &HashMismatchError{m.Name, "file " + loc.Label() + " (sha256)", want, got}
	}
	return nil
}

// ReadFile reads a file, which must be a regular file (a FIFO put in its
// place is not waited on), and verifies it (see Verify).
func (r *Resolver) ReadFile(loc Location) ([]byte, error) {
	f, err := os.OpenFile(loc.Path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc.Label(), err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file; name a plain file", loc.Label())
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc.Label(), err)
	}
	return data, r.Verify(loc, data)
}

// CheckUpstream checks, online, that the tag a dependency was locked by
// still names the locked content upstream (a *HashMismatchError with
// both hashes when it moved to other content). Offline, and for a module
// pinned by commit, it does nothing.
func (r *Resolver) CheckUpstream(name string) error {
	if r.lock == nil || r.cache.Offline {
		return nil
	}
	m, ok := r.lock.resolved(r.root).Find(name)
	if !ok || m.Pinned {
		return nil
	}
	return r.cache.checkTag(m)
}
