package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// interruptSignals stop a run: it ends the current run at the next packet,
// undoes every setting, marks the manifest interrupted and exits 130.
// SIGPIPE counts only when standard output or error lost its reader.
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE}

// interruptible returns a context cancelled by the interrupt signals, with
// the signal as its cause, and replaces e's outputs by ones that stop
// writing once their reader is gone (EPIPE) and then interrupt the run too:
// Go would otherwise kill labrun on a write to a closed pipe on fd 1 or 2,
// skipping every undo. stop ends the watch; call it after the last write.
func interruptible(e *env) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	stdout := &pipeGuard{w: e.stdout, name: "standard output", cancel: cancel}
	stderr := &pipeGuard{w: e.stderr, name: "standard error", cancel: cancel}
	e.stdout, e.stderr = stdout, stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, interruptSignals...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				onSignal(s, stdout, stderr, cancel)
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// onSignal interrupts the run for s.
func onSignal(s os.Signal, stdout, stderr *pipeGuard, cancel context.CancelCauseFunc) {
	switch s {
	case syscall.SIGPIPE:
		// A write to a pipe without reader. Labrun's own pipes (to a tool
		// it started, sockets) report EPIPE to their writer; only a lost
		// standard output or error stops the run.
		out, errGone := stdout.checkGone(), stderr.checkGone()
		if !out && !errGone {
			return
		}
	case syscall.SIGQUIT:
		// As Go would, show where every goroutine is, then stop cleanly
		// instead of exiting with the settings still applied.
		fmt.Fprintf(stderr, "labrun: SIGQUIT: stopping the runs and undoing their settings; goroutines:\n%s\n", allStacks())
		cancel(errors.New("interrupted by SIGQUIT"))
	default:
		cancel(fmt.Errorf("interrupted by %s", signalName(s)))
	}
}

func signalName(s os.Signal) string {
	if n, ok := s.(syscall.Signal); ok {
		return unix.SignalName(n)
	}
	return s.String()
}

func allStacks() []byte {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 16<<20 {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// pipeGuard is a command's output that notices when its reader went away
// (EPIPE: `labrun run x.star | head -1`): it stops writing, and cancels
// the run, which then undoes what it changed and says it was interrupted.
type pipeGuard struct {
	w      io.Writer
	name   string
	cancel context.CancelCauseFunc
	gone   atomic.Bool
}

func (g *pipeGuard) Write(p []byte) (int, error) {
	if g.gone.Load() {
		return len(p), nil
	}
	n, err := g.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		g.lost()
		return len(p), nil
	}
	return n, err
}

func (g *pipeGuard) lost() {
	if !g.gone.Swap(true) {
		g.cancel(fmt.Errorf("%s was closed (the reader went away)", g.name))
	}
}

// checkGone reports whether the output is a pipe or socket whose reader
// is gone, and if so stops writing to it.
func (g *pipeGuard) checkGone() bool {
	if g.gone.Load() {
		return true
	}
	f, ok := g.w.(*os.File)
	if !ok {
		return false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	broken := false
	rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(fds, 0)
		broken = err == nil && n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
	})
	if !broken {
		return false
	}
	g.lost()
	return true
}
