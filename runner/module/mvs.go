package module

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Minimal version selection, as the go command does it for Go modules:
//
//  1. Start from the main module's requirements. For every module
//     version reached, read its labrun.mod at that commit and follow its
//     requirements too, for every version reached (also versions that
//     will not be chosen, so the result does not depend on order).
//  2. For each module name, choose the highest version any reached
//     module requires (semver precedence). That is the minimal version
//     that satisfies everyone: nothing newer than someone asked for is
//     taken, and a new release upstream changes nothing until a labrun.mod
//     asks for it.
//  3. A module required by commit must be required by that same commit
//     everywhere: a commit has no order with versions or other commits, so
//     a commit pin beside any other requirement of the module is refused,
//     naming both requirers. The same goes for two different git URLs.
//  4. Requirements of the main module's own name are ignored: the main
//     module is the working tree.
//  5. The build list is what the chosen versions require, followed from
//     the main module: a module that only a version not chosen required
//     is left out.

// Graph is the outcome of resolution: every requirement seen and the
// version chosen for each module.
type Graph struct {
	Main  *ModFile
	Edges []Edge             // in the order found
	Nodes map[string]*node   // "name@pin" -> module version reached
	Sel   map[string]*node   // name -> the chosen version
	By    map[string][]Edge  // name -> the requirements of it
	Sums  map[string]TreeSum // name -> hashes of the chosen tree
	Trees map[string]string  // name -> the chosen tree's folder in the cache
	local map[string]string  // absolute path -> relative path as the main labrun.mod writes it
}

// Edge is one requirement: From ("lab_a" or "b@v1.0.0") requires Req.
type Edge struct {
	From string
	Req  Requirement
}

type node struct {
	req    Requirement
	commit string
	mod    *ModFile // nil: the module has no labrun.mod
}

func (n *node) key() string { return n.req.Name + "@" + n.req.Pin() }

// Resolve runs minimal version selection from the main module's
// labrun.mod at root, fetching (or, offline, reading the cache) as
// needed, and exports the chosen trees into the cache.
func Resolve(root string, c *Cache) (*Graph, error) {
	mf, err := ReadModFile(filepath.Join(root, ModFileName))
	if err != nil {
		return nil, err
	}
	g := &Graph{Main: mf, Nodes: map[string]*node{}, Sel: map[string]*node{}, By: map[string][]Edge{},
		Sums: map[string]TreeSum{}, Trees: map[string]string{}, local: map[string]string{}}
	var queue []Edge
	for _, r := range mf.Requires {
		if isLocalPath(r.Git) && !filepath.IsAbs(r.Git) {
			abs := filepath.Join(root, r.Git)
			g.local[abs], r.Git = r.Git, abs
		}
		queue = append(queue, Edge{mf.Name, r})
	}
	var missing []string
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if e.Req.Name == mf.Name {
			continue
		}
		g.Edges = append(g.Edges, e)
		g.By[e.Req.Name] = append(g.By[e.Req.Name], e)
		key := e.Req.Name + "@" + e.Req.Pin()
		if g.Nodes[key] != nil {
			continue
		}
		n, err := g.visit(e.Req, c)
		if me, ok := err.(*MissingError); ok {
			missing = append(missing, me.Missing...)
			continue
		}
		if err != nil {
			return nil, err
		}
		g.Nodes[key] = n
		if n.mod != nil {
			for _, r := range n.mod.Requires {
				queue = append(queue, Edge{key, r})
			}
		}
	}
	if len(missing) > 0 {
		return nil, &MissingError{dedup(missing)}
	}
	if err := g.choose(); err != nil {
		return nil, err
	}
	g.prune()
	return g, g.export(c)
}

// visit fetches one module version and reads its labrun.mod.
func (g *Graph) visit(r Requirement, c *Cache) (*node, error) {
	commit, err := c.commitOf(r)
	if err != nil {
		return nil, err
	}
	n := &node{req: r, commit: commit}
	data, err := c.modFileAt(r.Git, commit)
	if err != nil || data == nil {
		return n, err
	}
	n.mod, err = ParseModFile(r.Name+"@"+r.Pin()+"/"+ModFileName, data)
	if err != nil {
		return nil, err
	}
	if n.mod.Name != r.Name {
		return nil, &ModFileError{fmt.Sprintf("%s: the module calls itself %q but is required as %q (at %s); a module has one name everywhere", n.mod.Path, n.mod.Name, r.Name, r.Pos)}
	}
	for _, dr := range n.mod.Requires {
		if isLocalPath(dr.Git) && !filepath.IsAbs(dr.Git) {
			return nil, &ModFileError{fmt.Sprintf("%s: require(name = %q) names the relative path %q; a module's dependencies need a URL or an absolute path", dr.Pos, dr.Name, dr.Git)}
		}
	}
	return n, nil
}

