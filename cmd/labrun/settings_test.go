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

// The sysctl the ownership tests change: how often the kernel rate-limits
// its messages, harmless and on the allow list.
const ratelimit = "/proc/sys/kernel/printk_ratelimit"

func readRatelimit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(ratelimit)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// sysScript sets kernel.printk_ratelimit to the parameter v during a run
// long enough to be stopped or killed first (60 s at most).
const sysScript = `v = param("v", default = 5)
experiment(
    name = "sys",
    trace = trace.synthetic(count = 600000, interval = "100us"),
    timer = timer.firm(),
    kernel = kernel.settings(sysctls = {"kernel.printk_ratelimit": str(v)}),
)
`

// labrunProc is the test binary started as labrun.
type labrunProc struct {
	cmd    *exec.Cmd
	done   chan error
	stderr *strings.Builder
}

func startLabrun(t *testing.T, dir, state string, args ...string) *labrunProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LABRUN_AS_MAIN=1", "LABRUN_STATE_DIR="+state)
	p := &labrunProc{cmd: cmd, done: make(chan error, 1), stderr: &strings.Builder{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.end(syscall.SIGKILL) })
	return p
}

// end signals the process and waits for it, at most 20 s.
func (p *labrunProc) end(sig syscall.Signal) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		return fmt.Errorf("pid %d did not end within 20 s of %v", p.cmd.Process.Pid, sig)
	}
}

// holds reports whether the state folder has pid among the holders of a
// setting.
func holds(state string, pid int) bool {
	names, _ := filepath.Glob(filepath.Join(state, "setting-*.json"))
	for _, n := range names {
		var r struct {
			Holders []struct{ PID int } `json:"holders"`
		}
		b, err := os.ReadFile(n)
		if err != nil || json.Unmarshal(b, &r) != nil {
			continue
		}
		for _, h := range r.Holders {
			if h.PID == pid {
				return true
			}
		}
	}
	return false
}

func labrunOut(t *testing.T, dir, state string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LABRUN_AS_MAIN=1", "LABRUN_STATE_DIR="+state)
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(b)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(b)
}

// Two real labruns set kernel.printk_ratelimit to the same value through
// every start/stop/kill order: the machine's value is back at the end
// each time, and a third labrun wanting another value is refused naming
// the first one.
func TestSharedSysctlEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: changes kernel.printk_ratelimit for a few seconds (run the tests as root, as CI does)")
	}
	orig := readRatelimit(t)
	want, other := "7", "9"
	if orig == want {
		want = "8"
	}
	orders := [][]string{
		{"A stops", "B stops"},
		{"B stops", "A stops"},
		{"A killed", "B stops"},
		{"B killed", "A stops"},
		{"A killed", "B killed", "recover"},
		{"B killed", "A killed", "recover"},
	}
	for _, order := range orders {
		t.Run(strings.Join(order, ", "), func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, ".labrun"), nil, 0o644)
			os.WriteFile(filepath.Join(dir, "sys.star"), []byte(sysScript), 0o644)
			state := filepath.Join(dir, "state")
			procs := map[string]*labrunProc{}
			for _, who := range []string{"A", "B"} {
				p := startLabrun(t, dir, state, "run", "sys.star", "--allow-system", "--set", "v="+want, "-o", "out", "--quiet")
				if !poll(20*time.Second, func() bool { return holds(state, p.cmd.Process.Pid) && readRatelimit(t) == want }) {
					t.Fatalf("%s never held the setting: %s", who, p.stderr)
				}
				procs[who] = p
			}
			code, out := labrunOut(t, dir, state, "run", "sys.star", "--allow-system", "--set", "v="+other, "-o", "out", "--quiet")
			a := strconv.Itoa(procs["A"].cmd.Process.Pid)
			if code != 1 || !strings.Contains(out, "held at "+want+" by another labrun, pid "+a) || !strings.Contains(out, "sys.star") || readRatelimit(t) != want {
				t.Errorf("a labrun wanting %s: exit %d, value %s:\n%s\nwant it refused naming pid %s and its script", other, code, readRatelimit(t), out, a)
			}
			for i, step := range order {
				who, what, _ := strings.Cut(step, " ")
				switch what {
				case "stops":
					if err := procs[who].end(syscall.SIGINT); err != nil && procs[who].cmd.ProcessState.ExitCode() != 130 {
						t.Errorf("%s: %v: %s", step, err, procs[who].stderr)
					}
				case "killed":
					procs[who].end(syscall.SIGKILL)
				default:
					if code, out := labrunOut(t, dir, state, "recover"); code != 0 || !strings.Contains(out, "restored kernel.printk_ratelimit to "+orig) {
						t.Errorf("labrun recover: exit %d:\n%s", code, out)
					}
				}
				last := i == len(order)-1
				if got := readRatelimit(t); last && got != orig || !last && got != want {
					t.Errorf("after %q: printk_ratelimit = %s (machine's value %s, theirs %s)", strings.Join(order[:i+1], ", "), got, orig, want)
				}
			}
		})
	}
	if got := readRatelimit(t); got != orig {
		t.Errorf("printk_ratelimit %s after the test, was %s", got, orig)
	}
}

// deadOwner returns the identity of a process that has ended.
func deadOwner(t *testing.T) (int, uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return cmd.Process.Pid, start
}

