package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labrun/labrun/engine/proc"
)

// ChildArg is the hidden first argument that makes labrun a load child.
const ChildArg = "__load"

var (
	// Exe gives the program to run as a child: labrun itself. Tests set it
	// to return os.Args[0] (the test binary) and set Env to make that
	// binary call ChildMain.
	Exe = os.Executable
	// Env is added to the child's environment (which is otherwise labrun's).
	Env []string
)

// Timeouts of the parent side.
const (
	readyTimeout = 10 * time.Second // from fork to the child's ready line
	DefaultGrace = 2 * time.Second  // Stop's grace when given 0
	killWait     = 5 * time.Second  // after SIGKILL, for the kernel to reap
	overrun      = 5 * time.Second  // past Duration, the parent kills a child that is still there
)

// Report is what a load achieved.
type Report struct {
	Kind string        `json:"kind"`
	Wall time.Duration `json:"wall"` // from the end of set-up to the end of the load
	CPU  time.Duration `json:"cpu"`  // the child's user + system time (rusage), set-up included
	// Work is the achieved rate in Unit: faults/s (vm), MB/s (hdd, written
	// plus read), pkts/s (udp, sent), loops/s (cpu, spin iterations),
	// wakeups/s (timers: firings read, one interrupt each).
	Work    float64            `json:"work"`
	Unit    string             `json:"unit"`
	Details map[string]float64 `json:"details,omitempty"`
}

// wire is the child's command-line config.
type wire struct {
	Spec   Spec `json:"spec"`
	Parent int  `json:"parent"` // the PID the child must have as parent; it exits when that changes
}

// readyLine is the child's first line on stdout, after its set-up.
type readyLine struct {
	Ready bool `json:"ready"`
}

// Load is one running load child.
type Load struct {
	spec    Spec
	cmd     *exec.Cmd
	stderr  *capBuffer
	done    chan struct{} // closed when the child has been reaped
	waitErr error
	lines   chan []byte   // lines of the child's stdout after the ready line
	outDone chan struct{} // closed at EOF of the child's stdout

	mu     sync.Mutex
	killed string // why the parent killed the child, if it did
	early  bool   // the child had ended when Stop was called

	stopOnce sync.Once
	report   Report
	stopErr  error
}

// Start validates spec, starts its child and waits until the child has set
// itself up (settings applied, memory, file, sockets or timers made), so
// that a configuration the host refuses is an error here. Cancelling ctx
// stops the child (SIGTERM, SIGKILL after DefaultGrace); Stop still returns
// its report.
func Start(ctx context.Context, spec Spec) (*Load, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load %s: %w", spec.Kind, err)
	}
	exe, err := Exe()
	if err != nil {
		return nil, fmt.Errorf("load %s: finding labrun's executable: %w", spec.Kind, err)
	}
	cfg, err := json.Marshal(wire{Spec: spec, Parent: os.Getpid()})
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()

	cmd := exec.Command(exe, ChildArg, spec.Kind, string(cfg))
	cmd.Env = append(os.Environ(), Env...)
	cmd.Stdin = nil
	cmd.Stdout = w
	l := &Load{
		spec:    spec,
		cmd:     cmd,
		stderr:  &capBuffer{max: 16 << 10},
		done:    make(chan struct{}),
		lines:   make(chan []byte, 4),
		outDone: make(chan struct{}),
	}
	cmd.Stderr = l.stderr
	// proc.Start adds Setpgid and Pdeathsig, and forks from a thread
	// that lives as long as labrun (see package proc).
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if spec.Kind == KindUDP && os.Geteuid() != 0 {
		// Without root, the child gets a user namespace of its own in which
		// it may make its network namespace.
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	if err := proc.Start(cmd, ""); err != nil {
		r.Close()
		if spec.Kind == KindUDP && os.Geteuid() != 0 {
			return nil, fmt.Errorf("load udp: starting the child in a user namespace (needs root or unprivileged user namespaces): %w", err)
		}
		return nil, fmt.Errorf("load %s: starting %s: %w", spec.Kind, exe, err)
	}
	w.Close()
	go func() {
		l.waitErr = proc.Wait(cmd)
		close(l.done)
	}()
	ready := make(chan bool, 1)
	go l.read(r, ready)

	fail := func(err error) (*Load, error) {
		l.kill("set-up failed")
		l.wait(killWait)
		if msg := l.stderr.String(); msg != "" {
			return nil, errors.New(msg) // the child's message names the load
		}
		return nil, err
	}
	select {
	case ok := <-ready:
		if !ok {
			// The child ended (or wrote garbage) before it was ready: its
			// stderr says why once it has been reaped.
			status := "still running"
			if l.wait(killWait) {
				status = fmt.Sprint(l.waitErr)
			}
			return fail(fmt.Errorf("load %s: child ended or misbehaved during set-up (%s)", spec.Kind, status))
		}
	case <-ctx.Done():
		return fail(fmt.Errorf("load %s: %w", spec.Kind, ctx.Err()))
	case <-time.After(readyTimeout):
		return fail(fmt.Errorf("load %s: child not ready after %v", spec.Kind, readyTimeout))
	}
	go l.watch(ctx)
	return l, nil
}

// read reads the child's stdout: the ready line, then the report.
func (l *Load) read(r *os.File, ready chan<- bool) {
	defer close(l.outDone)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	first := true
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		if first {
			first = false
			var rl readyLine
			ok := json.Unmarshal(line, &rl) == nil && rl.Ready
			ready <- ok
			if !ok {
				return
			}
			continue
		}
		select {
		case l.lines <- line:
		default: // more lines than expected: keep the first ones
		}
	}
	if first {
		ready <- false
	}
}

