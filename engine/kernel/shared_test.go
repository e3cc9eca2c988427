package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// holdChildEnv makes the test binary a labrun stand-in for the ownership
// tests: "<sysctl root or empty for /proc/sys>|<key>|<value>".
const holdChildEnv = "LABRUN_KERNEL_TEST_HOLD_CHILD"

// TestHoldChild is the child of the ownership tests; otherwise it skips.
// It applies key = value, says APPLIED (or REFUSED and the error), waits
// for its stdin to close, undoes and says UNDONE.
func TestHoldChild(t *testing.T) {
	spec := os.Getenv(holdChildEnv)
	if spec == "" {
		t.Skip("only run as the child of the ownership tests")
	}
	f := strings.SplitN(spec, "|", 3)
	if f[0] != "" {
		sysctlRoot = f[0]
	}
	out, undo, err := ApplySystem(SystemSettings{Sysctls: []Sysctl{{f[1], f[2]}}}, Permit{System: true}, nil)
	if err != nil {
		fmt.Printf("REFUSED %v\n", err)
		return
	}
	if len(out) != 1 || out[0].State != Applied {
		fmt.Printf("FAILED %+v\n", out)
		return
	}
	fmt.Println("APPLIED")
	io.Copy(io.Discard, os.Stdin)
	undo()
	fmt.Println("UNDONE")
}

// holdProc is a child holding a setting.
type holdProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	first string // APPLIED, REFUSED ... or FAILED ...
}

func startHold(t *testing.T, root, state, key, value string) *holdProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdChildEnv+"="+root+"|"+key+"|"+value, "LABRUN_STATE_DIR="+state)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &holdProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() { p.kill() })
	// The first line comes once the setting is applied or refused: a
	// pipe read, bounded by the child's own end.
	for p.out.Scan() {
		if l := p.out.Text(); strings.HasPrefix(l, "APPLIED") || strings.HasPrefix(l, "REFUSED") || strings.HasPrefix(l, "FAILED") {
			p.first = l
			break
		}
	}
	return p
}

// stop ends the child the orderly way: it undoes and exits.
func (p *holdProc) stop(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	undone := false
	for p.out.Scan() {
		undone = undone || p.out.Text() == "UNDONE"
	}
	if err := p.cmd.Wait(); err != nil || !undone {
		t.Errorf("child %d did not end cleanly: %v (undone %v)", p.cmd.Process.Pid, err, undone)
	}
}

// kill ends the child with SIGKILL, as kill -9 would.
func (p *holdProc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.stdin.Close()
		p.cmd.Wait()
	}
}

// sharedOrders are the start/stop/kill orders of two labruns A and B
// holding the same setting: after each step the setting must be the value
// they want while one of them lives, and the machine's value after the
// last step. "recover" runs Recover, as `labrun recover` does.
var sharedOrders = [][]string{
	{"A stops", "B stops"},
	{"B stops", "A stops"},
	{"A killed", "B stops"},
	{"B killed", "A stops"},
	{"A killed", "B killed", "recover"},
	{"B killed", "A killed", "recover"},
}

// testShared runs every order on the file of key under root ("" = the
// real /proc/sys): A and B want want, a third labrun wanting other is
// refused naming A, and the original value is back at the end.
func testShared(t *testing.T, root, key, want, other string) {
	path := sysctlPath(key)
	orig := strings.TrimSpace(readTestFile(t, path))
	cur := func() string { return strings.TrimSpace(readTestFile(t, path)) }
	for _, order := range sharedOrders {
		t.Run(strings.Join(order, ", "), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			a := startHold(t, root, state, key, want)
			b := startHold(t, root, state, key, want)
			if a.first != "APPLIED" || b.first != "APPLIED" || cur() != want {
				t.Fatalf("A: %s, B: %s, %s = %s; want both applied and %s", a.first, b.first, key, cur(), want)
			}
			c := startHold(t, root, state, key, other)
			if !strings.HasPrefix(c.first, "REFUSED") || !strings.Contains(c.first, "pid "+strconv.Itoa(a.cmd.Process.Pid)) || cur() != want {
				t.Errorf("a third labrun wanting %s: %q, %s = %s; want it refused naming A (pid %d)", other, c.first, key, cur(), a.cmd.Process.Pid)
			}
			c.kill()
			procs := map[string]*holdProc{"A": a, "B": b}
			for i, step := range order {
				who, what, _ := strings.Cut(step, " ")
				switch what {
				case "stops":
					procs[who].stop(t)
				case "killed":
					procs[who].kill()
				default:
					if _, err := Recover(state); err != nil {
						t.Errorf("Recover: %v", err)
					}
				}
				last := i == len(order)-1
				if got := cur(); last && got != orig || !last && got != want {
					t.Errorf("after %q: %s = %s (machine's value %s, theirs %s)", strings.Join(order[:i+1], ", "), key, got, orig, want)
				}
			}
			if recs := records2(t, state); len(recs) != 0 {
				t.Errorf("records left: %v", recs)
			}
		})
	}
}

// Two labruns on one setting in a temporary tree, through every order.
func TestSharedTree(t *testing.T) {
	root := tree(t, map[string]string{"sys/kernel/printk_ratelimit": "5\n"})
	testShared(t, filepath.Join(root, "sys"), "kernel.printk_ratelimit", "7", "9")
}

// As root, the same on the real kernel.printk_ratelimit_burst (a harmless
// key of the allow list: how many messages the kernel lets through before
// it rate-limits). cmd/labrun's end-to-end test uses printk_ratelimit and
// its kill tests netdev_max_backlog, and go test runs packages side by
// side: each test has a key of its own.
func TestSharedProc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: changes kernel.printk_ratelimit for a moment (run the tests as root, as CI does)")
	}
	orig := strings.TrimSpace(readTestFile(t, "/proc/sys/kernel/printk_ratelimit_burst"))
	want, other := "7", "9"
	if orig == want {
		want = "8"
	}
	testShared(t, "", "kernel.printk_ratelimit_burst", want, other)
}

// Conflict sees, without changing anything, a setting another live labrun
// holds at another value; the same value, or a dead holder, is none.
func TestConflict(t *testing.T) {
	root := tree(t, map[string]string{"sys/kernel/printk_ratelimit": "5\n"})
	state := filepath.Join(t.TempDir(), "state")
	s := func(v string) SystemSettings {
		return SystemSettings{Sysctls: []Sysctl{{"kernel.printk_ratelimit", v}}}
	}
	if err := Conflict(state, s("9")); err != nil {
		t.Errorf("no state folder: %v", err)
	}
	a := startHold(t, filepath.Join(root, "sys"), state, "kernel.printk_ratelimit", "7")
	if a.first != "APPLIED" {
		t.Fatalf("child: %s", a.first)
	}
	before := files(t, state)
	err := Conflict(state, s("9"))
	if ce := (*ConflictError)(nil); !errors.As(err, &ce) || ce.By.PID != a.cmd.Process.Pid || !strings.Contains(err.Error(), "pid "+strconv.Itoa(a.cmd.Process.Pid)) {
		t.Errorf("Conflict with another value: %v", err)
	}
	if err := Conflict(state, s("7")); err != nil {
		t.Errorf("Conflict with the same value: %v", err)
	}
	if after := files(t, state); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("Conflict changed the folder: %v -> %v", before, after)
	}
	a.kill()
	if err := Conflict(state, s("9")); err != nil {
		t.Errorf("Conflict with a dead holder: %v", err)
	}
}
