package script

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/stdlib"
)

// DefaultMaxSteps bounds a script's evaluation (per file), so an endless
// loop ends with an error instead of hanging.
const DefaultMaxSteps = 10_000_000

// Options configure an evaluation.
type Options struct {
	// Overrides are the --set name=value pairs.
	Overrides map[string]string
	// MaxSteps bounds evaluation; 0 means DefaultMaxSteps.
	MaxSteps uint64
	// MaxMemory bounds the heap (bytes) evaluation may grow by; 0 means
	// DefaultMaxMemory.
	MaxMemory int64
	// MaxEvalTime bounds evaluation's wall time; 0 means DefaultMaxEvalTime.
	MaxEvalTime time.Duration
	// Print receives the script's print() output; nil discards it.
	Print io.Writer
	// Stdlib is the embedded standard library; nil means stdlib.FS.
	Stdlib fs.FS
	// CPUs (--cpu) pins the sending thread(s) of every run, overriding
	// kernel.settings(cpu = ...) and a sender's cpus.
	CPUs []int
	// AllowSysctls (--allow-sysctl) are the dangerous sysctls the
	// command line allows; the plan's actions say so.
	AllowSysctls []string
	// ModuleCache is the module cache folder; "" means
	// module.CacheDirFromEnv(). Offline (--offline, or LABRUN_OFFLINE=1)
	// fetches nothing. Both matter only in a repository with a labrun.mod.
	ModuleCache string
	Offline     bool
	// CheckUpstream (labrun run, online) also checks that the tag each
	// loaded module was locked by still names the locked content.
	CheckUpstream bool
	// BaseDir is the folder the names of the main repository's files are
	// shown relative to (in errors, sources and data file paths); ""
	// means the working folder. A rerun of an archive sets it to where
	// the original ran, so that the runs get the same IDs.
	BaseDir string
	// MaxRuns (--max-runs) bounds the plan's runs; 0 means plan.MaxRuns.
	MaxRuns int
	// ScriptOnly stops Evaluate once the script has run and its --set
	// values are checked, before the sweep is expanded into runs (Go
	// code bounded by MaxRuns); it then returns a nil plan. labrun's
	// watched child evaluates so, and labrun itself builds the plan.
	ScriptOnly bool
}

// Host evaluates one experiment script. It is used once. It holds the
// options, the --set values and the guard on the evaluation; what was
// read is its loader's, what the script declared its decls'.
type Host struct {
	opts      Options
	overrides map[string]string
	used      map[string]bool  // --set names that named a parameter or axis
	setErr    *plan.UsageError // a bad --set value, reported as a command-line error
	guard     *guard           // nil: unbounded but for the step limit (tests)
	loader
	decls
}

// loader is what an evaluation read: the files and modules of its loads,
// with their sources for the manifest.
type loader struct {
	root      string            // repository root: load() stays inside it
	files     map[string]string // display name -> absolute path or @stdlib key
	modules   map[string]*module
	sources   []plan.Source
	loadStack []string
	loadedAt  map[string]string // module display name -> position of its first load()
	base      string            // names below it are shown relative to it
	mods
}

// decls is what the script declared: parameters, sweep axes in zip
// groups, the experiment, and the dangerous sysctls it sets.
type decls struct {
	params     map[string]*Param
	paramOrder []*Param
	axes       map[string]*Axis
	axisOrder  []*Axis
	groups     [][]*Axis
	exp        *experimentDecl
	dangerous  []plan.SysctlUse // see Plan.CheckSysctls
}

type module struct {
	globals starlark.StringDict
	err     error
	loading bool
}

func newHost(opts Options) *Host {
	opts = withDefaults(opts)
	ov := opts.Overrides
	if ov == nil {
		ov = map[string]string{}
	}
	return &Host{opts: opts, overrides: ov, used: map[string]bool{},
		loader: loader{files: map[string]string{}, modules: map[string]*module{}, loadedAt: map[string]string{},
			mods: mods{locs: map[string]modLocation{}, roots: map[string]string{}, upstream: map[string]bool{}}},
		decls: decls{params: map[string]*Param{}, axes: map[string]*Axis{}}}
}

