package trace

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident counts the pages of path that are in the page cache.
func resident(t *testing.T, path string) (in, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := fileSize(t, path)
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	page := os.Getpagesize()
	vec := make([]byte, (int(size)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal("mincore:", errno)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, len(vec)
}

// TestDropFileCache writes a file (its pages dirty in the cache), drops
// it from the cache and checks with mincore that its pages left, while
// another file's stayed. tmpfs keeps its pages whatever one advises, so
// there the test only checks that DropFileCache succeeds.
func TestDropFileCache(t *testing.T) {
	dir := t.TempDir()
	path := writeTemp(t, dir, "cold", frame(4<<20, 1))
	other := writeTemp(t, dir, "warm", frame(1<<20, 2))
	if _, err := os.ReadFile(other); err != nil {
		t.Fatal(err)
	}
	if err := DropFileCache(path); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type == unix.TMPFS_MAGIC {
		t.Skipf("%s is on tmpfs, which keeps its pages", dir)
	}
	if in, total := resident(t, path); in > total/10 {
		t.Errorf("%d of %d pages still cached after DropFileCache", in, total)
	}
	if in, total := resident(t, other); in < total/2 {
		t.Errorf("only %d of %d pages of another file are cached: DropFileCache went too far?", in, total)
	}
	if err := DropFileCache(filepath.Join(dir, "missing")); err == nil {
		t.Error("DropFileCache of a missing file succeeded")
	}
}
