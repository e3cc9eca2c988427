package results

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrOutside is a path that leads out of the folder it must stay in.
var ErrOutside = errors.New("leads outside the result folder: refused")

// CheckRelPath accepts a path relative to a folder that stays inside it
// by its text: not empty, not absolute, no ".." element.
func CheckRelPath(rel string) error {
	if rel == "" || filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") {
		return fmt.Errorf("path %q %w (want a path inside the folder, e.g. plots/x.png)", rel, ErrOutside)
	}
	for _, e := range strings.Split(filepath.ToSlash(rel), "/") {
		if e == ".." {
			return fmt.Errorf("path %q %w (it has \"..\")", rel, ErrOutside)
		}
	}
	return nil
}

// ReadFileIn reads dir/rel, which must lie inside dir: a path that is
// absolute, has "..", or passes through a symbolic link leading out of
// dir is refused with ErrOutside. The kernel resolves the path beneath
// dir (openat2 RESOLVE_BENEATH); where openat2 is missing, the path is
// resolved and its place checked.
func ReadFileIn(dir, rel string) ([]byte, error) {
	if err := CheckRelPath(rel); err != nil {
		return nil, err
	}
	f, err := openBeneath(dir, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func openBeneath(dir, rel string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fd, err := unix.Openat2(int(d.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), filepath.Join(dir, rel)), nil
	case errors.Is(err, unix.EXDEV):
		return nil, fmt.Errorf("path %q %w (a symbolic link leads out)", rel, ErrOutside)
	case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
		return openResolved(dir, rel)
	}
	return nil, &os.PathError{Op: "open", Path: filepath.Join(dir, rel), Err: err}
}

// openResolved is openBeneath without openat2: resolve every link and
// check the result is still inside dir.
func openResolved(dir, rel string) (*os.File, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(filepath.Join(dir, rel))
	if err != nil {
		return nil, err
	}
	if in, err := filepath.Rel(root, real); err != nil || in == ".." || strings.HasPrefix(in, "../") {
		return nil, fmt.Errorf("path %q %w (a symbolic link leads out)", rel, ErrOutside)
	}
	return os.Open(real)
}
