package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrun/labrun/results"
)

// TestMain lets the test binary stand in for labrun: with LABRUN_AS_MAIN
// set it runs Main (and the hidden background-load command), so the kill
// tests can start it, signal it and kill it like the real binary.
func TestMain(m *testing.M) {
	if os.Getenv("LABRUN_AS_MAIN") == "1" {
		loadChild(os.Args[1:])
		e := &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}
		os.Exit(Main(e, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// The sysctl the kill tests change: the host's listen backlog limit,
// raised by one for a few seconds.
const killSysctl = "/proc/sys/net/core/somaxconn"

func readSysctl(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(killSysctl)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// loadChildren lists the processes running labrun's hidden load command.
func loadChildren() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "\x00__load\x00") {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// poll calls cond every 20 ms until it holds or bound passes.
func poll(bound time.Duration, cond func() bool) bool {
	for end := time.Now().Add(bound); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func readKillManifest(t *testing.T, out string) (results.Manifest, string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(out, "k", "*", "manifest.json"))
	if len(m) != 1 {
		return results.Manifest{}, ""
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		return results.Manifest{}, ""
	}
	var man results.Manifest
	if json.Unmarshal(b, &man) != nil {
		return results.Manifest{}, ""
	}
	return man, m[0]
}

// The kill tests: a run that sets a sysctl, holds cpu_dma_latency, runs
// SCHED_FIFO and has a memory load is interrupted by SIGINT, by SIGTERM,
// and killed by SIGKILL followed by another labrun command. Afterwards the
// sysctl has its old value, no load process is left, no namespace of
// labrun's exists, and the manifest says interrupted with the first run
// (which finished) ok.
func TestKillRestores(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: changes a sysctl, holds cpu_dma_latency, runs SCHED_FIFO (run the tests as root, as CI does)")
	}
	old := readSysctl(t)
	n, _ := strconv.Atoi(old)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			script := fmt.Sprintf(`experiment(
    name = "k",
    trace = trace.synthetic(count = sweep.axis("count", [500, 300000]), interval = "100us"),
    timer = timer.firm(),
    background = [background.vm("16MiB")],
    kernel = kernel.settings(sched = "fifo", priority = 10, dma_latency = "0us", sysctls = {"net.core.somaxconn": "%d"}),
)
`, n+1)
			os.WriteFile(filepath.Join(dir, ".labrun"), nil, 0o644)
			os.WriteFile(filepath.Join(dir, "k.star"), []byte(script), 0o644)
			out := filepath.Join(dir, "out")
			cmd := exec.Command(os.Args[0], "run", "k.star", "-o", out, "--allow-system", "--quiet")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "LABRUN_AS_MAIN=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// The second run is under way: the first finished, the sysctl
			// is set, the load runs.
			ok := poll(20*time.Second, func() bool {
				m, _ := readKillManifest(t, out)
				return len(m.Runs) == 2 && m.Runs[0].Status == "ok" && m.Runs[1].Status != "ok" && readSysctl(t) == strconv.Itoa(n+1) && len(loadChildren()) > 0
			})
			if !ok {
				cmd.Process.Kill()
				<-done
				t.Fatalf("the run never reached its second run with the sysctl set and a load running: %s", stderr.String())
			}
			cmd.Process.Signal(sig)
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("labrun did not end within 60 s of %v", sig)
			}
			if sig == syscall.SIGKILL {
				// Any labrun command restores what the killed one left.
				v := exec.Command(os.Args[0], "version")
				v.Env = append(os.Environ(), "LABRUN_AS_MAIN=1")
				b, err := v.CombinedOutput()
				if err != nil {
					t.Fatalf("labrun version: %v: %s", err, b)
				}
				if !strings.Contains(string(b), "restored net.core.somaxconn to "+old) || !strings.Contains(string(b), "interrupted") {
					t.Errorf("labrun version after the kill does not say what it restored:\n%s", b)
				}
			}
			if got := readSysctl(t); got != old {
				t.Errorf("after %v: somaxconn is %s, was %s", sig, got, old)
			}
			if !poll(30*time.Second, func() bool { return len(loadChildren()) == 0 }) {
				t.Errorf("after %v: load processes left: %v", sig, loadChildren())
			}
			if ns, _ := filepath.Glob("/run/netns/lr-" + strconv.Itoa(cmd.Process.Pid) + "-*"); len(ns) > 0 {
				t.Errorf("after %v: namespaces left: %v", sig, ns)
			}
			m, _ := readKillManifest(t, out)
			if m.Status != "interrupted" || len(m.Runs) != 2 || m.Runs[0].Status != "ok" {
				t.Errorf("after %v: manifest status %q, runs %+v", sig, m.Status, m.Runs)
			}
		})
	}
}

// Without --allow-system nothing system-wide changes, and the settings
// say so.
func TestNoAllowSystemChangesNothing(t *testing.T) {
	old := readSysctl(t)
	n, _ := strconv.Atoi(old)
	inTempRoot(t, map[string]string{"s.star": fmt.Sprintf(`experiment(
    name = "s",
    trace = trace.synthetic(count = 100, interval = "100us"),
    timer = timer.busy(),
    kernel = kernel.settings(dma_latency = "0us", rt_runtime = -1, sysctls = {"net.core.somaxconn": "%d"}),
)
`, n+1)})
	code, stdout, stderr := run(t, "run", "s.star", "-o", "out", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := readSysctl(t); got != old {
		t.Fatalf("somaxconn changed without --allow-system: %s -> %s", old, got)
	}
	for _, want := range []string{"net.core.somaxconn", "skipped", "needs --allow-system", "rt_runtime"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("settings lack %q:\n%s", want, stdout)
		}
	}
}
