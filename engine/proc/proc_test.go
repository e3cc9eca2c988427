package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// bound is how long a test polls for a condition before failing.
const bound = 20 * time.Second

// poll calls cond until it is true, for at most bound.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killedOrDying reports whether pid has ended (zombie) or has a SIGKILL
// pending: the parent-death signal has reached it.
func killedOrDying(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("pid %d: %v (it should be ours and unreaped)", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if strings.HasPrefix(v, "Z") || strings.HasPrefix(v, "X") {
				return true
			}
		case "SigPnd", "ShdPnd":
			if m, err := strconv.ParseUint(v, 16, 64); err == nil && m&(1<<(unix.SIGKILL-1)) != 0 {
				return true
			}
		}
	}
	return false
}

// The old failure: a child forked with Pdeathsig from a goroutine that
// exits while locked to its thread dies with that thread. A child started
// by Start from the same goroutine outlives it.
func TestChildOutlivesLockedGoroutine(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep on PATH: %v", err)
	}
	spawned := exec.Command(sleep, "60")
	control := exec.Command(sleep, "60") // forked from the goroutine's own thread
	control.SysProcAttr = &unix.SysProcAttr{Pdeathsig: unix.SIGKILL}
	type started struct {
		tid int
		err error
	}
	ch := make(chan started, 1)
	// The main thread is never ended by the runtime (it is parked
	// instead): the goroutine must run elsewhere, so the test goroutine
	// holds its own thread meanwhile and the goroutine gives up a main
	// thread it lands on.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var st started
	for range 100 {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			if unix.Gettid() == os.Getpid() {
				runtime.UnlockOSThread()
				ch <- started{}
				return
			}
			err := Start(spawned, "")
			if err == nil {
				err = control.Start()
			}
			ch <- started{unix.Gettid(), err}
		}()
		if st = <-ch; st.tid != 0 {
			break
		}
	}
	if st.tid == 0 {
		t.Skip("the goroutine kept landing on the main thread, which the runtime never ends")
	}
	if st.err != nil {
		t.Fatal(st.err)
	}
	defer func() {
		for _, c := range []*exec.Cmd{spawned, control} {
			if c.Process != nil {
				c.Process.Kill() // by PID (pidfd): only our own child
				c.Wait()
			}
		}
	}()
	if st.tid == SpawnerTID() {
		t.Fatalf("the goroutine ran on the spawner thread %d", st.tid)
	}
	t.Logf("goroutine thread %d, pid %d, spawner thread %d", st.tid, os.Getpid(), SpawnerTID())
	task := fmt.Sprintf("/proc/self/task/%d", st.tid)
	poll(t, "the locked goroutine's thread "+task+" gone", func() bool {
		_, err := os.Stat(task)
		return errors.Is(err, os.ErrNotExist)
	})
	// The control shows the thread's end did send the parent-death signal.
	poll(t, "the control child killed by its parent thread's end", func() bool { return killedOrDying(t, control.Process.Pid) })
	if killedOrDying(t, spawned.Process.Pid) {
		t.Fatalf("the child started by Start (pid %d) was killed when the goroutine's thread ended", spawned.Process.Pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", SpawnerTID())); err != nil {
		t.Fatalf("spawner thread: %v", err)
	}
	if err := spawned.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = Wait(spawned)
	if got := Status(spawned.ProcessState); err == nil || got != "killed by signal SIGTERM" {
		t.Fatalf("after SIGTERM: %v, status %q", err, got)
	}
}

// A child started with a namespace path runs in that namespace, and the
// spawner thread is back in its own afterwards.
func TestStartInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes a network namespace")
	}
	path := filepath.Join(t.TempDir(), "ns")
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(home)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		err = unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, "")
		if serr := unix.Setns(home, unix.CLONE_NEWNET); serr != nil {
			errc <- errors.Join(err, serr) // left locked: the thread ends with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("making a namespace: %v", err)
	}
	defer unix.Unmount(path, unix.MNT_DETACH)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)

	for _, tc := range []struct {
		netns, want string
	}{{path, want}, {"", mustReadlink(t, "/proc/self/ns/net")}} {
		cmd := exec.Command("/bin/sh", "-c", "readlink /proc/self/ns/net")
		var out strings.Builder
		cmd.Stdout = &out
		if err := Start(cmd, tc.netns); err != nil {
			t.Fatal(err)
		}
		if err := Wait(cmd); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out.String()); got != tc.want {
			t.Errorf("netns %q: child in %s, want %s", tc.netns, got, tc.want)
		}
		if got, home := mustReadlink(t, fmt.Sprintf("/proc/self/task/%d/ns/net", SpawnerTID())), mustReadlink(t, "/proc/self/ns/net"); got != home {
			t.Errorf("spawner thread in %s after the start, want %s", got, home)
		}
	}
	bad := exec.Command("/bin/true")
	if err := Start(bad, filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "opening network namespace") {
		t.Errorf("missing namespace: %v", err)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Wait ends what is left of the child's process group.
func TestWaitEndsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The shell leaves a grandchild behind and exits.
	cmd := exec.Command("/bin/sh", "-c", "sleep 60 & echo $! > "+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile)
	if err := Start(cmd, ""); err != nil {
		t.Fatal(err)
	}
	if err := Wait(cmd); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The grandchild is reparented (to init or a subreaper) and reaped
	// there; it must be gone or dying.
	poll(t, fmt.Sprintf("grandchild %d ended", pid), func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(b), ") Z") || !strings.Contains(string(b), "(sleep)")
	})
}
