package module

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TreeSum is the hash of a module's tree and of each file in it.
//
// The tree hash is "t1:" and the hex SHA-256 of a summary text: one line
// per regular file, sorted by slash-separated path relative to the tree's
// root, each line the file's hex SHA-256, two spaces, the path and a
// newline. Names and contents both count; modification times, modes and
// the folder structure beyond the paths do not. A tree holding anything
// but folders and regular files (a symbolic link, a device) has no hash.
type TreeSum struct {
	Hash  string
	Files map[string]string // slash path -> hex SHA-256 of the content
}

// HashTree hashes the regular files below dir.
func HashTree(dir string) (TreeSum, error) {
	ts := TreeSum{Files: map[string]string{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s); a module holds folders and regular files only", rel, d.Type())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		ts.Files[rel] = fileSum(data)
		return nil
	})
	if err != nil {
		return TreeSum{}, err
	}
	ts.Hash = summaryHash(ts.Files)
	return ts, nil
}

func fileSum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func summaryHash(files map[string]string) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "%s  %s\n", files[p], p)
	}
	s := sha256.Sum256([]byte(b.String()))
	return "t1:" + hex.EncodeToString(s[:])
}
