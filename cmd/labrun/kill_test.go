package main

import (
	"bufio"
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

	"golang.org/x/sys/unix"

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
const killSysctl = "/proc/sys/net/core/netdev_max_backlog"

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

// killScript sets a sysctl, holds cpu_dma_latency, runs SCHED_FIFO and
// has a memory load; its second run takes 30 s.
const killScript = `experiment(
    name = "k",
    trace = trace.synthetic(count = sweep.axis("count", [500, 300000]), interval = "100us"),
    timer = timer.firm(),
    background = [background.vm("16MiB")],
    kernel = kernel.settings(sched = "fifo", priority = 10, dma_latency = "0us", sysctls = {"net.core.netdev_max_backlog": "%d"}),
)
`

// killWireScript sets a sysctl and sends on a veth pair between network
// namespaces of its own.
const killWireScript = `experiment(
    name = "k",
    trace = trace.synthetic(count = sweep.axis("count", [500, 300000]), interval = "100us", frame = "100B"),
    sender = sender.labrun(timer = timer.busy(), sink = sink.afpacket()),
    topology = topology.veth(rps = 0),
    receiver = receiver.afpacket(),
    kernel = kernel.settings(sysctls = {"net.core.netdev_max_backlog": "%d"}),
)
`

// killRun is a labrun run started for a kill test (killScript or
// killWireScript).
type killRun struct {
	cmd    *exec.Cmd
	done   chan error
	out    string   // the -o folder
	env    []string // the environment, with a state folder of the test's own
	old    string   // netdev_max_backlog before
	stderr strings.Builder
}

// startKillRun starts labrun on the kill script; output, when given, gets
// its standard output and error (else stderr is kept and --quiet given).
func startKillRun(t *testing.T, output *os.File, wire bool) *killRun {
	t.Helper()
	k := &killRun{old: readSysctl(t), done: make(chan error, 1)}
	n, _ := strconv.Atoi(k.old)
	dir := t.TempDir()
	script := fmt.Sprintf(killScript, n+1)
	if wire {
		script = fmt.Sprintf(killWireScript, n+1)
	}
	os.WriteFile(filepath.Join(dir, ".labrun"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "k.star"), []byte(script), 0o644)
	k.out = filepath.Join(dir, "out")
	args := []string{"run", "k.star", "-o", k.out, "--allow-system"}
	if output == nil {
		args = append(args, "--quiet")
	}
	k.cmd = exec.Command(os.Args[0], args...)
	k.cmd.Dir = dir
	// A state folder (undo journals, notes of running invocations) of the
	// test's own: a labrun of someone else on the machine must not be the
	// one that restores what this test's killed labrun left.
	k.env = append(os.Environ(), "LABRUN_AS_MAIN=1", "LABRUN_STATE_DIR="+filepath.Join(dir, "state"))
	k.cmd.Env = k.env
	if output != nil {
		k.cmd.Stdout, k.cmd.Stderr = output, output
	} else {
		k.cmd.Stderr = &k.stderr
	}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { k.done <- k.cmd.Wait() }()
	// The second run is under way: the first finished, the sysctl is set,
	// the load runs (or the namespaces are up).
	running := func() bool { return len(loadChildren()) > 0 }
	if wire {
		running = func() bool { return len(k.namespaces()) > 0 }
	}
	ok := poll(20*time.Second, func() bool {
		m, _ := readKillManifest(t, k.out)
		return len(m.Runs) == 2 && m.Runs[0].Status == "ok" && m.Runs[1].Status != "ok" && readSysctl(t) == strconv.Itoa(n+1) && running()
	})
	if !ok {
		k.cmd.Process.Kill()
		<-k.done
		t.Fatalf("the run never reached its second run with the sysctl set and a load running (or namespaces up): %s", k.stderr.String())
	}
	return k
}

// namespaces lists the network namespaces of the labrun.
func (k *killRun) namespaces() []string {
	ns, _ := filepath.Glob("/run/netns/lr-" + strconv.Itoa(k.cmd.Process.Pid) + "-*")
	return ns
}

// wait waits for labrun to end, within a bound, and returns its exit code.
func (k *killRun) wait(t *testing.T, why string) int {
	t.Helper()
	select {
	case <-k.done:
	case <-time.After(60 * time.Second):
		k.cmd.Process.Kill()
		<-k.done
		t.Fatalf("labrun did not end within 60 s of %s", why)
	}
	return k.cmd.ProcessState.ExitCode()
}

// checkRestored checks the machine is as it was and the folder honest:
// the sysctl has its old value, no load process or namespace is left, no
// temporary file, and the manifest says interrupted with the first run ok.
func (k *killRun) checkRestored(t *testing.T, why string) results.Manifest {
	t.Helper()
	if got := readSysctl(t); got != k.old {
		t.Errorf("after %s: netdev_max_backlog is %s, was %s", why, got, k.old)
	}
	if !poll(30*time.Second, func() bool { return len(loadChildren()) == 0 }) {
		t.Errorf("after %s: load processes left: %v", why, loadChildren())
	}
	if ns := k.namespaces(); len(ns) > 0 {
		t.Errorf("after %s: namespaces left: %v", why, ns)
	}
	m, path := readKillManifest(t, k.out)
	if m.Status != "interrupted" || len(m.Runs) != 2 || m.Runs[0].Status != "ok" {
		t.Errorf("after %s: manifest status %q, runs %+v", why, m.Status, m.Runs)
	}
	if path != "" {
		filepath.WalkDir(filepath.Dir(path), func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.Contains(d.Name(), ".tmp-") {
				t.Errorf("after %s: temporary file left: %s", why, p)
			}
			return nil
		})
	}
	return m
}

