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

	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/runner/plan"
)

// dataFile reads a data file named by a script: relative to the calling
// file, inside the repository root, as load() paths are.
func (h *Host) dataFile(thread *starlark.Thread, arg, name string) (*plan.DataFile, error) {
	key, display, err := h.scriptPath(thread, arg, name)
	if err != nil {
		return nil, err
	}
	data, err := readRegular(key, h.root)
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

// checkSynthetic checks trace.synthetic's argument combinations and reads
// its data files.
func (h *Host) checkSynthetic(thread *starlark.Thread, s *Spec) error {
	a := s.Args
	hasCount, hasDur := a["count"] != starlark.None, a["duration"] != starlark.None
	switch {
	case hasCount == hasDur:
		return fmt.Errorf("give count (packets, as Caliper's -n) or duration (as -t), not both or neither")
	case a["interval"] == starlark.None && a["gaps"] == starlark.None && a["rate"] == starlark.None:
		return fmt.Errorf("give interval (a fixed or, with poisson = True, mean gap), rate (packets or bits per second) or gaps (a file of gaps in ns, as Caliper's -D)")
	case btoi(a["interval"] != starlark.None)+btoi(a["gaps"] != starlark.None)+btoi(a["rate"] != starlark.None) > 1:
		return fmt.Errorf("give one of interval, rate and gaps")
	case a["layer"] != starlark.None && a["rate"] == starlark.None:
		return fmt.Errorf("layer says what a bit rate counts; it goes with rate")
	case a["poisson"] == starlark.True && a["gaps"] != starlark.None:
		return fmt.Errorf("poisson draws gaps with mean interval; it does not combine with a gaps file")
	case a["sizes"] != starlark.None && s.Args["frame"] != starlark.String("64B"):
		return fmt.Errorf("give frame or sizes (a file of frame sizes in bytes, as Caliper's -L), not both")
	}
	s.Files = map[string]*plan.DataFile{}
	for _, arg := range []string{"gaps", "sizes"} {
		if name, ok := a[arg].(starlark.String); ok {
			df, err := h.dataFile(thread, arg, string(name))
			if err != nil {
				return err
			}
			s.Files[arg] = df
		}
	}
	if df := s.Files["sizes"]; df != nil {
		for i, v := range df.Values {
			if v < trace.MinFrame || v > trace.MaxFrame {
				return fmt.Errorf("sizes: %s: value %d (%d) out of range [%dB, %dB] (frame sizes with FCS)", df.Path, i+1, v, trace.MinFrame, trace.MaxFrame)
			}
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
