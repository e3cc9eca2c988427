package topo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live (iproute2's convention;
// /var/run is normally a link to /run).
const NetnsDir = "/run/netns"

// NSPath returns the path of h's namespace: /run/netns/<name>.
func (h *Host) NSPath() string { return filepath.Join(NetnsDir, h.NSName) }

// dirMu serializes the preparation of NetnsDir.
var dirMu sync.Mutex

// prepareNetnsDir creates NetnsDir and, like iproute2, makes it a shared
// mount point so that names propagate to other mount namespaces and a later
// `ip netns add` does not bind the directory over itself and hide the names
// already in it. If the directory is not a mount point but already holds
// entries made by someone else, it is left as it is: binding it over
// itself now would hide those.
func prepareNetnsDir() error {
	dirMu.Lock()
	defer dirMu.Unlock()
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", NetnsDir, err)
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("making %s a shared mount: %w", NetnsDir, err)
	}
	// EINVAL: not a mount point.
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", NetnsDir, err)
	}
	if len(entries) > 0 {
		return nil
	}
	if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s onto itself: %w", NetnsDir, err)
	}
	if err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making %s a shared mount: %w", NetnsDir, err)
	}
	return nil
}

// newNamedNS creates a network namespace named name and returns an open
// file descriptor of it. The calling goroutine's thread is moved into the
// new namespace to bind it and then back (see inThreadNS).
func newNamedNS(name string) (int, error) {
	if err := prepareNetnsDir(); err != nil {
		return -1, err
	}
	path := filepath.Join(NetnsDir, name)
	if _, err := os.Lstat(path); err == nil {
		return -1, fmt.Errorf("%s already exists: a run with the same pid and run id was not cleaned up; remove it with `ip netns delete %s` if its run is over", path, name)
	}
	// Recorded before the name exists, so CleanStale (in this process or
	// another) never finds it without its owner.
	if err := writeRecord(name); err != nil {
		return -1, err
	}
	fd := -1
	err := inThreadNS(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNET): %w (needs CAP_SYS_ADMIN: run as root)", err)
		}
		return nil
	}, func() error {
		var err error
		fd, err = bindNS(path)
		return err
	})
	if err != nil {
		if fd >= 0 {
			// Bound, but the thread could not come back: undo the name.
			unix.Close(fd)
			fd = -1
			if derr := deleteNamedNS(name); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		if rerr := removeRecord(name); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return fd, err
}

// inThreadNS locks the calling goroutine to its thread, runs enter (which
// moves the thread to another network namespace: setns or unshare), then
// fn, and moves the thread back to its original namespace (also when fn
// panics) before unlocking it. If the thread cannot be moved back, it is
// left locked, so the runtime ends it with the goroutine instead of
// running other goroutines in the wrong namespace.
//
// Not moving back at all, and letting a locked goroutine exit, is not
// enough: if the thread is the process's main thread, the runtime cannot
// end it and parks it for good, still inside the namespace, which then
// lives as long as the process.
func inThreadNS(enter, fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening this thread's network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := enter(); err != nil {
		// enter failed before moving the thread (setns and unshare are
		// all or nothing), but check rather than trust.
		if same, serr := sameNS(orig); serr != nil || !same {
			return errors.Join(err, fmt.Errorf("the thread left its namespace although entering failed (check: %v); keeping it locked", serr))
		}
		runtime.UnlockOSThread()
		return err
	}
	defer func() {
		if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
			// Left locked on purpose: the thread is in the wrong namespace.
			err = errors.Join(err, fmt.Errorf("returning the thread to its network namespace: %w", serr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// sameNS reports whether the calling thread is in the namespace open as fd.
func sameNS(fd int) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		return false, err
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &b); err != nil {
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// bindNS binds the calling thread's network namespace to path (which must
// not exist) and returns an open file descriptor of it.
func bindNS(path string) (int, error) {
	f, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("%s already exists: a run with the same pid and run id was not cleaned up; remove it with `ip netns delete %s` if its run is over: %w", path, filepath.Base(path), err)
		}
		return -1, fmt.Errorf("creating %s: %w", path, err)
	}
	unix.Close(f)
	if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return -1, fmt.Errorf("binding the new namespace to %s: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
		return -1, fmt.Errorf("opening %s: %w", path, err)
	}
	return fd, nil
}

// deleteNamedNS removes the name of a namespace: unmount, remove the file,
// and check both are gone. A file that is not a mount point (left by a
// crash between creating and binding it) is removed too.
func deleteNamedNS(name string) error {
	path := filepath.Join(NetnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s still exists after removing it (err %v)", path, err)
	}
	mounted, err := mountedAt(path)
	if err != nil {
		return err
	}
	if mounted {
		return fmt.Errorf("%s is still a mount point after unmounting it", path)
	}
	return removeRecord(name)
}

// mountedAt reports whether path is a mount point in this process's mount
// namespace.
func mountedAt(path string) (bool, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("reading mount table: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == path {
			return true, nil
		}
	}
	return false, nil
}

// nsInode returns the inode of an open namespace file.
func nsInode(fd int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("fstat of namespace: %w", err)
	}
	return st.Ino, nil
}

