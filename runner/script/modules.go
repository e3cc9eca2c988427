package script

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	labmod "github.com/labrun/labrun/runner/module"
	"github.com/labrun/labrun/runner/plan"
)

// modLocation is where a loaded file lives in the modules of labrun.mod.
type modLocation = labmod.Location

// mods is the loader's side of labrun.mod: with one at the repository
// root, every label but @stdlib// goes through the resolver, which keeps
// each module's loads inside its own tree and declared dependencies, and
// every file read from a dependency is verified against labrun.lock.
// Without one, res is nil and loads work as before.
type mods struct {
	res   *labmod.Resolver
	locs  map[string]modLocation // display name -> location
	roots map[string]string      // absolute path -> root of its module
	// upstream holds the modules whose tags were checked upstream.
	upstream map[string]bool
}

// openModules opens the resolver when the repository has a labrun.mod.
func (h *Host) openModules(file, abs string) error {
	if _, err := os.Stat(filepath.Join(h.root, labmod.ModFileName)); err != nil {
		return nil
	}
	dir := h.opts.ModuleCache
	if dir == "" {
		var err error
		if dir, err = labmod.CacheDirFromEnv(); err != nil {
			return &plan.ScriptError{Msg: err.Error()}
		}
	}
	res, err := labmod.Open(h.root, labmod.NewCache(dir, h.opts.Offline || labmod.OfflineFromEnv()))
	if err != nil {
		return &plan.ScriptError{Msg: modError(err)}
	}
	top, err := res.Main(abs)
	if err != nil {
		return &plan.ScriptError{Msg: err.Error()}
	}
	h.res = res
	h.locs[file] = top
	return nil
}

// modError is an error of labmod.Open as the user reads it.
func modError(err error) string {
	var me *labmod.MissingError
	if errors.As(err, &me) {
		return err.Error() + "\nrun labrun mod download while online, or without --offline and LABRUN_OFFLINE"
	}
	return err.Error()
}

// resolveModule maps a load() argument seen from file from through the
// resolver to a key (absolute path) and display name.
func (h *loader) resolveModule(from, name string) (string, string, error) {
	loc, err := h.resolveLabel(from, name)
	if err != nil {
		return "", "", err
	}
	display := h.display(loc)
	h.locs[display] = loc
	return loc.Path, display, nil
}

// resolveLabel resolves name from the module location of file from.
func (h *loader) resolveLabel(from, name string) (modLocation, error) {
	fromLoc, ok := h.locs[from]
	if !ok {
		return modLocation{}, fmt.Errorf("%s: no module location for %s", name, from)
	}
	loc, err := h.res.Resolve(fromLoc, name)
	if err != nil {
		return modLocation{}, err
	}
	h.roots[loc.Path] = loc.Root
	return loc, nil
}

// display is a location's name in errors and sources: @name//path for a
// dependency's file, the path as today for the main module's.
func (h *loader) display(loc modLocation) string {
	if loc.Dep {
		return loc.Label()
	}
	return h.displayPath(loc.Path)
}

// moduleData resolves a data file a script names and verifies it against
// labrun.lock when it comes from a dependency.
func (h *loader) moduleData(from, name string) (string, string, error) {
	if strings.HasPrefix(name, "/") {
		return "", "", fmt.Errorf("absolute path %q is not allowed; use a path relative to this file, //path from the module root or @name//path", name)
	}
	loc, err := h.resolveLabel(from, name)
	if err != nil {
		return "", "", err
	}
	if loc.Dep {
		if _, err := h.res.ReadFile(loc); err != nil {
			return "", "", err
		}
	}
	display := h.display(loc)
	h.locs[display] = loc
	return loc.Path, display, nil
}

// rootOf is the root a file must lie in: its module's, else the
// repository root.
func (h *loader) rootOf(key string) string {
	if r, ok := h.roots[key]; ok {
		return r
	}
	return h.root
}

// readLoaded reads a file load() names, inside its module's root, and
// verifies it against labrun.lock when it comes from a dependency.
func (h *Host) readLoaded(key, display string) ([]byte, error) {
	data, err := readRegular(key, h.rootOf(key))
	if err != nil {
		return nil, err
	}
	if loc, ok := h.locs[display]; ok && h.res != nil {
		if err := h.res.Verify(loc, data); err != nil {
			return nil, err
		}
		return data, h.checkUpstream(loc)
	}
	return data, nil
}

// checkUpstream checks, once per module and only when asked (labrun run
// online), that the tag of a dependency still names the locked content.
func (h *Host) checkUpstream(loc modLocation) error {
	if !loc.Dep || !h.opts.CheckUpstream || h.upstream[loc.Module] {
		return nil
	}
	h.upstream[loc.Module] = true
	return h.res.CheckUpstream(loc.Module)
}
