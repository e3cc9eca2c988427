package execute

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/results"
)

// An invocation that is killed (SIGKILL, power loss) cannot mark its
// manifest. While it runs it leaves a note in the state folder naming its
// manifest; the next labrun command finds the notes of processes that are
// gone and marks their manifests interrupted, keeping the runs that
// finished.

type activeNote struct {
	Owner    kernel.Owner `json:"owner"`
	Manifest string       `json:"manifest"`
}

// noteActive records that this process writes manifest; the returned
// function removes the note.
func noteActive(manifest string) func() {
	self, err := kernel.Self()
	if err != nil {
		return func() {}
	}
	abs, err := filepath.Abs(manifest)
	if err != nil {
		return func() {}
	}
	dir := kernel.StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return func() {}
	}
	path := filepath.Join(dir, fmt.Sprintf("active-%d-%d.json", self.PID, self.Start))
	b, _ := json.Marshal(activeNote{Owner: self, Manifest: abs})
	if results.WriteFileAtomic(path, b) != nil {
		return func() {}
	}
	return func() { os.Remove(path) }
}

// MarkKilled marks the manifests of invocations that died without ending
// as interrupted, and returns their folders. A note another user could
// have written (see kernel.ReadStateFile) is refused, and said so in err.
func MarkKilled() ([]string, error) {
	dir := kernel.StateDir()
	notes, err := killedNotes(dir)
	var marked []string
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range notes {
		if err := markInterrupted(n.Manifest, n.Owner.PID); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		os.Remove(filepath.Join(dir, n.name))
		marked = append(marked, filepath.Dir(n.Manifest))
	}
	return marked, errors.Join(errs...)
}

// PendingKilled lists the manifests MarkKilled would mark, without
// changing anything.
func PendingKilled() ([]string, error) {
	notes, err := killedNotes(kernel.StateDir())
	var out []string
	for _, n := range notes {
		out = append(out, n.Manifest)
	}
	return out, err
}

type killedNote struct {
	activeNote
	name string
}

// killedNotes reads the notes in dir of invocations that are gone.
func killedNotes(dir string) ([]killedNote, error) {
	names, err := filepath.Glob(filepath.Join(dir, "active-*.json"))
	if err != nil || len(names) == 0 {
		return nil, err
	}
	if err := kernel.CheckStateDir(dir); err != nil {
		return nil, err
	}
	var out []killedNote
	var errs []error
	for _, path := range names {
		name := filepath.Base(path)
		b, err := kernel.ReadStateFile(dir, name)
		if errors.Is(err, kernel.ErrUntrusted) {
			errs = append(errs, fmt.Errorf("note of a running labrun %v", err))
			continue
		}
		if err != nil {
			continue // another labrun took it
		}
		var a activeNote
		if json.Unmarshal(b, &a) != nil || a.Owner.Alive() || !filepath.IsAbs(a.Manifest) || filepath.Base(a.Manifest) != "manifest.json" {
			continue
		}
		out = append(out, killedNote{a, name})
	}
	return out, errors.Join(errs...)
}

func markInterrupted(path string, pid int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m results.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if m.Status != "running" {
		return nil
	}
	m.Status = "interrupted"
	m.Error = fmt.Sprintf("labrun (pid %d) was killed before it could end this invocation; the runs marked ok finished", pid) + sweepNote(filepath.Dir(path))
	for i := range m.Runs {
		if m.Runs[i].Status == "running" {
			m.Runs[i].Status = "interrupted"
		}
	}
	return results.WriteManifest(path, &m)
}
