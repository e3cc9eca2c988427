package script

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// readRegular refuses what is not a regular file without blocking on it,
// and, with a root, a file that lies outside the root.
func TestReadRegular(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(root, "in.txt"), []byte("1 2"), 0o644)
	os.WriteFile(filepath.Join(outside, "out.txt"), []byte("3"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, root, want string // want: "" for success, else part of the error
	}{
		// A regular file inside the root.
		{"inside", filepath.Join(root, "in.txt"), root, ""},
		// The same file with no root to stay in.
		{"no root", filepath.Join(root, "in.txt"), "", ""},
		// A FIFO: refused at once, not waited on.
		{"fifo", filepath.Join(root, "fifo"), root, "not a regular file (it is a FIFO)"},
		// A directory.
		{"directory", root, "", "not a regular file (it is a directory)"},
		// A character device.
		{"device", "/dev/null", "", "not a regular file (it is a character device)"},
		// A file outside the root, whatever path led to it.
		{"outside", filepath.Join(outside, "out.txt"), root, "leads outside the repository root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readRegular(tc.path, tc.root)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
