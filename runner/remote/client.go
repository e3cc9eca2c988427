package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labrun/labrun/engine/clocksync"
	"github.com/labrun/labrun/engine/proc"
)

// EnvSSHConfig names an ssh_config file for every connection (ssh -F);
// labrun run --ssh-config sets it.
const EnvSSHConfig = "LABRUN_SSH_CONFIG"

// Options configure how the controller reaches hosts.
type Options struct {
	// SSHConfig is an ssh_config file given to ssh -F; "" uses the
	// user's (~/.ssh/config and the system's).
	SSHConfig string
	// Binary is the labrun binary to copy and run there; "" is this
	// process's own.
	Binary string
	// SSH is the ssh client; "" is "ssh" on the PATH.
	SSH string
}

// OptionsFromEnv is the Options of labrun run: the ssh_config of
// $LABRUN_SSH_CONFIG, this binary.
func OptionsFromEnv() Options { return Options{SSHConfig: os.Getenv(EnvSSHConfig)} }

// Bounds of the steps of Dial and Close.
const (
	copyTimeout  = 10 * time.Minute
	helloTimeout = 60 * time.Second
	closeTimeout = 15 * time.Second
)

// sshArgs are the ssh client's arguments: batch mode (no password or
// host-key prompt: a missing key is an error, not a hang), keep-alives (a
// dead connection is noticed within 15 s), no pty and no escape
// character, then the user's target and the command.
func (o Options) sshArgs(target, command string) []string {
	var args []string
	if o.SSHConfig != "" {
		args = append(args, "-F", o.SSHConfig)
	}
	args = append(args, "-o", "BatchMode=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
		"-o", "ConnectTimeout=15", "-T", "-e", "none", "--", target, command)
	return args
}

func (o Options) sshPath() string {
	if o.SSH != "" {
		return o.SSH
	}
	return "ssh"
}

// shQuote quotes s for a POSIX shell.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shell wraps a POSIX shell script for ssh, whatever the remote user's
// login shell is.
func shell(script string) string { return "sh -c " + shQuote(script) }

// agentScript starts the agent from the remote user's agent folder, made
// private to them in their temporary directory, if the copy there has
// the SHA-256 want; else it prints "labrun-install <folder> <machine>"
// for the controller to copy labrun there first.
func agentScript(want string) string {
	return `umask 077
d="${TMPDIR:-/tmp}/labrun-agent-$(id -u)"
mkdir -p "$d" || exit 3
if [ -L "$d" ] || [ ! -O "$d" ]; then echo "labrun: $d is not a folder of $(id -un)" >&2; exit 3; fi
chmod 700 "$d" || exit 3
if [ -f "$d/labrun" ] && [ "$(sha256sum < "$d/labrun" | cut -d' ' -f1)" = ` + want + ` ]; then
  exec env LABRUN_STATE_DIR="$d/state" "$d/labrun" agent
fi
echo "` + installLine + ` $d $(uname -m)"`
}

// installLine starts the agent script's answer when labrun is missing
// or differs.
const installLine = "labrun-install"