// withDefaults fills in the options left zero.
func withDefaults(opts Options) Options {
	if opts.MaxSteps == 0 {
		opts.MaxSteps = DefaultMaxSteps
	}
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	if opts.MaxEvalTime <= 0 {
		opts.MaxEvalTime = DefaultMaxEvalTime
	}
	if opts.Stdlib == nil {
		opts.Stdlib = stdlib.FS
	}
	if opts.Print == nil {
		opts.Print = io.Discard
	}
	return opts
}

// Evaluate runs the script at file and returns its plan. Errors name
// file:line:col and carry no Go stack. Evaluation is bounded in steps,
// memory and wall time (Options); past a cap it ends with a ScriptError.
func Evaluate(file string, opts Options) (*plan.Plan, error) {
	h := newHost(opts)
	h.guard = newGuard(file, h.opts)
	return h.guard.run(func() (*plan.Plan, error) { return h.evaluate(file) })
}

func (h *Host) evaluate(file string) (*plan.Plan, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	data, err := readRegular(abs, "")
	if err != nil {
		// The command line names a file that is not there: exit 2.
		return nil, &plan.UsageError{Msg: fmt.Sprintf("%s: %v", file, err)}
	}
	h.root = findRoot(filepath.Dir(abs))
	h.base = h.opts.BaseDir
	if h.base == "" {
		h.base, _ = os.Getwd()
	}
	h.files[file] = abs
	if err := h.openModules(file, abs); err != nil {
		return nil, err
	}
	h.addSource(file, abs, data)
	thread := h.newThread(file)
	if _, err := starlark.ExecFileOptions(fileOptions, thread, file, data, h.predeclared()); err != nil {
		if h.setErr != nil {
			return nil, h.setErr
		}
		return nil, h.scriptError(err)
	}
	if h.exp == nil {
		return nil, &plan.ScriptError{Msg: file + ":1:1: the script declares no experiment(...)"}
	}
	if err := h.checkOverrides(); err != nil {
		return nil, err
	}
	if h.opts.ScriptOnly {
		return nil, nil
	}
	p, err := h.plan()
	if err != nil {
		return nil, h.withLoadChain(err)
	}
	p.Script = file
	p.Sources = h.sources
	if h.res != nil {
		p.Modules = h.res.Lock()
	}
	for _, prm := range h.paramOrder {
		p.Params = append(p.Params, plan.ParamValue{Name: prm.Name, Type: prm.Type, Value: label(prm.Value), Default: label(prm.Default), Set: prm.Set, Doc: prm.Doc})
	}
	return p, nil
}

