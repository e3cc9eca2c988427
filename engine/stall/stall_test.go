package stall

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
)

// childEnv makes the test binary a probe child: it spins until SIGUSR1,
// then prints its stalls.
const childEnv = "LABRUN_STALL_PROBE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(probeChild())
	}
	os.Exit(m.Run())
}

func probeChild() int {
	done := make(chan os.Signal, 1)
	signal.Notify(done, unix.SIGUSR1)
	p, err := Start(Config{CPU: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("spinning")
	<-done // until the parent says so
	r := p.Stop()
	for _, s := range r.Stalls {
		fmt.Println(s.From, s.To)
	}
	return 0
}

// A process stopped with SIGSTOP for a known time: its probe finds a
// stall that spans the whole time it was seen stopped, up to SIGCONT.
func TestProbeFindsInjectedStop(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = unix.Kill(pid, unix.SIGCONT)
		_ = unix.Kill(pid, unix.SIGUSR1)
		_ = cmd.Wait()
	}()
	out := bufio.NewScanner(stdout)
	if !out.Scan() || out.Text() != "spinning" {
		t.Fatalf("child did not start its probe: %q", out.Text())
	}
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if !waitState(pid, 'T', 10*time.Second) {
		t.Fatal("child not seen stopped within 10 s")
	}
	// Every thread is stopped from seen on; keep it so for a known time,
	// well past the probe's threshold.
	seen := clock.Now()
	for clock.Now()-seen < int64(100*DefaultThreshold) {
		time.Sleep(100 * time.Microsecond)
	}
	cont := clock.Now()
	if err := unix.Kill(pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	found := false
	n := 0
	for out.Scan() {
		var from, to int64
		if _, err := fmt.Sscan(out.Text(), &from, &to); err != nil {
			t.Fatalf("child's line %q: %v", out.Text(), err)
		}
		n++
		if from <= seen && to >= cont {
			found = true
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if !found {
		t.Errorf("none of the child's %d stalls spans the stop (seen stopped at %d, continued at %d)", n, seen, cont)
	}
}

// waitState polls /proc/pid/task/*/stat until every thread of the
// process is in state st, for at most bound.
func waitState(pid int, st byte, bound time.Duration) bool {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		if allInState(pid, st) {
			return true
		}
		time.Sleep(100 * time.Microsecond)
	}
	return false
}

func allInState(pid int, st byte) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// pid (comm) state ...: the state follows the last ')'.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i < 0 || i+2 >= len(s) || s[i+2] != st {
			return false
		}
	}
	return true
}

// A bounded run reports its span and figures that agree with each other.
func TestRunIsBoundedAndReports(t *testing.T) {
	d := 50 * time.Millisecond
	r, err := Run(context.Background(), Config{CPU: 0, Keep: 8}, d)
	if err != nil {
		t.Fatal(err)
	}
	if r.To-r.From < int64(d) {
		t.Errorf("spun %v, want at least %v", time.Duration(r.To-r.From), d)
	}
	if len(r.Stalls)+r.Dropped != r.Count || len(r.Stalls) > 8 {
		t.Errorf("%d kept + %d dropped, %d counted (keep 8)", len(r.Stalls), r.Dropped, r.Count)
	}
	var lost int64
	for _, s := range r.Stalls {
		if s.Len() <= int64(DefaultThreshold) || s.From < r.From || s.To > r.To {
			t.Errorf("stall %v: shorter than the threshold or outside the run [%d, %d]", s, r.From, r.To)
		}
		lost += s.Len()
	}
	if r.Dropped == 0 && lost != r.Lost {
		t.Errorf("lost %d, kept stalls sum to %d", r.Lost, lost)
	}
	s := r.Summarize()
	if s.Count != r.Count || s.Max != r.Longest || s.LostPct < 0 || s.LostPct > 100 {
		t.Errorf("summary %+v of %+v", s, r)
	}
}

// A cancelled context ends a run early.
func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Run(ctx, Config{CPU: -1}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r.To-r.From >= int64(time.Hour) {
		t.Errorf("ran %v after cancel", time.Duration(r.To-r.From))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{CPU: -2}, {CPU: 1 << 20}, {Threshold: time.Nanosecond}, {Keep: -1}, {Keep: MaxKeep + 1}} {
		if _, err := Start(c); err == nil {
			t.Errorf("Start(%+v): no error", c)
		}
	}
	if _, err := Run(context.Background(), Config{}, 0); err == nil {
		t.Error("Run for 0: no error")
	}
}