// watch stops the child when ctx is cancelled and kills it when it
// outlives its Duration.
func (l *Load) watch(ctx context.Context) {
	deadline := time.NewTimer(l.spec.Duration + overrun)
	defer deadline.Stop()
	select {
	case <-l.done:
	case <-ctx.Done():
		l.terminate(DefaultGrace, "context cancelled")
	case <-deadline.C:
		l.kill(fmt.Sprintf("still running %v after its duration", overrun))
	}
}

// terminate sends SIGTERM, waits up to grace, then SIGKILL. It reports
// whether the child ended by itself after SIGTERM.
func (l *Load) terminate(grace time.Duration, why string) bool {
	// os.Process.Signal goes through a pidfd: it never reaches another
	// process that reused the PID, and it is a no-op once the child is reaped.
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	if l.wait(grace) {
		return true
	}
	l.kill(why + fmt.Sprintf("; no exit %v after SIGTERM", grace))
	l.wait(killWait)
	return false
}

func (l *Load) kill(why string) {
	l.mu.Lock()
	if l.killed == "" {
		l.killed = why
	}
	l.mu.Unlock()
	_ = l.cmd.Process.Kill()
}

// wait waits up to d for the child to be reaped.
func (l *Load) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.done:
		return true
	case <-t.C:
		return false
	}
}

// PID is the child's process ID (and process group ID).
func (l *Load) PID() int { return l.cmd.Process.Pid }

// Spec is the load's spec as given to Start.
func (l *Load) Spec() Spec { return l.spec }

// Done is closed when the child has ended and been reaped (by Stop, by
// its own deadline, or by the cancellation of Start's context).
func (l *Load) Done() <-chan struct{} { return l.done }

// Stop ends the load and returns its report: SIGTERM to the child (to
// its PID only), up to grace (DefaultGrace if 0) for it to report and
// exit, then SIGKILL. A child that had to be killed or failed returns an
// error and a report with what is known (Kind, CPU). Calling Stop again
// returns the same.
func (l *Load) Stop(grace time.Duration) (Report, error) {
	l.stopOnce.Do(func() {
		if grace <= 0 {
			grace = DefaultGrace
		}
		select {
		case <-l.done:
			l.early = l.waitErr != nil
		default:
			l.terminate(grace, "stopped")
		}
		l.report, l.stopErr = l.collect()
	})
	return l.report, l.stopErr
}

// collect builds the report of a child that has been reaped (or could
// not be, after SIGKILL: then it says so).
func (l *Load) collect() (Report, error) {
	rep := Report{Kind: l.spec.Kind}
	select {
	case <-l.done:
	default:
		return rep, fmt.Errorf("load %s: pid %d did not exit after SIGKILL", l.spec.Kind, l.PID())
	}
	// The child's stdout reaches EOF when it exits (nothing else holds it).
	t := time.NewTimer(time.Second)
	defer t.Stop()
	var line []byte
	select {
	case line = <-l.lines:
	case <-l.outDone:
		select {
		case line = <-l.lines:
		default:
		}
	case <-t.C:
	}
	var errs []error
	if line != nil {
		if err := json.Unmarshal(line, &rep); err != nil {
			errs = append(errs, fmt.Errorf("load %s: bad report %q: %v", l.spec.Kind, line, err))
		}
	}
	if ps := l.cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			rep.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	l.mu.Lock()
	killed := l.killed
	l.mu.Unlock()
	switch {
	case killed != "":
		errs = append(errs, fmt.Errorf("load %s: killed (%s)", l.spec.Kind, killed))
	case l.early:
		// Ended by itself with a failure before the run asked it to stop
		// (killed by someone, crashed): the load did not run its course.
		errs = append(errs, fmt.Errorf("load %s (pid %d) ended before it was stopped: %s%s", l.spec.Kind, l.PID(),
			proc.Status(l.cmd.ProcessState), stderrTail(l.stderr.String())))
	case l.waitErr != nil:
		if msg := l.stderr.String(); msg != "" {
			errs = append(errs, errors.New(msg))
		} else {
			errs = append(errs, fmt.Errorf("load %s: %v", l.spec.Kind, l.waitErr))
		}
	case line == nil:
		errs = append(errs, fmt.Errorf("load %s: child exited without a report", l.spec.Kind))
	}
	return rep, errors.Join(errs...)
}

// Group is a set of loads started together.
type Group struct {
	Loads []*Load
}

// StartAll starts a load for each spec, or none: every spec is validated
// first, and if one fails to start the ones already started are stopped.
func StartAll(ctx context.Context, specs []Spec) (*Group, error) {
	var errs []error
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("load %d: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	g := &Group{}
	for i, s := range specs {
		l, err := Start(ctx, s)
		if err != nil {
			g.Stop(DefaultGrace)
			return nil, fmt.Errorf("load %d: %w", i, err)
		}
		g.Loads = append(g.Loads, l)
	}
	return g, nil
}

// Stop stops all the loads at once and returns their reports in the
// order of the specs, and their errors joined.
func (g *Group) Stop(grace time.Duration) ([]Report, error) {
	reps := make([]Report, len(g.Loads))
	errs := make([]error, len(g.Loads))
	var wg sync.WaitGroup
	for i, l := range g.Loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = l.Stop(grace)
		}()
	}
	wg.Wait()
	return reps, errors.Join(errs...)
}

// stderrTail formats the end of a child's stderr for an error message.
func stderrTail(s string) string {
	if s == "" {
		return " (nothing on stderr)"
	}
	if len(s) > 1000 {
		s = "..." + s[len(s)-1000:]
	}
	return "; stderr: " + s
}

// capBuffer keeps the first max bytes written to it.
type capBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(c.b.String())
}
