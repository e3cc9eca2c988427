package trace

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// DropFileCache evicts path's pages from the kernel's page cache, so the
// next read of the file comes from the disk (a cold-cache measurement).
// It writes back the file's dirty pages first (fdatasync), which the
// kernel would otherwise keep, then advises POSIX_FADV_DONTNEED over the
// whole file. It affects only this file's pages: nothing else in the
// cache, unlike writing to /proc/sys/vm/drop_caches, and it needs no root,
// only permission to open the file for reading. Pages that another
// process has mapped or locked may stay cached.
func DropFileCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	// fdatasync works on a read-only descriptor; a file system that
	// cannot sync (EINVAL: a pipe or special file) has nothing to write.
	if err := unix.Fdatasync(fd); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("drop cache of %s: fdatasync: %w", path, err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("drop cache of %s: fadvise: %w", path, err)
	}
	return nil
}
