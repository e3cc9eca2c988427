package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// The state folder holds what a labrun run as root acts on later: the
// setting records (whose old values it writes back) and the notes of
// running invocations (whose manifests it rewrites). Only a folder and
// files that no other user can have written are trusted: the folder must
// be owned by root or by the user running labrun and not be writable by
// group or others, and each file the same. The checks are made with fstat
// on the opened folder and files (opened with O_NOFOLLOW), not on paths,
// so that nothing can be swapped in between the check and the use.

// stateDir is an open state folder that passed the checks.
type stateDir struct {
	path string
	fd   int
}

// ErrUntrusted marks a state folder or file refused by the ownership
// checks.
var ErrUntrusted = errors.New("refused")

// openStateDir opens and checks path; with create it makes the folder
// (mode 0700) first if it is missing.
func openStateDir(path string, create bool) (*stateDir, error) {
	if create {
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, err
		}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP || err == unix.ENOTDIR {
			return nil, fmt.Errorf("state folder %s: %w: it is a symbolic link or not a folder", path, ErrUntrusted)
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := trusted("state folder "+path, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &stateDir{path: path, fd: fd}, nil
}

func (d *stateDir) close() { unix.Close(d.fd) }

// trusted checks the owner and mode of an opened state folder or file.
func trusted(what string, st *unix.Stat_t) error {
	euid := os.Geteuid()
	if st.Uid != 0 && int(st.Uid) != euid {
		return fmt.Errorf("%s is owned by uid %d, not by root or uid %d who runs labrun: %w (another user could have written it)", what, st.Uid, euid, ErrUntrusted)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): %w (chmod go-w it)", what, st.Mode&0o7777, ErrUntrusted)
	}
	return nil
}

// read returns the content of the regular file name in d, if it passes
// the ownership checks. A missing file gives an error that is
// fs.ErrNotExist.
func (d *stateDir) read(name string) ([]byte, error) {
	path := d.path + "/" + name
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return nil, fmt.Errorf("%s is a symbolic link: %w", path, ErrUntrusted)
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file: %w", path, ErrUntrusted)
	}
	if err := trusted(path, &st); err != nil {
		return nil, err
	}
	if st.Size > 1<<20 {
		return nil, fmt.Errorf("%s is larger than 1 MiB: %w", path, ErrUntrusted)
	}
	b := make([]byte, st.Size+1)
	n, err := f.ReadAt(b, 0)
	if err != nil && n == 0 && st.Size > 0 {
		return nil, err
	}
	return b[:n], nil
}

// names lists the folder's entries.
func (d *stateDir) names() ([]string, error) {
	f, err := os.Open(d.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// CheckStateDir reports whether dir may be trusted (see ReadStateFile); a
// missing folder is no error.
func CheckStateDir(dir string) error {
	d, err := openStateDir(dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	d.close()
	return nil
}

// ReadStateFile reads the file name of the state folder dir, refusing
// (with an error that is ErrUntrusted and names the file and why) a
// folder or file owned by another user than root or the one running
// labrun, writable by group or others, or a symbolic link.
func ReadStateFile(dir, name string) ([]byte, error) {
	d, err := openStateDir(dir, false)
	if err != nil {
		return nil, err
	}
	defer d.close()
	return d.read(name)
}
