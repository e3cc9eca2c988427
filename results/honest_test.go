package results

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestExpectResultJSONHasNoNaN(t *testing.T) {
	// A missing value is null in report.json, and reads back as NaN.
	in := []ExpectResult{
		{Name: "p99", Bound: "< 20", Value: math.NaN(), Why: "matches no run: where timer=bogus"},
		{Name: "p99", Run: "timer=busy", Bound: "< 20", Value: 3.5, Pass: true},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "NaN") || !strings.Contains(string(b), `"Value":null`) {
		t.Errorf("JSON %s", b)
	}
	var out []ExpectResult
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(out[0].Value) || out[1].Value != 3.5 || !out[1].Pass || out[0].Why != in[0].Why {
		t.Errorf("read back %+v", out)
	}
}

func TestExpectationMatchingNoRun(t *testing.T) {
	below := 20.0
	e := Expectation{Name: "x", Metric: "err_p99_us", Where: map[string][]string{"timer": {"bogus"}}, Below: &below}
	res := e.Check([]Row{{ID: "r1", Params: map[string]string{"timer": "busy"}, Metrics: map[string]float64{"err_p99_us": 1}}})
	if len(res) != 1 || res[0].Pass || res[0].Why != "matches no run: where timer=bogus" {
		t.Errorf("results %+v", res)
	}
}

// resultFolder makes a folder with a manifest and the given report.json.
func resultFolder(t *testing.T, report string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"status":"ok","experiment":"e"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRenderReportConfined(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("SECRET"), 0o644)
	tests := []struct {
		name  string
		png   string
		setup func(dir string)
		ok    bool
	}{
		{name: "inside", png: "plots/a.png", setup: func(dir string) {
			os.MkdirAll(filepath.Join(dir, "plots"), 0o755)
			os.WriteFile(filepath.Join(dir, "plots", "a.png"), []byte("PNG"), 0o644)
		}, ok: true},
		{name: "dotdot", png: "../../../../etc/shadow"},
		{name: "dotdot inside", png: "plots/../../x.png"},
		{name: "absolute", png: outside},
		{name: "symlink out", png: "plots/a.png", setup: func(dir string) {
			os.MkdirAll(filepath.Join(dir, "plots"), 0o755)
			os.Symlink(outside, filepath.Join(dir, "plots", "a.png"))
		}},
		{name: "symlinked folder out", png: "plots/a.png", setup: func(dir string) {
			os.Symlink(filepath.Dir(outside), filepath.Join(dir, "plots"))
			os.WriteFile(filepath.Join(filepath.Dir(outside), "a.png"), []byte("SECRET"), 0o644)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(Report{Experiment: "e", Figures: []ReportFigure{{Name: "a", Title: "a", PNG: tc.png}}})
			dir := resultFolder(t, string(b))
			if tc.setup != nil {
				tc.setup(dir)
			}
			err := RenderReport(dir)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), strconv.Quote(tc.png)) {
				t.Errorf("err = %v, want a refusal naming %q", err, tc.png)
			}
			if html, _ := os.ReadFile(filepath.Join(dir, "report.html")); strings.Contains(string(html), "U0VDUkVU") {
				t.Errorf("report.html holds the outside file")
			}
		})
	}
}

func TestSweepTemps(t *testing.T) {
	// Temporary files of a writer that is gone are removed and listed;
	// those of a running writer (here this test) and other files stay.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "series"), 0o755)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	gone := strconv.Itoa(dead.Process.Pid)
	files := map[string]bool{ // name -> removed
		"series/.a.csv.tmp-" + gone + "-123":                    true,
		".manifest.json.tmp-" + gone + "-reserve":               true,
		".runs.csv.tmp-98765":                                   true, // an older labrun's name, no PID
		"series/.b.csv.tmp-" + strconv.Itoa(os.Getpid()) + "-1": false,
		"series/a.csv":  false,
		"runs.csv":      false,
		".hidden":       false,
		"x.tmp-" + gone: false,
	}
	for f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	left, err := SweepTemps(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range left {
		got = append(got, l.Path)
		if l.Size != 10 || !strings.Contains(l.String(), "10 B") {
			t.Errorf("leftover %v", l)
		}
	}
	for f, removed := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		if removed != errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: removed %v, want %v", f, err != nil, removed)
		}
		listed := false
		for _, g := range got {
			listed = listed || g == f
		}
		if listed != removed {
			t.Errorf("%s: listed %v, want %v (listed: %v)", f, listed, removed, got)
		}
	}
}

// tinyDisk mounts a tmpfs of size bytes, unmounted at the end of the test.
func tinyDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a small tmpfs to fill it (run the tests as root, as CI does)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes to path until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < 1<<20; i++ {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("the disk never filled")
}

func TestWriteManifestOnFullDisk(t *testing.T) {
	dir := tinyDisk(t, "256k")
	path := filepath.Join(dir, "manifest.json")
	m := &Manifest{Experiment: "e", Status: "running"}
	for i := range 20 {
		m.Runs = append(m.Runs, ManifestRun{Index: i, ID: strconv.Itoa(i), Status: "pending"})
	}
	if err := WriteManifest(path, m); err != nil {
		t.Fatal(err)
	}
	if err := Reserve(dir, 16<<10); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Join(dir, "filler"))
	// Other writes now fail, and say why.
	err := WriteFileAtomic(filepath.Join(dir, "runs.csv"), make([]byte, 8192))
	var df *DiskFullError
	if !errors.As(err, &df) || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "(ENOSPC)") {
		t.Errorf("write on a full disk: %v", err)
	}
	// The manifest's last version still gets written, from the reserve.
	m.Status, m.Error = "failed", err.Error()
	for i := range m.Runs {
		m.Runs[i].Status = "failed"
	}
	if err := WriteManifest(path, m); err != nil {
		t.Fatalf("last manifest on a full disk: %v", err)
	}
	var back Manifest
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &back); err != nil || back.Status != "failed" || !strings.Contains(back.Error, "ENOSPC") {
		t.Errorf("manifest %s: %v", b, err)
	}
	// Without a reserve left, it is overwritten in place.
	m.Status = "interrupted"
	if err := WriteManifest(path, m); err != nil {
		t.Fatalf("manifest in place on a full disk: %v", err)
	}
	b, _ = os.ReadFile(path)
	if err := json.Unmarshal(b, &back); err != nil || back.Status != "interrupted" {
		t.Errorf("manifest %s: %v", b, err)
	}
	// One that does not fit fails, said as such, and leaves the last one.
	m.Error = strings.Repeat("x", 64<<10)
	if err := WriteManifest(path, m); !errors.As(err, &df) {
		t.Errorf("a manifest too big for a full disk: %v", err)
	}
	b, _ = os.ReadFile(path)
	if err := json.Unmarshal(b, &back); err != nil || back.Status != "interrupted" {
		t.Errorf("manifest after a failed write: %.200s: %v", b, err)
	}
	if names := entries(t, dir); len(names) != 2 {
		t.Errorf("folder holds %v, want manifest.json and filler", names)
	}
}
