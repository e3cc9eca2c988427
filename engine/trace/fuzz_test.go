package trace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds adds the shared captures of a format (their first 512 bytes:
// the fuzzer minimises every input that finds new code for up to a
// minute, in time that grows with the square of its size) and the small
// hand-made ones to f's corpus.
func fuzzSeeds(f *testing.F, ng bool) {
	files, _ := filepath.Glob(filepath.Join(tracesDir, "*.pcap*"))
	for _, p := range files {
		if strings.HasSuffix(p, ".pcapng") != ng {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f.Add(data[:min(len(data), 512)])
	}
	for _, c := range craftCases {
		data, _ := c.build()
		if len(data) >= 4 && (string(data[:4]) == "\n\r\r\n") == ng && len(data) <= 512 {
			f.Add(data)
		}
	}
}

// fuzzDir is where the fuzz targets write their inputs: tmpfs if the
// machine has one at /dev/shm (truncating and rewriting a file there
// takes microseconds, on ext4 a tenth of a millisecond), else a
// temporary directory.
func fuzzDir(f *testing.F) string {
	dir, err := os.MkdirTemp("/dev/shm", "labrun-fuzz-")
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// maxFuzzInput bounds the bytes of an input that are read. The fuzzer
// minimises every input that reaches new code, for up to a minute (the
// default -fuzzminimizetime) and in a number of runs that grows with the
// square of its length; while it does, nothing else is fuzzed. Longer
// inputs (which the mutator makes) would spend a 60 s run minimising.
const maxFuzzInput = 1024

// fuzzRead returns a fuzz function that writes its input to a file in
// dir (one worker runs inputs one at a time) and reads it with both
// readers, the mmap one through a one-page window: no panic, a bounded
// number of records (readAll), and the same records and errors. Lenient
// reads, which end the same reads the same way, are left to the other
// tests: they would halve the fuzzer's speed.
func fuzzRead(dir string) func(t *testing.T, data []byte) {
	path := filepath.Join(dir, "fuzz.cap")
	return func(t *testing.T, data []byte) {
		data = data[:min(len(data), maxFuzzInput)]
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		compare(t, path, 4096, false)
	}
}

// FuzzPcap fuzzes the classic pcap readers.
func FuzzPcap(f *testing.F) {
	fuzzSeeds(f, false)
	dir := fuzzDir(f)
	f.Fuzz(fuzzRead(dir))
}

// FuzzPcapng fuzzes the pcapng readers.
func FuzzPcapng(f *testing.F) {
	fuzzSeeds(f, true)
	dir := fuzzDir(f)
	f.Fuzz(fuzzRead(dir))
}