// plan changes nothing: with a setting left by a killed labrun and the
// "running" manifest of a killed labrun pending, plan (and version) say
// recovery is pending and leave both files byte for byte; labrun recover
// then restores the setting and marks the manifest.
func TestPlanIsPure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: sets kernel.printk_ratelimit as a killed labrun would have left it (run the tests as root, as CI does)")
	}
	dir := inTempRoot(t, map[string]string{"sys.star": sysScript})
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o700)
	t.Setenv("LABRUN_STATE_DIR", state)
	orig := readRatelimit(t)
	left := "7"
	if orig == left {
		left = "8"
	}
	pid, start := deadOwner(t)
	record := filepath.Join(state, "setting-0123456789abcdef.json")
	rb := fmt.Sprintf(`{"setting": "kernel.printk_ratelimit", "path": %q, "old": %q, "new": %q, "holders": [{"pid": %d, "start": %d, "command": "labrun run sys.star"}]}`,
		ratelimit, orig, left, pid, start)
	os.WriteFile(record, []byte(rb), 0o600)
	if err := os.WriteFile(ratelimit, []byte(left), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(ratelimit, []byte(orig), 0o644) })
	manifest := filepath.Join(dir, "out", "manifest.json")
	os.MkdirAll(filepath.Dir(manifest), 0o755)
	mb := []byte(`{"status": "running", "runs": [{"index": 0, "status": "running"}]}`)
	os.WriteFile(manifest, mb, 0o644)
	note := filepath.Join(state, fmt.Sprintf("active-%d-%d.json", pid, start))
	nb := []byte(fmt.Sprintf(`{"owner": {"pid": %d, "start": %d}, "manifest": %q}`, pid, start, manifest))
	os.WriteFile(note, nb, 0o600)

	for _, args := range [][]string{{"plan", "sys.star"}, {"version"}} {
		code, _, stderr := run(t, args...)
		if code != 0 || !strings.Contains(stderr, "1 setting left changed by a killed labrun (kernel.printk_ratelimit) pending: run `labrun recover`") ||
			!strings.Contains(stderr, "1 manifest(s) of a killed labrun still say running") {
			t.Errorf("labrun %s: exit %d, stderr does not say recovery is pending:\n%s", args[0], code, stderr)
		}
		for path, want := range map[string][]byte{record: []byte(rb), manifest: mb, note: nb} {
			if b, err := os.ReadFile(path); err != nil || string(b) != string(want) {
				t.Errorf("labrun %s changed %s: %q (%v)", args[0], path, b, err)
			}
		}
		if got := readRatelimit(t); got != left {
			t.Errorf("labrun %s restored printk_ratelimit (%s)", args[0], got)
		}
	}
	code, stdout, stderr := run(t, "recover")
	if code != 0 || !strings.Contains(stderr, "restored kernel.printk_ratelimit to "+orig) || !strings.Contains(stderr, "marked "+filepath.Dir(manifest)+" interrupted") {
		t.Errorf("labrun recover: exit %d:\n%s%s", code, stdout, stderr)
	}
	if got := readRatelimit(t); got != orig {
		t.Errorf("printk_ratelimit %s after recover, want %s", got, orig)
	}
	var m results.Manifest
	if b, err := os.ReadFile(manifest); err != nil || json.Unmarshal(b, &m) != nil || m.Status != "interrupted" {
		t.Errorf("manifest after recover: %s", b)
	}
	if names, _ := filepath.Glob(filepath.Join(state, "*.json")); len(names) != 0 {
		t.Errorf("state files left after recover: %v", names)
	}
	if code, stdout, _ := run(t, "recover"); code != 0 || !strings.Contains(stdout, "nothing to recover") {
		t.Errorf("a second recover: exit %d, %s", code, stdout)
	}
}

// A dangerous sysctl is refused at run start (exit 3, naming the script
// position, the key and the flag) before anything changes; plan shows the
// risk and fails the same way; --allow-sysctl lets plan through.
func TestDangerousSysctlRefused(t *testing.T) {
	inTempRoot(t, map[string]string{"core.star": `experiment(
    name = "core",
    trace = trace.synthetic(count = 10, interval = "1ms"),
    timer = timer.busy(),
    kernel = kernel.settings(sysctls = {"kernel.core_pattern": "|/bin/sh -c id>/tmp/x"}),
)
`})
	t.Setenv("LABRUN_STATE_DIR", filepath.Join(t.TempDir(), "state"))
	before, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	code, _, stderr := run(t, "run", "core.star", "--allow-system", "-o", "out", "--quiet")
	if code != 3 || !strings.Contains(stderr, "core.star:5:") || !strings.Contains(stderr, "--allow-sysctl kernel.core_pattern") {
		t.Errorf("run with --allow-system alone: exit %d:\n%s", code, stderr)
	}
	if after, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); string(after) != string(before) {
		t.Fatalf("core_pattern changed: %q -> %q", before, after)
	}
	if _, err := os.Stat("out"); err == nil {
		t.Errorf("a result folder was made for a refused run")
	}
	code, stdout, stderr := run(t, "plan", "core.star")
	if code != 3 || !strings.Contains(stdout, "risk: dangerous: needs --allow-sysctl kernel.core_pattern") || !strings.Contains(stderr, "--allow-sysctl kernel.core_pattern") {
		t.Errorf("plan: exit %d:\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "plan", "core.star", "--allow-sysctl", "kernel.core_pattern")
	if code != 0 || !strings.Contains(stdout, "risk: dangerous: allowed by --allow-sysctl kernel.core_pattern") {
		t.Errorf("plan --allow-sysctl: exit %d:\n%s", code, stdout)
	}
	if code, _, stderr := run(t, "plan", "core.star", "--allow-sysctl", "Kernel/x"); code != 2 || !strings.Contains(stderr, "not a sysctl key") {
		t.Errorf("a malformed --allow-sysctl: exit %d: %s", code, stderr)
	}
}
