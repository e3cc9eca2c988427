// Package peer runs established tools beside labrun under the same
// measurement: tcpreplay and trafgen replaying the same trace into the same
// veth pair and receiver. labrun builds their command lines from typed
// parameters and parses what they report; a tool that is not installed is
// an ErrNotInstalled error that names the package to install.
package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotInstalled is returned (wrapped) when a tool is not on PATH.
var ErrNotInstalled = errors.New("not installed")

// packages maps a tool to the Debian package that has it.
var packages = map[string]string{"tcpreplay": "tcpreplay", "trafgen": "netsniff-ng", "iperf3": "iperf3", "cyclictest": "rt-tests", "stress-ng": "stress-ng"}

// Find returns the path of a tool, or an error wrapping ErrNotInstalled
// that says how to install it.
func Find(tool string) (string, error) {
	path, err := exec.LookPath(tool)
	if err == nil {
		return path, nil
	}
	pkg := packages[tool]
	if pkg == "" {
		return "", fmt.Errorf("%s is %w (not found on PATH)", tool, ErrNotInstalled)
	}
	return "", fmt.Errorf("%s is %w: apt-get install -y %s (or make test-deps)", tool, ErrNotInstalled, pkg)
}

var versionRE = regexp.MustCompile(`\b(\d+\.\d+(?:\.\d+)?)\b`)

// Version reports a tool's name and version, e.g. "tcpreplay 4.4.3".
func Version(tool string) (string, error) {
	path, err := Find(tool)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if m := versionRE.FindStringSubmatch(string(out)); m != nil {
		return tool + " " + m[1], nil
	}
	return tool, nil
}

// Proc is a started tool.
type Proc struct {
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopped  chan struct{}
}

// Start runs a tool with args. enter runs a function on a locked OS thread
// inside the namespace the tool must run in (topo.Host.Do): the fork
// happens on that thread, and a child made by clone(2) starts in the
// namespaces of the thread that forked it. The child gets its own process
// group, so a Ctrl-C at the terminal reaches labrun first and labrun stops
// the tool; and it is killed if labrun dies. Cancelling ctx stops it as
// Stop does.
func Start(ctx context.Context, tool string, args []string, enter func(func() error) error, stdout, stderr io.Writer) (*Proc, error) {
	path, err := Find(tool)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := func() error { return cmd.Start() }
	if enter != nil {
		err = enter(start)
	} else {
		err = start()
	}
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", tool, err)
	}
	p := &Proc{cmd: cmd, done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			p.Stop(2 * time.Second)
		case <-p.done:
		}
	}()
	return p, nil
}

// WaitFor waits until the tool ends, at most bound; a tool still
// running then is stopped (as Stop does) and WaitFor reports false. A
// cancelled context stops the tool too (Start), so WaitFor then returns
// soon.
func (p *Proc) WaitFor(bound time.Duration) bool {
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		p.Stop(2 * time.Second)
		return false
	}
}

// Pin moves the tool to one CPU (sched_setaffinity of its PID). The
// tool may have run elsewhere for the moment between its start and the
// call. It returns the error, if any; a tool that already ended is not
// an error.
func (p *Proc) Pin(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(p.cmd.Process.Pid, &set); err != nil && err != unix.ESRCH {
		return fmt.Errorf("pinning %s to CPU %d: %w", p.cmd.Path, cpu, err)
	}
	return nil
}

// PID is the tool's process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Wait waits for the tool to end and returns its exit status.
func (p *Proc) Wait() (int, error) {
	<-p.done
	code := p.cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return code, nil
	}
	return code, p.waitErr
}

// CPU is the CPU time (user + system) the tool used; valid after Wait.
func (p *Proc) CPU() time.Duration {
	select {
	case <-p.done:
	default:
		return 0
	}
	st := p.cmd.ProcessState
	return st.UserTime() + st.SystemTime()
}

// Stop ends the tool: SIGINT first (tcpreplay prints its statistics on
// it), SIGKILL if it has not ended after grace. It signals only the tool's
// own PID, and only while the process is not yet reaped, so the PID cannot
// belong to anyone else. Safe to call more than once.
func (p *Proc) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() {
		defer close(p.stopped)
		select {
		case <-p.done:
			return
		default:
		}
		p.cmd.Process.Signal(syscall.SIGINT)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	<-p.stopped
	return nil
}