// choose applies the selection rules to every module name.
func (g *Graph) choose() error {
	names := make([]string, 0, len(g.By))
	for name := range g.By {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		edges := g.By[name]
		best := edges[0]
		for _, e := range edges[1:] {
			if e.Req.Git != best.Req.Git {
				return &ConflictError{fmt.Sprintf("module %s: %s requires it from %s, %s from %s; use one URL", name, best.From, best.Req.Git, e.From, e.Req.Git)}
			}
			if (e.Req.Commit != "" || best.Req.Commit != "") && e.Req.Pin() != best.Req.Pin() {
				return &ConflictError{fmt.Sprintf("module %s: %s requires %s, %s requires %s; a commit pin cannot be reconciled with another version or commit: make them agree", name, best.From, describe(best.Req), e.From, describe(e.Req))}
			}
			if e.Req.Commit == "" && compareSemver(e.Req.Version, best.Req.Version) > 0 {
				best = e
			}
		}
		g.Sel[name] = g.Nodes[name+"@"+best.Req.Pin()]
	}
	return nil
}

// prune keeps the chosen modules that the main module reaches through
// chosen versions only.
func (g *Graph) prune() {
	keep := map[string]bool{}
	var walk func(reqs []Requirement)
	walk = func(reqs []Requirement) {
		for _, r := range reqs {
			n := g.Sel[r.Name]
			if keep[r.Name] || n == nil {
				continue
			}
			keep[r.Name] = true
			if n.mod != nil {
				walk(n.mod.Requires)
			}
		}
	}
	walk(g.Main.Requires)
	for name := range g.Sel {
		if !keep[name] {
			delete(g.Sel, name)
		}
	}
}

func describe(r Requirement) string {
	if r.Commit != "" {
		return "commit " + r.Commit
	}
	return "version " + r.Version
}

// ConflictError is a requirement that minimal version selection cannot
// reconcile. The command line exits 3 for it: a labrun.mod must change.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// export puts every chosen tree into the cache and hashes it.
func (g *Graph) export(c *Cache) error {
	for name, n := range g.Sel {
		dir, ts, err := c.export(name, n.req.Git, n.commit)
		if err != nil {
			return err
		}
		g.Sums[name], g.Trees[name] = ts, dir
	}
	return nil
}

// Lock is the lock file of the resolved graph.
func (g *Graph) Lock() *Lock {
	l := &Lock{LockVersion: LockVersion, Module: g.Main.Name, Requires: stripPos(g.Main.Requires), Modules: []LockedModule{}}
	for name, n := range g.Sel {
		git := n.req.Git
		if rel, ok := g.local[git]; ok {
			git = rel // the lock stays valid wherever the repositories are checked out side by side
		}
		m := LockedModule{Name: name, Git: git, Commit: n.commit, Hash: g.Sums[name].Hash, Pinned: n.req.Commit != ""}
		if !m.Pinned {
			m.Version = n.req.Version
		}
		if n.mod != nil {
			m.Requires = stripPos(n.mod.Requires)
		}
		for _, e := range g.By[name] {
			m.RequiredBy = append(m.RequiredBy, e.From+" requires "+e.Req.Pin())
		}
		l.Modules = append(l.Modules, m)
	}
	sort.Slice(l.Modules, func(i, j int) bool { return l.Modules[i].Name < l.Modules[j].Name })
	return l
}

// Explain is the graph for people: every requirement, then the version
// chosen for each module and why.
func (g *Graph) Explain() string {
	var b strings.Builder
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "%s %s@%s\n", e.From, e.Req.Name, e.Req.Pin())
	}
	b.WriteString("\nchosen:\n")
	l := g.Lock()
	for _, m := range l.Modules {
		fmt.Fprintf(&b, "  %s %s (commit %.12s, %s)\n", m.Name, m.Pin(), m.Commit, m.Hash[:15])
		why := "the only requirement"
		if len(m.RequiredBy) > 1 && !m.Pinned {
			why = "the highest of the versions required"
		} else if len(m.RequiredBy) > 1 {
			why = "the same commit everywhere"
		}
		fmt.Fprintf(&b, "    %s: %s\n", why, strings.Join(m.RequiredBy, ", "))
	}
	return b.String()
}

func stripPos(rs []Requirement) []Requirement {
	out := []Requirement{}
	for _, r := range rs {
		r.Pos = ""
		out = append(out, r)
	}
	return out
}

func dedup(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
