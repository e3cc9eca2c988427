package script

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/runner/plan"
)

// dataFile reads a data file named by a script: relative to the calling
// file, inside the repository root, as load() paths are.
func (h *Host) dataFile(thread *starlark.Thread, arg, name string) (*plan.DataFile, error) {
	key, display, err := h.scriptPath(thread, arg, name)
	if err != nil {
		return nil, err
	}
	data, err := readRegular(key, h.rootOf(key))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", arg, display, err)
	}
	vals, err := parseNumbers(display, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	sum := sha256.Sum256(data)
	df := &plan.DataFile{Path: display, SHA256: hex.EncodeToString(sum[:]), Count: len(vals), Values: vals}
	h.addSource(display, key, data)
	return df, nil
}

// readRegular reads a file a script names, which must be a regular file: a
// FIFO would block evaluation for ever, a device never end. It opens
// without blocking (O_NONBLOCK) and checks what it opened (fstat), so a
// file swapped after a check cannot slip through. With a root, the file
// opened must also lie inside it (its path as the kernel has it, so a
// symbolic link swapped in after the path was checked is caught too).
func readRegular(path, root string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	defer f.Close()
	if root != "" {
		if err := openedInside(f, root); err != nil {
			return nil, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (it is %s); name a plain file", fileKind(st.Mode()))
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	return data, nil
}

// openedInside checks that the open file f lies inside root.
func openedInside(f *os.File, root string) error {
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return nil // no /proc: the path check when it was resolved stands
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil
	}
	if r, err := filepath.Rel(realRoot, real); err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return fmt.Errorf("leads outside the repository root %s (through a symbolic link)", root)
	}
	return nil
}

// fileKind names the type of a file that is not a regular file.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// scriptPath resolves a file a script names for argument arg: relative to
// the calling file, or //path from the repository root; never absolute,
// never outside the root (as load() paths), never from the stdlib.
func (h *Host) scriptPath(thread *starlark.Thread, arg, name string) (key, display string, err error) {
	from := callerPos(thread).Filename()
	switch {
	case strings.HasPrefix(h.files[from], stdlibPrefix):
		return "", "", fmt.Errorf("%s: the standard library cannot name files", arg)
	case h.res != nil:
		key, display, err = h.moduleData(from, name)
		if err == nil {
			err = h.checkUpstream(h.locs[display])
		}
	case strings.HasPrefix(name, "//"):
		key, display, err = h.inRoot(name, strings.TrimPrefix(name, "//"), h.root)
	case strings.HasPrefix(name, "/"):
		return "", "", fmt.Errorf("%s: absolute path %q is not allowed; use a path relative to this file or //path from the repository root", arg, name)
	default:
		key, display, err = h.relToFile(from, name)
	}
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", arg, err)
	}
	// The path a run's configuration holds, and so its ID, is the file's
	// place in the repository: the same wherever the repository is checked
	// out and whichever folder labrun runs from.
	if r, rerr := filepath.Rel(h.root, key); h.root != "" && rerr == nil && r != ".." && !strings.HasPrefix(r, "../") {
		display = r
	}
	// Every reader of a named file (data files, captures, delay files)
	// gets a regular file or nothing: a FIFO would block the evaluation.
	// Files read here are opened non-blocking and checked again (fstat).
	if st, err := os.Stat(key); err == nil && !st.Mode().IsRegular() {
		return "", "", fmt.Errorf("%s: %s: not a regular file (it is %s); name a plain file", arg, display, fileKind(st.Mode()))
	}
	return key, display, nil
}

// parseNumbers reads whitespace-separated non-negative integers; an error
// names the file, line and column of the bad token.
func parseNumbers(name string, data []byte) ([]int64, error) {
	var vals []int64
	for ln, line := range bytes.Split(data, []byte("\n")) {
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i] // comments
		}
		col := 0
		for _, f := range strings.Fields(string(line)) {
			col = strings.Index(string(line[col:]), f) + col
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%s:%d:%d: %q is not a non-negative integer (the file holds whitespace-separated integers; '#' starts a comment)", name, ln+1, col+1, f)
			}
			if len(vals) == plan.MaxDataValues {
				return nil, fmt.Errorf("%s:%d: more than %d values", name, ln+1, plan.MaxDataValues)
			}
			vals = append(vals, v)
			col += len(f)
		}
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("%s: no values", name)
	}
	return vals, nil
}