// runShort runs one ssh command to the end, bounded by timeout, and
// returns its output; stdin, if set, is its input.
func (o Options) runShort(ctx context.Context, target, command string, stdin io.Reader, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.Command(o.sshPath(), o.sshArgs(target, command)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	if err := proc.Start(cmd, ""); err != nil {
		return "", fmt.Errorf("ssh: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- proc.Wait(cmd) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill() // by PID: ours, not yet reaped
		<-done
		err = context.Cause(ctx)
	}
	if err != nil {
		return out.String(), fmt.Errorf("ssh %s: %v: %s", target, err, strings.TrimSpace(tail(errb.String(), 600)))
	}
	return out.String(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// goarch is the Go name of a `uname -m`.
func goarch(machine string) string {
	switch machine {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "i386", "i686":
		return "386"
	case "armv7l", "armv6l":
		return "arm"
	}
	return machine
}

var self struct {
	once sync.Once
	sum  string
	size int64
	err  error
}

// binarySum is the SHA-256 of the binary to copy.
func binarySum(path string) (string, error) {
	if path != "" {
		return fileSum(path)
	}
	self.once.Do(func() {
		p, err := os.Executable()
		if err != nil {
			self.err = err
			return
		}
		self.sum, self.err = fileSum(p)
	})
	return self.sum, self.err
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// install copies this binary into the host's agent folder dir, after
// checking the host's machine.
func (o Options) install(ctx context.Context, target, dir, machine, want string) error {
	if a := goarch(machine); a != runtime.GOARCH {
		return fmt.Errorf("host %s is %s; this labrun is built for linux/%s and cannot run there: build labrun for it (GOARCH=%s) and run the controller from a machine of the same kind", target, machine, runtime.GOARCH, a)
	}
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	d := shQuote(dir)
	script := `umask 077; t=` + d + `/labrun.tmp.$$; cat > "$t" && chmod 700 "$t" && mv -f "$t" ` + d + `/labrun && sha256sum ` + d + `/labrun || { rm -f "$t"; exit 3; }`
	out, err := o.runShort(ctx, target, shell(script), f, copyTimeout)
	if err != nil {
		return fmt.Errorf("copying labrun to %s: %w", target, err)
	}
	if got := strings.Fields(out); len(got) == 0 || got[0] != want {
		return fmt.Errorf("copying labrun to %s: the copy's SHA-256 is %q, want %s", target, out, want)
	}
	return nil
}

// Client is the controller's connection to one host's agent.
type Client struct {
	Role, Target string
	Dir          string   // the agent's folder on the host
	Info         HostInfo // the agent's answer to hello

	cmd    *exec.Cmd
	in     io.WriteCloser
	stderr *lockedWriter
	wmu    sync.Mutex
	mu     sync.Mutex
	next   int
	wait   map[int]chan Response
	dead   chan struct{} // closed when the agent's output ends
	err    error         // why, set before dead is closed
	exited chan struct{} // closed when ssh was reaped
	closed bool
}

// Dial connects to target (an ssh destination: host, user@host, or a
// Host of the ssh config), starts the agent there and greets it. One ssh
// connection does it when the host has this labrun already; else labrun
// is copied there first (two more).
func Dial(ctx context.Context, role, target string, o Options) (*Client, error) {
	want, err := binarySum(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("labrun's own binary: %w", err)
	}
	for try := 0; ; try++ {
		c, need, err := start(ctx, role, target, o, want)
		if err != nil || need == nil {
			return c, err
		}
		if try > 0 {
			return nil, fmt.Errorf("host %s: labrun was copied but its copy is not there at the next connection", target)
		}
		if err := o.install(ctx, target, need[0], need[1], want); err != nil {
			return nil, err
		}
	}
}

// start runs the agent script and greets the agent; need is the agent
// folder and the machine when labrun must be copied there first.
func start(ctx context.Context, role, target string, o Options, want string) (c *Client, need []string, err error) {
	cmd := exec.Command(o.sshPath(), o.sshArgs(target, shell(agentScript(want)))...)
	c = &Client{Role: role, Target: target, cmd: cmd, stderr: &lockedWriter{w: &bytes.Buffer{}},
		wait: map[int]chan Response{}, dead: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if c.in, err = cmd.StdinPipe(); err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := proc.Start(cmd, ""); err != nil {
		return nil, nil, fmt.Errorf("ssh: %w", err)
	}
	go func() { proc.Wait(cmd); close(c.exited) }()
	hello, _ := json.Marshal(Request{ID: 0, Op: OpHello, Version: Version})
	c.in.Write(append(hello, '\n')) // an install answer or an exit shows below
	first := make(chan []byte, 1)
	br := bufio.NewReaderSize(stdout, 64<<10)
	go func() {
		line, _ := br.ReadBytes('\n')
		first <- line
	}()
	t := time.NewTimer(helloTimeout)
	defer t.Stop()
	var line []byte
	select {
	case line = <-first:
	case <-ctx.Done():
		err = context.Cause(ctx)
	case <-t.C:
		err = fmt.Errorf("no answer within %s", helloTimeout)
	}
	if err == nil && len(line) == 0 {
		<-c.exited
		err = fmt.Errorf("%s", strings.TrimSpace(tail(c.stderrText(), 600)))
	}
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("ssh %s: %w", target, err)
	}
	if f := strings.Fields(string(line)); len(f) == 3 && f[0] == installLine {
		c.Close()
		return nil, f[1:], nil
	}
	var r Response
	if err := json.Unmarshal(line, &r); err != nil || r.Hello == nil || r.Error != "" {
		c.Close()
		if r.Error != "" {
			return nil, nil, fmt.Errorf("%s host %s: %s", role, target, r.Error)
		}
		return nil, nil, fmt.Errorf("ssh %s: unexpected answer %q", target, tail(string(line), 300))
	}
	c.Info, c.Dir = *r.Hello, filepath.Dir(r.Hello.Dir)
	go c.readFrom(br)
	return c, nil, nil
}

// PID is the ssh client's process ID.
func (c *Client) PID() int { return c.cmd.Process.Pid }

// read delivers the agent's responses until its output ends.
func (c *Client) readFrom(br *bufio.Reader) {
	var err error
	for {
		var line []byte
		if line, err = br.ReadBytes('\n'); err != nil {
			break
		}
		var r Response
		if err = json.Unmarshal(line, &r); err != nil {
			err = fmt.Errorf("bad response: %v", err)
			break
		}
		c.mu.Lock()
		ch := c.wait[r.ID]
		delete(c.wait, r.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the connection closed")
	}
	c.err = err
	close(c.dead)
}

// lost is the error of a connection that ended.
func (c *Client) lost() error {
	msg := strings.TrimSpace(tail(c.stderrText(), 600))
	if msg != "" {
		msg = ": " + msg
	}
	return &LostError{Role: c.Role, Target: c.Target, Err: fmt.Errorf("%v%s", c.err, msg)}
}

func (c *Client) stderrText() string {
	c.stderr.mu.Lock()
	defer c.stderr.mu.Unlock()
	return c.stderr.w.(*bytes.Buffer).String()
}

// LostError is a connection to a host that ended before the run did. The
// agent there undoes its settings when its input closes.
type LostError struct {
	Role, Target string
	Err          error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("%s host %s: connection lost (%v); the agent there undoes its settings and exits when it sees its input close", e.Role, e.Target, e.Err)
}

// Call sends one request and waits for its response (or ctx, or the
// connection's end). A response with an error is returned as one.
func (c *Client) Call(ctx context.Context, req Request) (Response, error) {
	c.mu.Lock()
	c.next++
	req.ID = c.next
	ch := make(chan Response, 1)
	c.wait[req.ID] = ch
	c.mu.Unlock()
	b, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	c.wmu.Lock()
	_, err = c.in.Write(append(b, '\n'))
	c.wmu.Unlock()
	if err != nil {
		select {
		case <-c.dead:
			return Response{}, c.lost()
		default:
			return Response{}, &LostError{Role: c.Role, Target: c.Target, Err: err}
		}
	}
	select {
	case r := <-ch:
		if r.Error != "" {
			return r, fmt.Errorf("%s host %s: %s", c.Role, c.Target, r.Error)
		}
		return r, nil
	case <-c.dead:
		return Response{}, c.lost()
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.wait, req.ID)
		c.mu.Unlock()
		return Response{}, context.Cause(ctx)
	}
}

// Clock measures the host's clock offset: n exchanges, the one with the
// shortest round trip kept, which must be within bound.
func (c *Client) Clock(ctx context.Context, n int, bound time.Duration) (clocksync.Estimate, error) {
	e, err := clocksync.Measure(n, bound, func() (int64, int64, error) {
		r, err := c.Call(ctx, Request{Op: OpClock})
		if err != nil {
			return 0, 0, err
		}
		return r.Clock.T2, r.Clock.T3, nil
	})
	if err != nil {
		return e, fmt.Errorf("%s host %s: %w", c.Role, c.Target, err)
	}
	return e, nil
}

// Close ends the connection: it closes the agent's input (the agent
// undoes what is left and exits, and ssh with it) and waits for ssh, at
// most closeTimeout; then it ends ssh by its PID. It may be called more
// than once.
func (c *Client) Close() error {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		<-c.exited
		return nil
	}
	c.closed = true
	c.in.Close()
	c.wmu.Unlock()
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-c.exited:
		return nil
	case <-t.C:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM) // ssh is ours and not reaped: the PID is its
	t.Reset(closeTimeout)
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	return fmt.Errorf("%s host %s: ssh did not end within %s of closing its input: ended by its PID", c.Role, c.Target, closeTimeout)
}

// lockedWriter serialises writes of ssh's stderr with reads of it.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.w.(*bytes.Buffer); ok && b.Len() > 64<<10 {
		return len(p), nil // keep the first 64 KiB
	}
	return l.w.Write(p)
}
