package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mlockScript is a small wire run, with or without mlock.
const mlockScript = `mlock = param("mlock", default = False)
experiment(
    name = "m",
    trace = trace.synthetic(count = 2000, interval = "20us", frame = "100B", flows = 1),
    sender = sender.labrun(timer = timer.busy(), sink = sink.afpacket()),
    topology = topology.veth(rps = 0),
    receiver = receiver.afpacket(),
    kernel = kernel.settings(mlock = mlock),
)
`

// mlock = True locks what the run touches, not what the Go runtime has
// mapped: a wire run's peak RSS stays within twice that of the same run
// without mlock (it used to be over 4 GB against about 30 MB). Each run
// is a child process (the test binary as labrun), measured by its own
// rusage.
func TestMlockPeakRSS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a wire run builds network namespaces, and mlock needs root or a large RLIMIT_MEMLOCK (run the tests as root, as CI does)")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".labrun"), nil, 0o644)
	if err := os.WriteFile(filepath.Join(dir, "m.star"), []byte(mlockScript), 0o644); err != nil {
		t.Fatal(err)
	}
	maxRSS := map[string]int64{} // KiB
	for _, mlock := range []string{"False", "True"} {
		out := filepath.Join(dir, "out-"+mlock)
		cmd := exec.Command(os.Args[0], "run", "m.star", "--set", "mlock="+mlock, "-o", out)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LABRUN_AS_MAIN=1")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mlock = %s: %v\n%s", mlock, err, b)
		}
		maxRSS[mlock] = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
		if applied := strings.Contains(string(b), "mlock = current+future, on fault: applied"); applied != (mlock == "True") {
			t.Fatalf("mlock = %s: applied %v, says the run:\n%s", mlock, applied, b)
		}
	}
	t.Logf("peak RSS: %d KiB without mlock, %d KiB with", maxRSS["False"], maxRSS["True"])
	if maxRSS["True"] > 2*maxRSS["False"] {
		t.Errorf("peak RSS with mlock %d KiB > 2 x %d KiB without", maxRSS["True"], maxRSS["False"])
	}
}
