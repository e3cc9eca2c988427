// Package archive packs what a rerun needs into one tar.gz and unpacks
// such a file safely: the script, the files of the modules it loaded (as
// labrun.lock pins them), its data files, the lock and, optionally, a
// result folder. An index (labrun-archive.json, the first entry) lists
// every file with its size and SHA-256 and names the script to run.
//
// Unpack trusts nothing in the file: names must be relative, clean and
// free of "..", only regular files are accepted (no links of any kind,
// devices or FIFOs), every file must be in the index with the size and
// hash given there, and the count and sizes are bounded. It writes only
// into a new folder, and removes that folder on any failure.
package archive

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// IndexName is the first entry of an archive.
const IndexName = "labrun-archive.json"

// Format is the archive format this package writes and reads.
const Format = 1

// Index describes an archive's content.
type Index struct {
	Format int     `json:"format"`
	Script string  `json:"script"` // the archive name of the script to run
	Files  []Entry `json:"files"`  // sorted by name
}

// Entry is one file of an archive.
type Entry struct {
	Name   string `json:"name"` // slash-separated, relative
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// File is a file to pack: its name in the archive and where it is now.
type File struct {
	Name string
	Path string
}

// epoch is every entry's modification time, so that the same files make
// the same archive.
var epoch = time.Unix(0, 0).UTC()

// Write packs files into a tar.gz on w. script must be one of the names.
func Write(w io.Writer, script string, files []File) (*Index, error) {
	files = append([]File(nil), files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	idx := &Index{Format: Format, Script: script, Files: []Entry{}}
	found := false
	for i, f := range files {
		if err := checkName(f.Name); err != nil {
			return nil, err
		}
		if i > 0 && files[i-1].Name == f.Name {
			return nil, fmt.Errorf("archive: %s is given twice", f.Name)
		}
		e, err := entryOf(f)
		if err != nil {
			return nil, err
		}
		idx.Files = append(idx.Files, e)
		found = found || f.Name == script
	}
	if !found {
		return nil, fmt.Errorf("archive: the script %s is not among the files", script)
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	data, _ := json.MarshalIndent(idx, "", "  ")
	if err := writeEntry(tw, IndexName, int64(len(data)), strings.NewReader(string(data))); err != nil {
		return nil, err
	}
	for i, f := range files {
		if err := copyFile(tw, f, idx.Files[i]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return idx, zw.Close()
}

// entryOf hashes a file to pack; it must be a regular file.
func entryOf(f File) (Entry, error) {
	st, err := os.Lstat(f.Path)
	if err != nil {
		return Entry{}, fmt.Errorf("archive: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Entry{}, fmt.Errorf("archive: %s is not a regular file (%s)", f.Path, st.Mode().Type())
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return Entry{}, fmt.Errorf("archive: %w", err)
	}
	s := sha256.Sum256(data)
	return Entry{Name: f.Name, Size: int64(len(data)), SHA256: hex.EncodeToString(s[:])}, nil
}

// copyFile writes a file as the index recorded it; a file that changed
// in between is refused.
func copyFile(tw *tar.Writer, f File, e Entry) error {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != e.SHA256 {
		return fmt.Errorf("archive: %s changed while it was packed", f.Path)
	}
	return writeEntry(tw, f.Name, int64(len(data)), strings.NewReader(string(data)))
}

func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader) error {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := io.Copy(tw, r)
	return err
}

// AddDir lists the regular files below dir as Files named prefix/relative
// path, for a result folder; anything but folders and regular files is
// refused.
func AddDir(prefix, dir string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("archive: %s is not a regular file (%s)", p, d.Type())
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, File{Name: path.Join(prefix, filepath.ToSlash(rel)), Path: p})
		return nil
	})
	return out, err
}

// checkName accepts clean, relative, slash-separated names without "..".
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == IndexName:
		return fmt.Errorf("archive: bad name %q", name)
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name):
		return fmt.Errorf("archive: %q is an absolute path; names are relative", name)
	case strings.ContainsAny(name, "\\\x00") || path.Clean(name) != name:
		return fmt.Errorf("archive: %q is not a clean slash-separated path", name)
	case name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/../") || strings.HasSuffix(name, "/.."):
		return fmt.Errorf("archive: %q leads outside the folder (..)", name)
	}
	return nil
}