var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// findRoot returns the nearest folder at or above dir holding a
// labrun.mod, a .labrun marker or .git; dir itself if there is none.
func findRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		for _, m := range []string{"labrun.mod", ".labrun", ".git"} {
			if _, err := os.Stat(filepath.Join(d, m)); err == nil {
				return d
			}
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func (h *loader) addSource(name, path string, data []byte) {
	sum := sha256.Sum256(data)
	h.sources = append(h.sources, plan.Source{Name: name, Path: path, SHA256: hex.EncodeToString(sum[:])})
}

func (h *Host) newThread(name string) *starlark.Thread {
	t := &starlark.Thread{Name: name, Load: h.load}
	t.Print = func(thread *starlark.Thread, msg string) {
		fmt.Fprintf(h.opts.Print, "%s: %s\n", callerPos(thread), plan.Printable(msg))
	}
	if h.guard != nil {
		h.guard.watch(t)
	}
	t.SetMaxExecutionSteps(h.opts.MaxSteps)
	t.OnMaxSteps = func(thread *starlark.Thread) {
		thread.Cancel(fmt.Sprintf("the script ran for more than %d steps (an endless loop?); raise the limit with --max-steps", h.opts.MaxSteps))
	}
	return t
}

func (h *Host) predeclared() starlark.StringDict {
	d := h.builtins()
	for name, v := range d {
		if m, ok := v.(*starlarkstruct.Module); ok {
			d[name] = domain{m}
		}
	}
	return d
}

func (h *Host) builtins() starlark.StringDict {
	return starlark.StringDict{
		"param":      starlark.NewBuiltin("param", h.param),
		"experiment": starlark.NewBuiltin("experiment", h.experiment),
		"table":      starlark.NewBuiltin("table", h.table),
		"expect":     starlark.NewBuiltin("expect", h.expect),
		"reference":  starlark.NewBuiltin("reference", h.reference),
		"struct":     starlark.NewBuiltin("struct", starlarkstruct.Make),
		"sweep":      h.sweepModule(),
		"trace":      h.traceModule(),
		"timer":      h.timerModule(),
		"sink":       h.sinkModule(),
		"kernel":     h.kernelModule(),
		"topology":   h.topologyModule(),
		"receiver":   h.receiverModule(),
		"sender":     h.senderModule(),
		"figure":     h.figureModule(),
		"link":       h.linkModule(),
		"delay":      h.delayModule(),
		"loss":       h.lossModule(),
		"tcp":        h.tcpModule(),
		"background": h.backgroundModule(),
		"host":       h.hostBuiltin(),
	}
}

const stdlibPrefix = "@stdlib//"

// load implements load(): paths relative to the loading file, //path from
// the repository root, and @stdlib//name.star. Nothing else.
func (h *Host) load(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	from := thread.CallFrame(0).Pos.Filename()
	key, display, err := h.resolveLoad(from, name)
	if err != nil {
		return nil, err
	}
	if m, ok := h.modules[key]; ok {
		if m.loading {
			return nil, fmt.Errorf("cycle in load graph: %s -> %s", strings.Join(h.loadStack, " -> "), display)
		}
		return m.globals, m.err
	}
	var data []byte
	if strings.HasPrefix(key, stdlibPrefix) {
		data, err = fs.ReadFile(h.opts.Stdlib, strings.TrimPrefix(key, stdlibPrefix))
		if err != nil {
			names, _ := fs.Glob(h.opts.Stdlib, "*.star")
			return nil, fmt.Errorf("no module %s in the standard library%s; available: %s", name, plan.DidYouMean(strings.TrimPrefix(key, stdlibPrefix), names), plan.QuoteList(names))
		}
	} else if data, err = h.readLoaded(key, display); err != nil {
		return nil, fmt.Errorf("%s: %w", display, err)
	}
	h.files[display] = key
	h.loadedAt[display] = thread.CallFrame(0).Pos.String()
	h.addSource(display, key, data)
	m := &module{loading: true}
	h.modules[key] = m
	h.loadStack = append(h.loadStack, display)
	m.globals, m.err = starlark.ExecFileOptions(fileOptions, h.newThread(display), display, data, h.predeclared())
	h.loadStack = h.loadStack[:len(h.loadStack)-1]
	m.loading = false
	return m.globals, m.err
}

// resolveLoad maps a load() argument, seen from file `from`, to a key
// (absolute path, or @stdlib//name) and a display name.
func (h *loader) resolveLoad(from, name string) (key, display string, err error) {
	const accepted = "accepted: \"lib.star\" (relative to this file), \"//dir/lib.star\" (from the repository root), \"@stdlib//name.star\""
	if !strings.HasSuffix(name, ".star") {
		return "", "", fmt.Errorf("load path %q must name a .star file; %s", name, accepted)
	}
	fromKey := h.files[from]
	switch {
	case strings.HasPrefix(name, stdlibPrefix):
		rel := strings.TrimPrefix(name, stdlibPrefix)
		if strings.Contains(rel, "..") || strings.HasPrefix(rel, "/") || path.Clean(rel) != rel {
			return "", "", fmt.Errorf("bad standard library path %q; %s", name, accepted)
		}
		return name, name, nil
	case h.res != nil && !strings.HasPrefix(fromKey, stdlibPrefix):
		return h.resolveModule(from, name)
	case strings.HasPrefix(name, "@"):
		return "", "", fmt.Errorf("unknown repository %q: only @stdlib// is built in; %s", name, accepted)
	case strings.HasPrefix(name, "//"):
		return h.inRoot(name, strings.TrimPrefix(name, "//"), h.root)
	case strings.HasPrefix(name, "/"):
		return "", "", fmt.Errorf("absolute load path %q is not allowed; %s", name, accepted)
	}
	if strings.HasPrefix(fromKey, stdlibPrefix) {
		rel := path.Join(path.Dir(strings.TrimPrefix(fromKey, stdlibPrefix)), name)
		if strings.HasPrefix(rel, "..") {
			return "", "", fmt.Errorf("load path %q escapes the standard library", name)
		}
		return stdlibPrefix + rel, stdlibPrefix + rel, nil
	}
	return h.relToFile(from, name)
}

// relToFile resolves name relative to the folder of script file from,
// inside the repository root.
func (h *loader) relToFile(from, name string) (string, string, error) {
	relDir, err := filepath.Rel(h.root, filepath.Dir(h.files[from]))
	if err != nil {
		return "", "", err
	}
	return h.inRoot(name, path.Join(filepath.ToSlash(relDir), name), h.root)
}

// inRoot resolves rel (slash-separated, relative to root) and refuses
// anything outside root, also through symbolic links.
func (h *loader) inRoot(name, rel, root string) (string, string, error) {
	clean := path.Clean(rel)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", "", fmt.Errorf("load path %q escapes the repository root %s", name, root)
	}
	p := filepath.Join(root, filepath.FromSlash(clean))
	if real, err := filepath.EvalSymlinks(p); err == nil {
		realRoot, _ := filepath.EvalSymlinks(root)
		if r, err := filepath.Rel(realRoot, real); err != nil || r == ".." || strings.HasPrefix(r, "../") {
			return "", "", fmt.Errorf("load path %q leads outside the repository root %s (through a symbolic link)", name, root)
		}
	}
	return p, h.displayPath(p), nil
}

