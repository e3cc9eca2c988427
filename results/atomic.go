package results

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
		return nil, writeErr(path, err)
	}
	// The temporary name carries the writer's PID, so that a later labrun
	// can tell the leftovers of a killed one (SweepTemps).
	f, err := os.CreateTemp(dir, tempPrefix(base)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, writeErr(path, err)
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
		err = writeErr(a.path, err)
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
		return writeErr(a.path, err)
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

// tempPrefix starts the temporary names of files written to base:
// ".<base>.tmp-", then the writer's PID and a random suffix.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// DiskFullError is a write that found no space left on the device.
type DiskFullError struct {
	Path string
	Err  error
}

func (e *DiskFullError) Error() string {
	return "disk full: cannot write " + e.Path + ": no space left on device (ENOSPC)"
}

func (e *DiskFullError) Unwrap() error { return e.Err }

// writeErr names a failure to write path; a full disk is said as such.
func writeErr(path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return &DiskFullError{Path: path, Err: err}
	}
	return fmt.Errorf("results: write %s: %w", path, err)
}

// NameDiskFull returns err, said as "disk full: ... (ENOSPC)" when it is
// one (from any writer, not only this package's).
func NameDiskFull(err error) error {
	var df *DiskFullError
	if err == nil || errors.As(err, &df) || !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	return fmt.Errorf("disk full: %w (ENOSPC)", err)
}

// Leftover is a temporary file that a killed writer left behind.
type Leftover struct {
	Path string // relative to the folder swept
	Size int64
}

func (l Leftover) String() string {
	return fmt.Sprintf("%s (%s)", l.Path, byteSize(l.Size))
}

// SweepTemps removes the temporary files (CreateAtomic's, and the
// manifest's reserve) in dir and its subfolders whose writer is no longer
// running, and returns them. Files of a running process are left alone.
func SweepTemps(dir string) ([]Leftover, error) {
	var out []Leftover
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		pid, ok := tempOwner(d.Name())
		if !ok || processAlive(pid) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, Leftover{Path: rel, Size: fi.Size()})
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// tempOwner reads the writer's PID from a temporary name
// ".<base>.tmp-<pid>-<random>"; a name of an older labrun without a PID
// gives 0 (no owner to wait for).
func tempOwner(name string) (int, bool) {
	if !strings.HasPrefix(name, ".") {
		return 0, false
	}
	i := strings.LastIndex(name, ".tmp-")
	if i < 0 {
		return 0, false
	}
	rest := name[i+len(".tmp-"):]
	pidStr, _, hasPID := strings.Cut(rest, "-")
	if !hasPID {
		// CreateTemp's random digits alone: an older labrun's.
		_, err := strconv.ParseUint(rest, 10, 64)
		return 0, err == nil
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// processAlive reports whether pid is this process or a running one.
func processAlive(pid int) bool {
	if pid == 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// byteSize shows a size for people: 512 B, 79 MB.
func byteSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.3g %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
