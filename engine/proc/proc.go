// Package proc starts labrun's child processes (background loads, peer
// tools such as stress-ng, tcpreplay and iperf3) so that they live as
// long as labrun and no longer.
//
// A child gets a parent-death signal (Pdeathsig, SIGKILL), so it cannot
// outlive labrun, and a process group of its own, so a Ctrl-C at the
// terminal reaches labrun first and labrun ends the child. Linux sends the
// parent-death signal when the thread that forked the child ends, not when
// the process does, and the Go runtime ends threads: a goroutine that
// exits while locked to its thread takes the thread with it (labrun's
// timed loops do so on purpose, and topo.Host.Do may). A child forked from
// such a thread is killed mid-run. So every child is forked here, from one
// OS thread that is locked for the life of the process and never exits:
// the spawner.
//
// A child that must start inside a network namespace is forked while the
// spawner thread is inside it: the thread enters the namespace (setns),
// forks, and returns to its own namespace; clone(2) gives the child the
// namespaces of the thread that forked it.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Start starts cmd (exec.Cmd.Start) from the spawner thread. netns is the
// path of the network namespace the child starts in (/run/netns/NAME), or
// "" for labrun's own. Start sets SysProcAttr's Pdeathsig (SIGKILL) and
// Setpgid, keeping its other fields.
func Start(cmd *exec.Cmd, netns string) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawner.once.Do(func() {
		spawner.ch = make(chan request)
		go serve(spawner.ch)
	})
	req := request{cmd: cmd, netns: netns, err: make(chan error, 1)}
	spawner.ch <- req
	return <-req.err
}

type request struct {
	cmd   *exec.Cmd
	netns string
	err   chan error
}

var spawner struct {
	once sync.Once
	ch   chan request
	tid  atomic.Int64 // the spawner thread's ID, for tests
}

// serve runs the requests on its thread, which it locks and never
// unlocks: the goroutine never returns, so the thread never ends.
func serve(ch chan request) {
	runtime.LockOSThread()
	spawner.tid.Store(int64(unix.Gettid()))
	home, homeErr := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for req := range ch {
		if req.netns == "" {
			req.err <- req.cmd.Start()
			continue
		}
		if homeErr != nil {
			req.err <- fmt.Errorf("opening the spawner thread's network namespace: %w", homeErr)
			continue
		}
		err, stuck := startIn(req, home)
		req.err <- err
		if stuck {
			// The thread is in another namespace and cannot come back. It
			// must not end (its children would die with it), nor start
			// more children: it parks for good and a new spawner takes
			// over on another thread (a locked thread only ever runs its
			// own goroutine).
			go serve(ch)
			select {}
		}
	}
}

// startIn starts req.cmd inside the namespace req.netns. stuck reports
// that the thread could not return to its namespace (home).
func startIn(req request, home int) (err error, stuck bool) {
	fd, err := unix.Open(req.netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", req.netns, err), false
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", req.netns, err), false
	}
	err = req.cmd.Start()
	return err, unix.Setns(home, unix.CLONE_NEWNET) != nil
}

// SpawnerTID is the thread ID of the spawner thread (0 before the first
// Start).
func SpawnerTID() int { return int(spawner.tid.Load()) }

// Wait waits for cmd's process (started by Start) to end, ends what is
// left of the process group it led (the tool's own children) with
// SIGKILL, and reaps it (exec.Cmd.Wait). Until the reap the process is a
// zombie that keeps its PID, so the group ID cannot belong to anyone else.
func Wait(cmd *exec.Cmd) error {
	pid := cmd.Process.Pid
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	_ = unix.Kill(-pid, unix.SIGKILL)
	return cmd.Wait()
}

// Status describes how a reaped process ended: "exit status 1",
// "killed by signal SIGKILL".
func Status(ps *os.ProcessState) string {
	if ps == nil {
		return "not reaped"
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return "unknown status"
	case ws.Signaled():
		return "killed by signal " + unix.SignalName(ws.Signal())
	default:
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	}
}
