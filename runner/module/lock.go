package module

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// LockVersion is the format of labrun.lock this package writes.
const LockVersion = 1

// Lock is labrun.lock: the build list minimal version selection chose,
// each module pinned to a commit and a tree hash. It is also what a
// manifest records for a rerun (put it in manifest.json as is).
type Lock struct {
	LockVersion int            `json:"lock_version"`
	Module      string         `json:"module"`   // the main module's name
	Requires    []Requirement  `json:"requires"` // the main module's labrun.mod, as written
	Modules     []LockedModule `json:"modules"`  // sorted by name
}

// LockedModule is one module of the build list.
type LockedModule struct {
	Name       string        `json:"name"`
	Git        string        `json:"git"`
	Version    string        `json:"version,omitempty"` // the selected version, or
	Commit     string        `json:"commit"`            // the commit it names
	Pinned     bool          `json:"pinned,omitempty"`  // required by commit, not by version
	Hash       string        `json:"hash"`              // tree hash, see TreeSum
	Requires   []Requirement `json:"requires,omitempty"`
	RequiredBy []string      `json:"required_by"` // "lab_a", "b@v1.0.0": who asked, with what
}

// Pin is the version, or the commit for a module pinned by commit.
func (m LockedModule) Pin() string {
	if m.Pinned {
		return m.Commit
	}
	return m.Version
}

// Find returns the locked module of a name.
func (l *Lock) Find(name string) (LockedModule, bool) {
	for _, m := range l.Modules {
		if m.Name == name {
			return m, true
		}
	}
	return LockedModule{}, false
}

// ReadLock reads labrun.lock at root.
func ReadLock(root string) (*Lock, error) {
	p := filepath.Join(root, LockFileName)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var l Lock
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s: %v; run labrun mod tidy to write it again", p, err)
	}
	if l.LockVersion != LockVersion {
		return nil, fmt.Errorf("%s: lock_version %d, this labrun reads %d; run labrun mod tidy", p, l.LockVersion, LockVersion)
	}
	return &l, nil
}

// Write writes the lock to root/labrun.lock, atomically.
func (l *Lock) Write(root string) error {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(root, LockFileName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Stale says how the lock differs from the main module's labrun.mod; ""
// when it matches.
func (l *Lock) Stale(mf *ModFile) string {
	if l.Module != mf.Name {
		return fmt.Sprintf("the lock is for module %q, labrun.mod names %q", l.Module, mf.Name)
	}
	strip := func(rs []Requirement) []Requirement {
		out := make([]Requirement, len(rs))
		for i, r := range rs {
			r.Pos = ""
			out[i] = r
		}
		return out
	}
	a, b := strip(l.Requires), strip(mf.Requires)
	if !slices.Equal(a, b) {
		return fmt.Sprintf("labrun.mod requires %s, the lock was made for %s", reqList(b), reqList(a))
	}
	return ""
}

func reqList(rs []Requirement) string {
	if len(rs) == 0 {
		return "nothing"
	}
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += r.Name + " " + r.Pin()
	}
	return s
}
