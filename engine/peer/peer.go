// Package peer runs established tools beside labrun under the same
// measurement: tcpreplay and trafgen replaying the same trace into the same
// veth pair and receiver. labrun builds their command lines from typed
// parameters and parses what they report; a tool that is not installed is
// an ErrNotInstalled error that names the package to install. Tools are
// forked by package proc, so they live as long as labrun, and a tool that
// dies before labrun stops it is an error (Proc.Early).
package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/proc"
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
	errTail  *tailBuffer
	done     chan struct{}
	waitErr  error
	early    error // set before done is closed
	asked    atomic.Bool
	stopOnce sync.Once
	stopped  chan struct{}
}

// Start runs a tool with args inside the network namespace at netns (a
// path such as /run/netns/NAME; "" for labrun's own). The child is forked
// by package proc from a thread that lives as long as labrun, gets its own
// process group, so a Ctrl-C at the terminal reaches labrun first and
// labrun stops the tool, and is killed if labrun dies. Cancelling ctx
// stops it as Stop does.
func Start(ctx context.Context, tool string, args []string, netns string, stdout, stderr io.Writer) (*Proc, error) {
	path, err := Find(tool)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	p := &Proc{cmd: cmd, errTail: &tailBuffer{}, done: make(chan struct{}), stopped: make(chan struct{})}
	cmd.Stdout = stdout
	cmd.Stderr = p.errTail
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, p.errTail)
	}
	if err := proc.Start(cmd, netns); err != nil {
		return nil, fmt.Errorf("starting %s: %w", tool, err)
	}
	go func() {
		p.waitErr = proc.Wait(cmd)
		if !p.asked.Load() && !cmd.ProcessState.Success() {
			p.early = fmt.Errorf("%s (pid %d) ended before labrun stopped it: %s%s", tool, cmd.Process.Pid,
				proc.Status(cmd.ProcessState), stderrTail(p.errTail.String()))
		}
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

// Early returns an error if the tool ended with a failure (a signal, a
// non-zero exit) before anyone asked it to stop (Stop, or the
// cancellation of Start's context): someone killed it, or it crashed. The
// error names the tool, its PID, how it ended and the end of its stderr.
// It is nil while the tool runs, and for a tool that ended by itself with
// exit status 0.
func (p *Proc) Early() error {
	select {
	case <-p.done:
		return p.early
	default:
		return nil
	}
}

// stderrTail formats the end of a tool's stderr for an error message.
func stderrTail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return " (nothing on stderr)"
	}
	return "; stderr: " + s
}

// tailBuffer keeps the last tailMax bytes written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailMax = 1000

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) > tailMax {
		return "..." + string(t.b[len(t.b)-tailMax:])
	}
	return string(t.b)
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
		p.asked.Store(true)
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
