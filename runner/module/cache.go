package module

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Cache is the module cache: bare mirrors of module repositories in vcs/
// (kept current by fetching) and, in tree/, the exported tree of each
// commit, named by commit and tree hash and made read-only once written.
// A tree is never changed in place: a tree whose content no longer
// matches its name is refused, and replaced only by tidy or download.
type Cache struct {
	Dir     string
	Offline bool // use what the cache holds; fetch nothing
	fetched map[string]bool
}

// CacheDirFromEnv is $LABRUN_CACHE, else ~/.cache/labrun/mod (the user
// cache folder as os.UserCacheDir finds it).
func CacheDirFromEnv() (string, error) {
	if d := os.Getenv("LABRUN_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no module cache folder: set LABRUN_CACHE (%v)", err)
	}
	return filepath.Join(d, "labrun", "mod"), nil
}

// OfflineFromEnv says whether LABRUN_OFFLINE asks for offline use.
func OfflineFromEnv() bool {
	v := os.Getenv("LABRUN_OFFLINE")
	return v != "" && v != "0" && v != "false"
}

// NewCache opens the cache at dir.
func NewCache(dir string, offline bool) *Cache {
	return &Cache{Dir: dir, Offline: offline, fetched: map[string]bool{}}
}

// TreeDir is where the tree of a commit with a given hash lives.
func (c *Cache) TreeDir(commit, hash string) string {
	return filepath.Join(c.Dir, "tree", commit+"-"+strings.TrimPrefix(hash, "t1:"))
}

// HashMismatchError is content that differs from what the lock records.
type HashMismatchError struct {
	Module, What, Want, Got string
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("module %s: %s hashes %s, but labrun.lock records %s; the content changed since labrun mod tidy: check the change, then run labrun mod tidy to accept it", e.Module, e.What, e.Got, e.Want)
}

// Ensure makes the tree of a locked module present and checks it against
// the lock's hash. Online, a missing tree is exported from the mirror (a
// changed one only when repair is set, as tidy and download do); offline
// a missing one is a MissingError.
func (c *Cache) Ensure(m LockedModule, repair bool) (string, TreeSum, error) {
	dir := c.TreeDir(m.Commit, m.Hash)
	if _, err := os.Stat(dir); err == nil {
		ts, err := HashTree(dir)
		if err == nil && ts.Hash == m.Hash {
			return dir, ts, nil
		}
		if !repair || c.Offline {
			if err != nil {
				return "", TreeSum{}, fmt.Errorf("module %s: cached tree %s: %v", m.Name, dir, err)
			}
			return "", TreeSum{}, &HashMismatchError{m.Name, "the cached tree " + dir, m.Hash, ts.Hash}
		}
		if err := removeTree(dir); err != nil {
			return "", TreeSum{}, err
		}
	} else if c.Offline {
		return "", TreeSum{}, &MissingError{[]string{fmt.Sprintf("module %s %s (commit %s from %s)", m.Name, m.Pin(), m.Commit, m.Git)}}
	}
	dir, ts, err := c.export(m.Name, m.Git, m.Commit)
	if err != nil {
		return "", TreeSum{}, err
	}
	if ts.Hash != m.Hash {
		return "", TreeSum{}, &HashMismatchError{m.Name, fmt.Sprintf("commit %s of %s", m.Commit, m.Git), m.Hash, ts.Hash}
	}
	return dir, ts, nil
}

// export writes a commit's tree into the cache under its hash, read-only,
// and returns its folder; a tree already there with the right content is
// kept.
func (c *Cache) export(name, url, commit string) (string, TreeSum, error) {
	base := filepath.Join(c.Dir, "tree")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", TreeSum{}, err
	}
	tmp, err := os.MkdirTemp(base, "new-")
	if err != nil {
		return "", TreeSum{}, err
	}
	defer removeTree(tmp)
	if err := c.exportTo(url, commit, tmp); err != nil {
		return "", TreeSum{}, fmt.Errorf("module %s: %w", name, err)
	}
	ts, err := HashTree(tmp)
	if err != nil {
		return "", TreeSum{}, fmt.Errorf("module %s at %s: %w", name, commit, err)
	}
	dir := c.TreeDir(commit, ts.Hash)
	if old, err := HashTree(dir); err == nil && old.Hash == ts.Hash {
		return dir, ts, nil
	} else if err == nil || !os.IsNotExist(err) {
		if err := removeTree(dir); err != nil {
			return "", TreeSum{}, err
		}
	}
	if err := makeReadOnly(tmp); err != nil {
		return "", TreeSum{}, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", TreeSum{}, err
	}
	return dir, ts, nil
}

// makeReadOnly takes write permission away from every file and folder
// below dir (a-w), folders last.
func makeReadOnly(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chmod(p, st.Mode().Perm()&^0o222)
	})
	for i := len(dirs) - 1; err == nil && i >= 0; i-- {
		err = os.Chmod(dirs[i], 0o555)
	}
	return err
}

// MakeWritable gives the owner write permission on every folder below
// dir again, so that it can be removed (tests, cleaning the cache).
func MakeWritable(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return nil
	})
}

func removeTree(dir string) error {
	MakeWritable(dir)
	return os.RemoveAll(dir)
}
