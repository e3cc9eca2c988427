package results

import (
	"os"
	"path/filepath"
	"testing"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the target path
	}{
		{
			// A new file in directories that do not exist yet.
			name: "creates parents",
			setup: func(t *testing.T, dir string) string {
				return filepath.Join(dir, "a", "b", "out.csv")
			},
		},
		{
			// An existing file is replaced, and gets mode 0o644.
			name: "replaces existing",
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "out.csv")
				if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			if err := WriteFileAtomic(path, []byte("new\n")); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != "new\n" {
				t.Fatalf("content = %q, %v", got, err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
			}
			if names := entries(t, filepath.Dir(path)); len(names) != 1 {
				t.Errorf("directory holds %v, want only the file", names)
			}
		})
	}
}

func TestWriteFileAtomicFailure(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (path string, check func(t *testing.T))
	}{
		{
			// The target is an existing directory: rename fails, the
			// directory and its contents stay, no temporary file is left.
			name: "target is a directory",
			setup: func(t *testing.T, dir string) (string, func(*testing.T)) {
				path := filepath.Join(dir, "out.csv")
				if err := os.MkdirAll(filepath.Join(path, "keep"), 0o755); err != nil {
					t.Fatal(err)
				}
				return path, func(t *testing.T) {
					if fi, err := os.Stat(filepath.Join(path, "keep")); err != nil || !fi.IsDir() {
						t.Errorf("destination changed: %v", err)
					}
				}
			},
		},
		{
			// The directory is not writable: the old file is untouched.
			name: "directory not writable",
			setup: func(t *testing.T, dir string) (string, func(*testing.T)) {
				if os.Geteuid() == 0 {
					t.Skip("root can write to read-only directories")
				}
				path := filepath.Join(dir, "out.csv")
				if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, 0o555); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(dir, 0o755) })
				return path, func(t *testing.T) {
					if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
						t.Errorf("destination changed: %q, %v", got, err)
					}
				}
			},
		},
		{
			// A parent of the target is a regular file: nothing is created.
			name: "parent is a file",
			setup: func(t *testing.T, dir string) (string, func(*testing.T)) {
				if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(dir, "f", "out.csv"), func(t *testing.T) {}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, check := tc.setup(t, dir)
			before := entries(t, dir)
			if err := WriteFileAtomic(path, []byte("new")); err == nil {
				t.Fatal("WriteFileAtomic succeeded, want an error")
			}
			check(t)
			if after := entries(t, dir); len(after) != len(before) {
				t.Errorf("directory holds %v, had %v: temporary file left behind", after, before)
			}
		})
	}
}

func TestAtomicFile(t *testing.T) {
	tests := []struct {
		name   string
		commit bool
	}{
		// Commit puts the streamed data in place.
		{"commit", true},
		// Abort leaves nothing behind.
		{"abort", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "series", "packets.csv")
			a, err := CreateAtomic(path)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Abort() // harmless after Commit
			line := []byte("1234567890,0.25\n")
			for range 10000 { // larger than the write buffer
				if _, err := a.Write(line); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("destination exists before Commit: %v", err)
			}
			if !tc.commit {
				a.Abort()
				if names := entries(t, filepath.Dir(path)); len(names) != 0 {
					t.Errorf("after Abort directory holds %v", names)
				}
				return
			}
			if err := a.Commit(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Size() != int64(10000*len(line)) {
				t.Fatalf("stat = %v, %v", fi, err)
			}
			if _, err := a.Write(line); err == nil {
				t.Error("Write after Commit succeeded")
			}
			if err := a.Commit(); err == nil {
				t.Error("second Commit succeeded")
			}
			if names := entries(t, filepath.Dir(path)); len(names) != 1 {
				t.Errorf("directory holds %v, want only the file", names)
			}
		})
	}
}