// The kill tests: the run is interrupted by SIGINT, SIGTERM, SIGHUP and
// SIGQUIT, and killed by SIGKILL followed by another labrun command.
// Afterwards the machine is as it was (checkRestored).
func TestKillRestores(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: changes a sysctl, holds cpu_dma_latency, runs SCHED_FIFO (run the tests as root, as CI does)")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			k := startKillRun(t, nil, false)
			k.cmd.Process.Signal(sig)
			code := k.wait(t, sig.String())
			var left string
			if sig == syscall.SIGKILL {
				// A series being written when the kill came.
				m, path := readKillManifest(t, k.out)
				left = filepath.Join(filepath.Dir(path), "series", "."+m.Runs[1].ID+".csv.tmp-"+strconv.Itoa(k.cmd.Process.Pid)+"-7")
				if err := os.WriteFile(left, make([]byte, 4096), 0o644); err != nil {
					t.Fatal(err)
				}
				// labrun version only says what is pending; labrun recover
				// restores what the killed one left.
				v := exec.Command(os.Args[0], "version")
				v.Env = k.env
				b, err := v.CombinedOutput()
				if err != nil {
					t.Fatalf("labrun version: %v: %s", err, b)
				}
				if !strings.Contains(string(b), "(net.core.netdev_max_backlog) pending: run `labrun recover`") || readSysctl(t) == k.old {
					t.Errorf("labrun version after the kill does not say what is pending, or changed it (netdev_max_backlog %s):\n%s", readSysctl(t), b)
				}
				v = exec.Command(os.Args[0], "recover")
				v.Env = k.env
				b, err = v.CombinedOutput()
				if err != nil {
					t.Fatalf("labrun recover: %v: %s", err, b)
				}
				if !strings.Contains(string(b), "restored net.core.netdev_max_backlog to "+k.old) || !strings.Contains(string(b), "interrupted") {
					t.Errorf("labrun recover after the kill does not say what it restored:\n%s", b)
				}
			} else if code != 130 {
				t.Errorf("after %v: exit %d, want 130: %s", sig, code, k.stderr.String())
			}
			m := k.checkRestored(t, sig.String())
			switch sig {
			case syscall.SIGKILL:
				if !strings.Contains(m.Error, "removed the temporary files it left: ") || !strings.Contains(m.Error, "series/.") || !strings.Contains(m.Error, "(4.1 kB)") {
					t.Errorf("the manifest does not say which temporary file was removed: %s", m.Error)
				}
			case syscall.SIGINT:
			default:
				if m.Error != "interrupted by "+unix.SignalName(sig) {
					t.Errorf("manifest error %q", m.Error)
				}
			}
			if sig == syscall.SIGQUIT && !strings.Contains(k.stderr.String(), "goroutine ") {
				t.Errorf("SIGQUIT did not show the goroutines:\n%s", k.stderr.String())
			}
		})
	}
}

// The reader of labrun's output goes away (labrun run x.star 2>&1 | head -1):
// labrun stops printing, stops the run, undoes it and says interrupted,
// on the host and on the wire.
func TestClosedOutputRestores(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: changes a sysctl, holds cpu_dma_latency, runs SCHED_FIFO, builds namespaces (run the tests as root, as CI does)")
	}
	for _, wire := range []bool{false, true} {
		t.Run(map[bool]string{false: "host", true: "wire"}[wire], func(t *testing.T) {
			if _, err := exec.LookPath("ip"); wire && err != nil {
				t.Skip("needs ip (iproute2) to build namespaces")
			}
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			first := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(r).ReadString('\n')
				first <- line
			}()
			k := startKillRun(t, w, wire)
			w.Close()
			if line := <-first; line == "" {
				t.Errorf("labrun printed nothing")
			}
			r.Close() // head -1 exits
			if code := k.wait(t, "the output closed"); code != 130 {
				t.Errorf("exit %d, want 130", code)
			}
			m := k.checkRestored(t, "the output closed")
			if !strings.Contains(m.Error, "was closed (the reader went away)") {
				t.Errorf("manifest error %q", m.Error)
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
    kernel = kernel.settings(dma_latency = "0us", rt_runtime = -1, sysctls = {"net.core.netdev_max_backlog": "%d"}),
)
`, n+1)})
	code, stdout, stderr := run(t, "run", "s.star", "-o", "out", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := readSysctl(t); got != old {
		t.Fatalf("netdev_max_backlog changed without --allow-system: %s -> %s", old, got)
	}
	for _, want := range []string{"net.core.netdev_max_backlog", "skipped", "needs --allow-system", "rt_runtime"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("settings lack %q:\n%s", want, stdout)
		}
	}
}