// displayPath shows p relative to the base folder (the working folder)
// when it is below it.
func (h *loader) displayPath(p string) string {
	if h.base != "" {
		if r, err := filepath.Rel(h.base, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return p
}

// FindRoot is the repository root of a script in dir: the nearest folder
// at or above it holding labrun.mod, .labrun or .git.
func FindRoot(dir string) string { return findRoot(dir) }

// scriptError turns an evaluation error into "file:line:col: message"
// followed by a traceback: the calls that led to it ("called from", outer
// last) and the load() statements of every module on the way ("loaded
// from"), each with its file:line:col.
func (h *Host) scriptError(err error) error {
	type located struct {
		frames []string // script frames, innermost first
		msg    string
	}
	var chain []located
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch x := e.(type) {
		case *starlark.EvalError:
			chain = append(chain, located{scriptFrames(x.CallStack), x.Msg})
		case syntax.Error:
			chain = append(chain, located{[]string{x.Pos.String()}, x.Msg})
		case resolve.ErrorList:
			var msgs []string
			for _, r := range x {
				msgs = append(msgs, r.Pos.String()+": "+r.Msg)
			}
			chain = append(chain, located{nil, strings.Join(msgs, "\n")})
		}
	}
	if len(chain) == 0 {
		return err
	}
	inner := chain[len(chain)-1]
	msg := strings.TrimPrefix(inner.msg, "Starlark computation cancelled: ")
	var lines []string
	if len(inner.frames) > 0 {
		msg = inner.frames[0] + ": " + msg
		for _, f := range inner.frames[1:] {
			lines = append(lines, "  called from "+f)
		}
	}
	for i := len(chain) - 2; i >= 0; i-- {
		for j, f := range chain[i].frames {
			how := "  called from "
			if j == 0 {
				how = "  loaded from "
			}
			lines = append(lines, how+f)
		}
	}
	return &plan.ScriptError{Msg: strings.Join(append([]string{msg}, lines...), "\n")}
}

// withLoadChain adds the load() chain to an error found after evaluation
// at a position in a loaded module (a table declared in a library).
func (h *Host) withLoadChain(err error) error {
	se, ok := err.(*plan.ScriptError)
	if !ok {
		return err
	}
	file, _, _ := strings.Cut(se.Msg, ":")
	first, _, _ := strings.Cut(se.Msg, "\n")
	msg := first
	for seen := map[string]bool{}; h.loadedAt[file] != "" && !seen[file]; {
		seen[file] = true
		msg += "\n  loaded from " + h.loadedAt[file]
		file, _, _ = strings.Cut(h.loadedAt[file], ":")
	}
	if msg == first {
		return err
	}
	return &plan.ScriptError{Msg: msg + strings.TrimPrefix(se.Msg, first)}
}

// scriptFrames lists the positions of a call stack's script frames,
// innermost first (builtins are left out: the error names them).
func scriptFrames(stack starlark.CallStack) []string {
	var out []string
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].Pos.Filename() != "<builtin>" {
			out = append(out, stack[i].Pos.String())
		}
	}
	return out
}

// posError is an error found after evaluation, at a known script position.
func posError(pos syntax.Position, format string, args ...any) error {
	return &plan.ScriptError{Msg: pos.String() + ": " + fmt.Sprintf(format, args...)}
}
