package load

import (
	"bufio"
	"context"
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
)

// The test binary is also the load child (LABRUN_LOAD_CHILD=1) and the
// helper that starts a load and waits to be killed (LABRUN_LOAD_HELPER=1).
func TestMain(m *testing.M) {
	if os.Getenv("LABRUN_LOAD_CHILD") == "1" {
		childIgnoreTerm = os.Getenv("LABRUN_LOAD_IGNORE_TERM") == "1"
		os.Exit(ChildMain(os.Args[1:]))
	}
	useTestBinary()
	if os.Getenv("LABRUN_LOAD_HELPER") == "1" {
		os.Exit(helper())
	}
	os.Exit(m.Run())
}

func useTestBinary() {
	Exe = func() (string, error) { return os.Args[0], nil }
	Env = []string{"LABRUN_LOAD_CHILD=1", "LABRUN_LOAD_HELPER=",
		// a -race child would otherwise wait 1 s at exit
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
}

// helper starts a cpu load, prints its PID and blocks until killed.
func helper() int {
	l, err := Start(context.Background(), Spec{Kind: KindCPU, Duty: 0.05, Duration: 30 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(l.PID())
	select {}
}

// gone reports whether pid no longer runs (absent, or a zombie waiting
// for a reaper that is not us).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// waitFor polls cond every 5 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func canUDP() bool {
	if os.Geteuid() == 0 {
		return true
	}
	b, err := os.ReadFile("/proc/sys/user/max_user_namespaces")
	return err == nil && strings.TrimSpace(string(b)) != "0"
}

// Each kind runs for its Duration (300 ms), ends by itself, and reports
// the rate it achieved.
func TestKinds(t *testing.T) {
	const d = 300 * time.Millisecond
	specs := []Spec{
		{Kind: KindCPU, Duty: 0.5, Duration: d},
		{Kind: KindVM, Duration: d},
		{Kind: KindHDD, Dir: t.TempDir(), Duration: d},
		{Kind: KindUDP, Rate: 20000, Duration: d},
		{Kind: KindTimers, Duration: d},
	}
	for _, s := range specs {
		t.Run(s.Kind, func(t *testing.T) {
			l, err := Start(context.Background(), s)
			if s.Kind == KindUDP && err != nil && os.Geteuid() != 0 {
				t.Skipf("udp without root: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-l.Done():
			case <-time.After(d + 30*time.Second):
				t.Fatal("load did not end at its duration")
			}
			rep, err := l.Stop(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.4g %s, wall %v, cpu %v, %v", rep.Kind, rep.Work, rep.Unit, rep.Wall.Round(time.Millisecond), rep.CPU.Round(time.Millisecond), rep.Details)
			if rep.Kind != s.Kind || rep.Work <= 0 || rep.Unit == "" || rep.CPU <= 0 {
				t.Errorf("report %+v", rep)
			}
			// It ran its duration, give or take: a busy machine may
			// start or end it late, so the upper bound is loose.
			if rep.Wall < d/2 || rep.Wall > d+20*time.Second {
				t.Errorf("wall %v, want about %v", rep.Wall, d)
			}
			if s.Kind == KindUDP && rep.Work > 20000*1.05 {
				t.Errorf("udp at %.0f pkts/s, above its rate 20000", rep.Work)
			}
			if s.Kind == KindHDD {
				if ents, _ := os.ReadDir(s.Dir); len(ents) != 0 {
					t.Errorf("hdd left %v in its dir", ents)
				}
			}
		})
	}
}

func TestStop(t *testing.T) {
	dir := t.TempDir()
	l, err := Start(context.Background(), Spec{Kind: KindHDD, Dir: dir, Bytes: 1 << 20, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	pid := l.PID()
	if gone(pid) {
		t.Fatal("child not running after Start")
	}
	if pgid, _ := syscall.Getpgid(pid); pgid != pid {
		t.Errorf("child's process group %d, want its own (%d)", pgid, pid)
	}
	// The file is in dir, open, and has no name there.
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	inDir := false
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, dir+"/") {
			inDir = strings.HasSuffix(target, "(deleted)")
		}
	}
	if !inDir {
		t.Errorf("no unlinked file of the child in %s", dir)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("hdd file has a name in its dir: %v", ents)
	}
	// The child ends on SIGTERM: no error (an error would say it had to
	// be killed after the grace).
	rep, err := l.Stop(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unit != "MB/s" || rep.Details == nil { // the child's own report (Work may be 0 this early)
		t.Errorf("report %+v", rep)
	}
	if !gone(pid) {
		t.Errorf("pid %d still there after Stop", pid)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("hdd left %v in its dir", ents)
	}
	if rep2, err2 := l.Stop(0); err2 != nil || rep2.Work != rep.Work {
		t.Errorf("second Stop: %+v, %v", rep2, err2)
	}
}

// A child that ignores SIGTERM is killed after the grace.
func TestStopKills(t *testing.T) {
	Env = append(Env, "LABRUN_LOAD_IGNORE_TERM=1")
	defer useTestBinary()
	dir := t.TempDir()
	l, err := Start(context.Background(), Spec{Kind: KindHDD, Dir: dir, Bytes: 1 << 20, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	rep, err := l.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop: %v, want an error saying it was killed", err)
	}
	if el := time.Since(t0); el < 200*time.Millisecond || el > 30*time.Second {
		t.Errorf("Stop took %v, want the grace and a little", el)
	}
	if rep.Kind != KindHDD {
		t.Errorf("report %+v", rep)
	}
	if !gone(l.PID()) {
		t.Errorf("pid %d still there", l.PID())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("hdd killed by SIGKILL left %v in its dir", ents)
	}
}

func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l, err := Start(ctx, Spec{Kind: KindCPU, Duty: 0.1, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor(t, 30*time.Second, "child gone after cancel", func() bool { return gone(l.PID()) })
	if rep, err := l.Stop(30 * time.Second); err != nil || rep.Unit != "loops/s" || rep.Details == nil {
		t.Errorf("Stop after cancel: %+v, %v", rep, err)
	}
}

// A load whose parent is SIGKILLed goes away with it.
func TestParentKilled(t *testing.T) {
	// Become the orphaned load's new parent, to reap it: an init that does
	// not reap (as in some containers) would keep it a zombie.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LABRUN_LOAD_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v %s", err, stderr.String())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || gone(pid) {
		t.Fatalf("helper printed %q; gone %v", line, gone(pid))
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, 30*time.Second, fmt.Sprintf("load %d gone after its parent was killed", pid), func() bool {
		if gone(pid) {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil) // reap it if it came to us
			return true
		}
		return false
	})
}

// A child that finds its parent already gone (it died between fork and
// prctl) does not run.
func TestChildWithoutParent(t *testing.T) {
	cfg, _ := json.Marshal(wire{Spec: Spec{Kind: KindCPU, Duty: 1, Duration: time.Minute}, Parent: 1})
	cmd := exec.Command(os.Args[0], ChildArg, KindCPU, string(cfg))
	cmd.Env = append(os.Environ(), Env...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "parent 1 is gone") {
		t.Errorf("child with a wrong parent: %v, %s", err, out)
	}
}

func TestSettings(t *testing.T) {
	s := Spec{Kind: KindCPU, Duty: 0.1, Threads: 2, Duration: time.Minute, CPUs: []int{0}, Nice: 5, Sched: "batch"}
	l, err := Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop(30 * time.Second)
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", l.PID()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tasks {
		tid, _ := strconv.Atoi(e.Name())
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			continue // thread ended
		}
		if set.Count() != 1 || !set.IsSet(0) {
			t.Errorf("thread %d: affinity %d CPUs, want only CPU 0", tid, set.Count())
		}
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue
		}
		if attr.Policy != unix.SCHED_BATCH || attr.Nice != 5 {
			t.Errorf("thread %d: policy %d nice %d, want batch (%d) and 5", tid, attr.Policy, attr.Nice, unix.SCHED_BATCH)
		}
	}
	if _, err := Start(context.Background(), Spec{Kind: KindCPU, Duty: 0.1, Duration: time.Minute, CPUs: []int{MaxCPU}}); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("cpu %d: %v", MaxCPU, err)
	}
	if os.Geteuid() != 0 {
		if _, err := Start(context.Background(), Spec{Kind: KindCPU, Duty: 0.1, Duration: time.Minute, Nice: -5}); err == nil || !strings.Contains(err.Error(), "CAP_SYS_NICE") {
			t.Errorf("nice -5 without root: %v", err)
		}
	}
}

func TestStartAll(t *testing.T) {
	before := children(t)
	_, err := StartAll(context.Background(), []Spec{
		{Kind: KindCPU, Duty: 0.1, Duration: time.Minute},
		{Kind: KindCPU, Duty: 0.1, Duration: time.Minute, CPUs: []int{MaxCPU}}, // valid, refused by the host
	})
	if err == nil || !strings.Contains(err.Error(), "load 1") {
		t.Fatalf("StartAll: %v", err)
	}
	if after := children(t); after != before {
		t.Errorf("%d children after a failed StartAll, %d before", after, before)
	}

	specs := []Spec{{Kind: KindTimers, N: 10, Interval: time.Millisecond, Duration: time.Minute}, {Kind: KindVM, Bytes: 8 << 20, Duration: time.Minute}}
	if canUDP() {
		specs = append(specs, Spec{Kind: KindUDP, Rate: 1000, Duration: time.Minute})
	}
	g, err := StartAll(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := g.Stop(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reps {
		if r.Kind != specs[i].Kind || r.Unit == "" || r.Details == nil {
			t.Errorf("report %d: %+v", i, r)
		}
	}
	if after := children(t); after != before {
		t.Errorf("%d children after Group.Stop, %d before", after, before)
	}
}

// children counts the child processes of the test process.
func children(t *testing.T) int {
	t.Helper()
	files, _ := filepath.Glob("/proc/self/task/*/children")
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		n += len(strings.Fields(string(b)))
	}
	return n
}

func TestValidate(t *testing.T) {
	d := time.Second
	cases := []struct {
		s    Spec
		want string
	}{
		{Spec{Kind: "disk", Duration: d}, "kinds: cpu, vm, hdd, udp, timers"},
		{Spec{Kind: KindCPU, Duty: 0.5}, "duration must be in (0, 1h]"},
		{Spec{Kind: KindCPU, Duty: 0.5, Duration: 2 * time.Hour}, "duration must be in (0, 1h]"},
		{Spec{Kind: KindCPU, Duration: d}, "duty must be in (0, 1]"},
		{Spec{Kind: KindCPU, Duty: 1.5, Duration: d}, "duty must be in (0, 1]"},
		{Spec{Kind: KindCPU, Duty: 1, Threads: 1000, Duration: d}, "threads must be in 1..256"},
		{Spec{Kind: KindCPU, Duty: 1, Nice: 20, Duration: d}, "nice must be in -20..19"},
		{Spec{Kind: KindCPU, Duty: 1, Sched: "fifo", Duration: d}, `sched must be "other", "batch" or "idle"`},
		{Spec{Kind: KindCPU, Duty: 1, CPUs: []int{0, 0}, Duration: d}, "CPU 0 listed twice"},
		{Spec{Kind: KindCPU, Duty: 1, CPUs: []int{-1}, Duration: d}, "out of range 0..1023"},
		{Spec{Kind: KindCPU, Duty: 1, Rate: 5, Duration: d}, "rate applies to udp loads only"},
		{Spec{Kind: KindVM, Bytes: 1, Duration: d}, "bytes must be in 64KiB..64GiB"},
		{Spec{Kind: KindVM, Dir: "/tmp", Duration: d}, "dir applies to hdd loads only"},
		{Spec{Kind: KindHDD, Bytes: 32 << 30, Duration: d}, "bytes must be in 4KiB..16GiB"},
		{Spec{Kind: KindUDP, Duration: d}, "rate must be in (0, 1e+06] packets/s"},
		{Spec{Kind: KindUDP, Rate: 2e6, Duration: d}, "rate must be in (0, 1e+06]"},
		{Spec{Kind: KindUDP, Rate: 10, Size: 70000, Duration: d}, "size must be in 1..65507"},
		{Spec{Kind: KindTimers, N: 5000, Duration: d}, "n must be in 1..4096"},
		{Spec{Kind: KindTimers, Interval: time.Microsecond, Duration: d}, "interval must be in 10µs..1s"},
		{Spec{Kind: KindTimers, N: 1000, Interval: 100 * time.Microsecond, Duration: d}, "at most 1e+06 expirations/s"},
	}
	for _, c := range cases {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
		if _, err := Start(context.Background(), c.s); err == nil {
			t.Errorf("%+v: Start accepted it", c.s)
		}
	}
	// Several problems are all reported.
	err := Spec{Kind: KindCPU, Duty: 2, Nice: 30, Duration: d}.Validate()
	if err == nil || !strings.Contains(err.Error(), "duty") || !strings.Contains(err.Error(), "nice") {
		t.Errorf("two problems: %v", err)
	}
	for _, s := range []Spec{
		{Kind: KindCPU, Duty: 1, Duration: d},
		{Kind: KindVM, Duration: d},
		{Kind: KindHDD, Duration: d},
		{Kind: KindUDP, Rate: 1, Duration: d},
		{Kind: KindTimers, Duration: d},
		{Kind: KindCPU, Duty: 0.01, Threads: 4, Nice: 19, Sched: "idle", CPUs: []int{0, 1}, Duration: time.Hour},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	if _, err := StartAll(context.Background(), []Spec{{Kind: KindVM, Duration: d}, {Kind: KindVM}}); err == nil || !strings.Contains(err.Error(), "load 1") {
		t.Errorf("StartAll with a bad spec: %v", err)
	}
}

// A child that dies before the run stops it (here: killed from outside)
// fails Stop with its PID, how it ended and its stderr.
func TestDiedEarly(t *testing.T) {
	l, err := Start(context.Background(), Spec{Kind: KindCPU, Duty: 0.05, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(l.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("child not reaped 20 s after SIGKILL")
	}
	_, err = l.Stop(0)
	want := fmt.Sprintf("load cpu (pid %d) ended before it was stopped: killed by signal SIGKILL (nothing on stderr)", l.PID())
	if err == nil || err.Error() != want {
		t.Errorf("Stop: %v\nwant %s", err, want)
	}
}