// nsBusy reports an error naming the processes, and the threads of this
// process, that are inside the namespace open as fd: they keep it (and its
// veths) alive after its name is gone.
func nsBusy(fd int) error {
	ino, err := nsInode(fd)
	if err != nil {
		return err
	}
	want := "net:[" + strconv.FormatUint(ino, 10) + "]"
	var found []string
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		for _, t := range tasks {
			if l, _ := os.Readlink("/proc/self/task/" + t.Name() + "/ns/net"); l == want {
				found = append(found, "thread "+t.Name()+" of this process (a Do still running?)")
			}
		}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("reading /proc: %w", err)
	}
	self := strconv.Itoa(os.Getpid())
	for _, p := range procs {
		if p.Name() == self || p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		if l, _ := os.Readlink("/proc/" + p.Name() + "/ns/net"); l == want {
			comm, _ := os.ReadFile("/proc/" + p.Name() + "/comm")
			found = append(found, "process "+p.Name()+" ("+strings.TrimSpace(string(comm))+")")
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("still in use by %s: they keep it and its veths alive; end them before Close", strings.Join(found, ", "))
	}
	return nil
}

// Do runs fn on a locked OS thread that is inside h's namespace and
// returns fn's error. Sockets and child processes created inside fn belong
// to the namespace (but start long-lived children with package proc and
// NSPath instead: a child forked here gets its parent-death signal when
// this thread ends, which the runtime may do at any time), and sockets stay there when used from other goroutines
// later. The thread is moved back to its original namespace afterwards
// (also when fn panics) and unlocked; if moving back fails, the thread
// stays locked, so the runtime ends it with the goroutine instead of
// reusing it.
func (h *Host) Do(fn func() error) error {
	return inThreadNS(h.enter, fn)
}

// enter moves the calling (locked) thread into h's namespace.
func (h *Host) enter() error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.fd < 0 {
		return fmt.Errorf("namespace %s is closed (Do after Close?)", h.NSName)
	}
	if err := unix.Setns(h.fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering namespace %s: %w", h.NSName, err)
	}
	return nil
}

// sysctlRoot is the network sysctl tree. Opened from a thread, it shows
// that thread's network namespace.
const sysctlRoot = "/proc/sys/net/"

func writeSysctl(key, value string) error {
	p := sysctlRoot + key
	if err := os.WriteFile(p, []byte(value), 0); err != nil {
		return fmt.Errorf("writing %s to %s: %w", value, p, err)
	}
	return nil
}

// disableIPv6 sets disable_ipv6 of conf entry dev ("default" or an
// interface) and reads it back. Without IPv6 in the kernel there is
// nothing to disable.
func disableIPv6(dev string) error {
	if _, err := os.Stat(sysctlRoot + "ipv6"); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	key := "ipv6/conf/" + dev + "/disable_ipv6"
	if err := writeSysctl(key, "1"); err != nil {
		return err
	}
	b, err := os.ReadFile(sysctlRoot + key)
	if err != nil {
		return fmt.Errorf("reading back %s: %w", key, err)
	}
	if strings.TrimSpace(string(b)) != "1" {
		return fmt.Errorf("%s reads %q after writing 1", key, strings.TrimSpace(string(b)))
	}
	return nil
}
