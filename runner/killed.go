package runner

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
// as interrupted, and returns their folders.
func MarkKilled() ([]string, error) {
	dir := kernel.StateDir()
	notes, err := filepath.Glob(filepath.Join(dir, "active-*.json"))
	if err != nil || len(notes) == 0 {
		return nil, err
	}
	var marked []string
	var errs []error
	for _, n := range notes {
		b, err := os.ReadFile(n)
		if err != nil {
			continue // another labrun took it
		}
		var a activeNote
		if json.Unmarshal(b, &a) != nil || a.Owner.Alive() {
			continue
		}
		if err := markInterrupted(a.Manifest, a.Owner.PID); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		os.Remove(n)
		marked = append(marked, filepath.Dir(a.Manifest))
	}
	return marked, errors.Join(errs...)
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
