package results

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// fileMode is the permission of files written by this package.
const fileMode = 0o644

// WriteFileAtomic writes data to path so that readers see either the old
// file or the complete new one: it writes a temporary file in the same
// directory, fsyncs it and renames it over path. Missing parent directories
// are created with mode 0o755; the file gets mode 0o644. On any error the
// temporary file is removed and path is left as it was.
func WriteFileAtomic(path string, data []byte) error {
	a, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	if _, err := a.Write(data); err != nil {
		a.Abort()
		return err
	}
	return a.Commit()
}

// AtomicFile is a file being written under a temporary name, for large
// streamed outputs such as per-packet series CSVs. Writes are buffered.
// Commit moves it into place; Abort discards it. Call exactly one of them;
// calling Abort after Commit (e.g. deferred) is harmless.
// An AtomicFile is not safe for concurrent use.
type AtomicFile struct {
	path string        // destination
	f    *os.File      // temporary file in the destination's directory
	bw   *bufio.Writer // buffers writes to f
	done bool          // Commit or Abort was called
}

// CreateAtomic starts writing path atomically: it creates the parent
// directories (0o755) and a temporary file next to path.
func CreateAtomic(path string) (*AtomicFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results: write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("results: write %s: %w", path, err)
	}
	return &AtomicFile{path: path, f: f, bw: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Write appends p to the temporary file.
func (a *AtomicFile) Write(p []byte) (int, error) {
	if a.done {
		return 0, fmt.Errorf("results: write %s: %w", a.path, os.ErrClosed)
	}
	n, err := a.bw.Write(p)
	if err != nil {
		err = fmt.Errorf("results: write %s: %w", a.path, err)
	}
	return n, err
}

// Commit flushes and fsyncs the temporary file, gives it mode 0o644 and
// renames it to the destination path. On error the temporary file is removed
// and the destination is left as it was.
func (a *AtomicFile) Commit() error {
	if a.done {
		return fmt.Errorf("results: commit %s: %w", a.path, os.ErrClosed)
	}
	a.done = true
	tmp := a.f.Name()
	err := a.bw.Flush()
	if err == nil {
		err = a.f.Chmod(fileMode)
	}
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, a.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("results: write %s: %w", a.path, err)
	}
	syncDir(filepath.Dir(a.path))
	return nil
}

// Abort closes and removes the temporary file, leaving the destination as
// it was. It does nothing after Commit or a previous Abort.
func (a *AtomicFile) Abort() {
	if a.done {
		return
	}
	a.done = true
	_ = a.f.Close()
	_ = os.Remove(a.f.Name())
}

// syncDir makes a completed rename durable. It is best effort: the rename
// has already happened, so a failure here is not reported.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync() // some filesystems do not support fsync on directories
	_ = d.Close()
}
