package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, s := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	src := t.TempDir()
	write(t, src, map[string]string{
		"exp.star": `load("@b//lib.star", "X")`, "labrun.lock": "{}", "data/gaps.txt": "1 2 3",
		"cache/b/lib.star": "X = 1", "runs/r1/manifest.json": "{}", "runs/r1/runs.csv": "a,b\n",
	})
	files := []File{
		{"exp.star", filepath.Join(src, "exp.star")},
		{"labrun.lock", filepath.Join(src, "labrun.lock")},
		{"data/gaps.txt", filepath.Join(src, "data/gaps.txt")},
		{"modules/b/lib.star", filepath.Join(src, "cache/b/lib.star")},
	}
	res, err := AddDir("result", filepath.Join(src, "runs/r1"))
	if err != nil {
		t.Fatal(err)
	}
	var buf, again bytes.Buffer
	idx, err := Write(&buf, "exp.star", append(files, res...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(&again, "exp.star", append(res, files...)); err != nil || !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("the same files in another order made another archive (%v)", err)
	}
	dst := filepath.Join(t.TempDir(), "x")
	got, err := Unpack(bytes.NewReader(buf.Bytes()), dst, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got.Script != "exp.star" || len(got.Files) != 6 || len(idx.Files) != 6 {
		t.Fatalf("index %+v", got)
	}
	for name, want := range map[string]string{"exp.star": `load("@b//lib.star", "X")`, "modules/b/lib.star": "X = 1", "result/runs.csv": "a,b\n"} {
		if data, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(data) != want {
			t.Errorf("%s: %q, %v", name, data, err)
		}
	}
}

func TestWriteRefuses(t *testing.T) {
	src := t.TempDir()
	write(t, src, map[string]string{"a.star": ""})
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	for _, tc := range []struct {
		files []File
		want  string
	}{
		{[]File{{"../a.star", filepath.Join(src, "a.star")}}, "leads outside"},
		{[]File{{"/a.star", filepath.Join(src, "a.star")}}, "absolute"},
		{[]File{{"a.star", filepath.Join(src, "a.star")}, {"a.star", filepath.Join(src, "a.star")}}, "twice"},
		{[]File{{"a.star", filepath.Join(src, "link")}}, "not a regular file"},
		{[]File{{"b.star", filepath.Join(src, "a.star")}}, "script a.star is not among"},
	} {
		if _, err := Write(&bytes.Buffer{}, "a.star", tc.files); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.files, err, tc.want)
		}
	}
}

// raw is one tar entry of a hand-made archive.
type raw struct {
	hdr  tar.Header
	body string
}

// forge makes a tar.gz with an index listing entries (as the index
// claims) followed by the given raw entries.
func forge(t *testing.T, listed []Entry, entries []raw) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	idx, _ := json.Marshal(Index{Format: Format, Script: "a.star", Files: listed})
	all := append([]raw{{tar.Header{Name: IndexName, Typeflag: tar.TypeReg, Size: int64(len(idx)), Mode: 0o644}, string(idx)}}, entries...)
	for _, e := range all {
		h := e.hdr
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func entry(name, body string) Entry {
	s := sha256.Sum256([]byte(body))
	return Entry{name, int64(len(body)), hex.EncodeToString(s[:])}
}

func reg(name, body string) raw {
	return raw{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, body}
}

func TestUnpackRefusesMaliciousArchives(t *testing.T) {
	a := entry("a.star", "x = 1")
	small := Limits{MaxFiles: 3, MaxFile: 100, MaxTotal: 150}
	for _, tc := range []struct {
		name   string
		listed []Entry
		ents   []raw
		want   string
	}{
		{"dot-dot in the index", []Entry{a, entry("../evil", "x")}, []raw{reg("a.star", "x = 1"), reg("../evil", "x")}, "leads outside"},
		{"dot-dot not in the index", []Entry{a}, []raw{reg("a.star", "x = 1"), reg("x/../../evil", "x")}, "not a clean"},
		{"absolute path", []Entry{a}, []raw{reg("a.star", "x = 1"), reg("/tmp/evil", "x")}, "absolute"},
		{"symbolic link out", []Entry{a, entry("l", "")}, []raw{{tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, ""}}, "not a regular file"},
		{"hard link", []Entry{a, entry("h", "")}, []raw{reg("a.star", "x = 1"), {tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "a.star"}, ""}}, "not a regular file"},
		{"device", []Entry{a, entry("d", "")}, []raw{{tar.Header{Name: "d", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, ""}}, "not a regular file"},
		{"a file not listed", []Entry{a}, []raw{reg("a.star", "x = 1"), reg("extra", "x")}, "not in the index"},
		{"a file twice", []Entry{a}, []raw{reg("a.star", "x = 1"), reg("a.star", "x = 1")}, "not in the index (or comes twice)"},
		{"content not as hashed", []Entry{a}, []raw{reg("a.star", "x = 2")}, "does not match its SHA-256"},
		{"size not as listed", []Entry{a}, []raw{reg("a.star", "x = 11")}, "the index says 5"},
		{"a listed file missing", []Entry{a, entry("b", "y")}, []raw{reg("a.star", "x = 1")}, "b is in the index but not in the archive"},
		{"a file too large", []Entry{a, entry("big", strings.Repeat("x", 101))}, nil, "beyond the limit of 100 per file"},
		{"too much in all", []Entry{a, entry("b1", strings.Repeat("x", 80)), entry("b2", strings.Repeat("x", 80))}, nil, "add up to more than"},
		{"too many files", []Entry{a, entry("1", ""), entry("2", ""), entry("3", "")}, nil, "4 files, more than the limit of 3"},
		{"no script", []Entry{entry("b", "")}, []raw{reg("b", "")}, `script "a.star" is not among`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "x")
			_, err := Unpack(bytes.NewReader(forge(t, tc.listed, tc.ents)), dst, small)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, serr := os.Lstat(dst); !os.IsNotExist(serr) {
				t.Errorf("the folder was left behind after a refusal")
			}
		})
	}
	// Not an archive, and no index first.
	if _, err := Unpack(strings.NewReader("plain text"), filepath.Join(t.TempDir(), "x"), small); err == nil || !strings.Contains(err.Error(), "not a tar.gz") {
		t.Errorf("plain text: %v", err)
	}
	// An existing folder is never written into.
	if _, err := Unpack(bytes.NewReader(forge(t, []Entry{a}, []raw{reg("a.star", "x = 1")})), t.TempDir(), small); err == nil || !strings.Contains(err.Error(), "new folder") {
		t.Errorf("existing folder: %v", err)
	}
}
