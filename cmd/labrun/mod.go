package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/labrun/labrun/runner/module"
)

// Exit codes of labrun mod (docs/cli.md): the same classes as the other
// commands, with labrun.mod in the place of the script.
const (
	modExitFailed  = 1 // a fetch failed, the cache lacks something offline, or content changed
	modExitUsage   = 2 // bad command line
	modExitModFile = 3 // labrun.mod is wrong (file:line:col), or its requirements conflict
)

var modCommands = []struct {
	name, summary string
	run           func(e *env, root string, c *module.Cache) int
}{
	{"tidy", "resolve labrun.mod with minimal version selection and write labrun.lock", modTidy},
	{"download", "put every module labrun.lock pins into the module cache", modDownload},
	{"verify", "check the cache and, online, the upstream tags against labrun.lock", modVerify},
	{"graph", "show what requires what, and which version was chosen and why", modGraph},
}

// cmdMod runs labrun mod SUBCOMMAND [--offline] in the module whose root
// is at or above the working folder.
func cmdMod(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, "usage: labrun mod tidy|download|verify|graph [--offline]")
		for _, c := range modCommands {
			fmt.Fprintf(e.stderr, "  %-9s %s\n", c.name, c.summary)
		}
		return modExitUsage
	}
	for _, sub := range modCommands {
		if sub.name != args[0] {
			continue
		}
		fs := newFlags(e, "mod "+sub.name, "[--offline]")
		offline := fs.Bool("offline", false, "use the module cache only; fetch nothing (also LABRUN_OFFLINE=1)")
		if err := fs.Parse(args[1:]); err != nil {
			return modExitUsage
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(e.stderr, "labrun mod %s: unexpected argument %q; it works on the module at or above the working folder\n", sub.name, fs.Arg(0))
			return modExitUsage
		}
		dir, err := module.CacheDirFromEnv()
		if err != nil {
			fmt.Fprintf(e.stderr, "labrun mod %s: %v\n", sub.name, err)
			return modExitFailed
		}
		root, err := modRoot()
		if err != nil {
			fmt.Fprintf(e.stderr, "labrun mod %s: %v\n", sub.name, err)
			return modExitUsage
		}
		return sub.run(e, root, module.NewCache(dir, *offline || module.OfflineFromEnv()))
	}
	fmt.Fprintf(e.stderr, "labrun mod: unknown subcommand %q; accepted: tidy, download, verify, graph\n", args[0])
	return modExitUsage
}

// modRoot is the nearest folder at or above the working folder holding
// labrun.mod, .labrun or .git; it must hold labrun.mod.
func modRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		for _, m := range []string{module.ModFileName, ".labrun", ".git"} {
			if _, err := os.Stat(filepath.Join(d, m)); err == nil {
				if m != module.ModFileName {
					if _, err := os.Stat(filepath.Join(d, module.ModFileName)); err != nil {
						return "", fmt.Errorf("no %s in the repository root %s; start one with module(name = \"...\") (docs/repos.md)", module.ModFileName, d)
					}
				}
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no %s at or above %s (docs/repos.md)", module.ModFileName, wd)
		}
	}
}

// modFailure prints an error and returns its exit code.
func modFailure(e *env, sub string, err error) int {
	fmt.Fprintf(e.stderr, "labrun mod %s: %v\n", sub, err)
	var mfe *module.ModFileError
	var ce *module.ConflictError
	if errors.As(err, &mfe) || errors.As(err, &ce) {
		return modExitModFile
	}
	return modExitFailed
}

func modTidy(e *env, root string, c *module.Cache) int {
	g, err := module.Resolve(root, c)
	if err != nil {
		return modFailure(e, "tidy", err)
	}
	l := g.Lock()
	if err := l.Write(root); err != nil {
		return modFailure(e, "tidy", err)
	}
	fmt.Fprintf(e.stdout, "%s: %d module(s)\n", filepath.Join(root, module.LockFileName), len(l.Modules))
	for _, m := range l.Modules {
		fmt.Fprintf(e.stdout, "  %s %s  commit %.12s  %s\n", m.Name, m.Pin(), m.Commit, m.Hash)
	}
	return 0
}

func modDownload(e *env, root string, c *module.Cache) int {
	l, err := module.Download(root, c)
	if err != nil {
		return modFailure(e, "download", err)
	}
	for _, m := range l.Modules {
		fmt.Fprintf(e.stdout, "%s %s  %s\n", m.Name, m.Pin(), c.TreeDir(m.Commit, m.Hash))
	}
	return 0
}

func modVerify(e *env, root string, c *module.Cache) int {
	if err := module.VerifyAll(root, c); err != nil {
		return modFailure(e, "verify", err)
	}
	how := "the cache and the upstream tags match"
	if c.Offline {
		how = "the cache matches (offline: upstream tags not checked)"
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", filepath.Join(root, module.LockFileName), how)
	return 0
}

func modGraph(e *env, root string, c *module.Cache) int {
	g, err := module.Resolve(root, c)
	if err != nil {
		return modFailure(e, "graph", err)
	}
	fmt.Fprint(e.stdout, g.Explain())
	return 0
}
