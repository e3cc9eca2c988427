package archive

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Limits bound what Unpack accepts.
type Limits struct {
	MaxFiles int   // files, index excluded
	MaxFile  int64 // bytes of one file
	MaxTotal int64 // bytes of all files
}

// DefaultLimits suit a script, its modules, data files and a result
// folder with captures.
var DefaultLimits = Limits{MaxFiles: 100_000, MaxFile: 4 << 30, MaxTotal: 16 << 30}

const maxIndex = 16 << 20

// Unpack reads a tar.gz written by Write from r into dir, which must not
// exist yet. On any failure nothing is left: dir is removed.
func Unpack(r io.Reader, dir string, lim Limits) (idx *Index, err error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("archive: unpack into a new folder: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("archive: not a tar.gz: %w", err)
	}
	tr := tar.NewReader(zr)
	if idx, err = readIndex(tr, lim); err != nil {
		return nil, err
	}
	want := map[string]Entry{}
	for _, e := range idx.Files {
		want[e.Name] = e
	}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		e, ok := want[h.Name]
		if err := checkHeader(h, ok, e); err != nil {
			return nil, err
		}
		if err := unpackFile(tr, dir, e); err != nil {
			return nil, err
		}
		delete(want, h.Name)
	}
	for name := range want {
		return nil, fmt.Errorf("archive: %s is in the index but not in the archive", name)
	}
	return idx, nil
}

// readIndex reads and checks the first entry.
func readIndex(tr *tar.Reader, lim Limits) (*Index, error) {
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("archive: no index: %w", err)
	}
	if h.Name != IndexName || h.Typeflag != tar.TypeReg || h.Size > maxIndex {
		return nil, fmt.Errorf("archive: the first entry must be %s (a file of at most %d bytes), not %q", IndexName, maxIndex, h.Name)
	}
	var idx Index
	if err := json.NewDecoder(io.LimitReader(tr, maxIndex)).Decode(&idx); err != nil {
		return nil, fmt.Errorf("archive: %s: %w", IndexName, err)
	}
	if idx.Format != Format {
		return nil, fmt.Errorf("archive: format %d; this labrun reads format %d", idx.Format, Format)
	}
	if len(idx.Files) > lim.MaxFiles {
		return nil, fmt.Errorf("archive: %d files, more than the limit of %d", len(idx.Files), lim.MaxFiles)
	}
	var total int64
	seen := map[string]bool{}
	for _, e := range idx.Files {
		if err := checkName(e.Name); err != nil {
			return nil, err
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("archive: %s is listed twice", e.Name)
		}
		seen[e.Name] = true
		if e.Size < 0 || e.Size > lim.MaxFile {
			return nil, fmt.Errorf("archive: %s is %d bytes, beyond the limit of %d per file", e.Name, e.Size, lim.MaxFile)
		}
		if total += e.Size; total > lim.MaxTotal {
			return nil, fmt.Errorf("archive: the files add up to more than the limit of %d bytes", lim.MaxTotal)
		}
	}
	if !seen[idx.Script] {
		return nil, fmt.Errorf("archive: the script %q is not among its files", idx.Script)
	}
	return &idx, nil
}

// checkHeader accepts a regular file the index lists, of the listed size.
func checkHeader(h *tar.Header, listed bool, e Entry) error {
	if err := checkName(h.Name); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeReg {
		return fmt.Errorf("archive: %s is not a regular file (tar type %q); links, devices and folders are refused", h.Name, h.Typeflag)
	}
	if !listed {
		return fmt.Errorf("archive: %s is not in the index (or comes twice)", h.Name)
	}
	if h.Size != e.Size {
		return fmt.Errorf("archive: %s is %d bytes, the index says %d", h.Name, h.Size, e.Size)
	}
	return nil
}

// unpackFile writes one file below dir, creating it (never following or
// replacing anything), and checks its hash.
func unpackFile(r io.Reader, dir string, e Entry) error {
	p := filepath.Join(dir, filepath.FromSlash(e.Name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", e.Name, err)
	}
	hw := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, hw), io.LimitReader(r, e.Size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("archive: %s: %w", e.Name, err)
	case n != e.Size:
		return fmt.Errorf("archive: %s: %w", e.Name, errors.New("truncated"))
	case hex.EncodeToString(hw.Sum(nil)) != e.SHA256:
		return fmt.Errorf("archive: %s does not match its SHA-256 in the index", e.Name)
	}
	return nil
}
