package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labrun/labrun/runner/plan"
	"github.com/labrun/labrun/runner/script"
)

// A script comes from a stranger, so plan and run evaluate it twice: first
// in a child process ("labrun __eval") that this process watches from
// outside, and only when the child ended within the caps, here. Inside,
// script.Evaluate cancels a script that passes --max-memory or
// --max-eval-time at its next step, with the script's position. But one
// step can be a single builtin call that allocates gigabytes
// ([0] * (1 << 28), a split of a 1 GB string): it does not look at the
// cancellation, can starve the watchdog goroutine of the CPU, and an
// allocation the kernel refuses kills a Go process with a stack trace. The
// child's resident memory is read from /proc and the child is killed past
// the cap, whatever it is doing; its death is then reported as the cap's
// error. A Starlark script is deterministic (no clock, no randomness), so
// the evaluation here repeats what the child did within the caps. The
// child stops once the script has run (script.Options.ScriptOnly): the
// expansion of the sweep into runs is labrun's Go code, bounded by
// --max-runs, and it is done once, here, under script.Evaluate's caps.

const evalChildArg = "__eval"

// evalChildEnv is added to the child's environment (the tests make their
// binary stand in for labrun with it).
var evalChildEnv []string

// evalRequest is what the parent sends the child on its stdin.
type evalRequest struct {
	File        string            `json:"file"`
	Overrides   map[string]string `json:"overrides"`
	MaxSteps    uint64            `json:"max_steps"`
	MaxMemory   int64             `json:"max_memory"`
	MaxEvalTime time.Duration     `json:"max_eval_time"`
	CPUs        []int             `json:"cpus"`
	ModuleCache string            `json:"module_cache,omitempty"`
	Offline     bool              `json:"offline,omitempty"`
	BaseDir     string            `json:"base_dir,omitempty"`
	MaxRuns     int               `json:"max_runs"`
}

// evalReply is the child's verdict on its stdout: the exit code the
// command would return and the error message.
type evalReply struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// evalChildMain is the child: it evaluates the script of the request on
// stdin, print() output to stderr, and writes its reply to stdout.
func evalChildMain(e *env) int {
	var req evalRequest
	if err := json.NewDecoder(e.stdin).Decode(&req); err != nil {
		fmt.Fprintf(e.stderr, "labrun %s: %v\n", evalChildArg, err)
		return ExitUsage
	}
	_, err := script.Evaluate(req.File, script.Options{Overrides: req.Overrides, MaxSteps: req.MaxSteps,
		MaxMemory: req.MaxMemory, MaxEvalTime: req.MaxEvalTime, CPUs: req.CPUs, MaxRuns: req.MaxRuns, ScriptOnly: true, Print: e.stderr,
		ModuleCache: req.ModuleCache, Offline: req.Offline, BaseDir: req.BaseDir})
	reply := evalReply{Code: ExitOK}
	if err != nil {
		reply = evalReply{Code: ExitScript, Msg: err.Error()}
		var ue *plan.UsageError
		if errors.As(err, &ue) {
			reply.Code = ExitUsage
		}
	}
	json.NewEncoder(e.stdout).Encode(reply)
	return ExitOK
}

// evaluate evaluates file for plan and run: in a watched child first,
// then here (see above).
func evaluate(file string, o script.Options) (*plan.Plan, error) {
	if err := evalInChild(file, o); err != nil {
		if o.Print != nil {
			// The child's print() output came before its error.
			if ce, ok := err.(*childError); ok {
				o.Print.Write(ce.printed)
			}
		}
		return nil, err
	}
	// A plan of 100,000 runs is 100 MB of small objects that all stay
	// live: collecting at half the default growth keeps the peak near
	// that, and costs no time (fewer pages to fault in).
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	return script.Evaluate(file, o)
}

// childError is an evaluation error the child reported or caused.
type childError struct {
	err     error
	printed []byte // the child's print() output
}

func (c *childError) Error() string { return c.err.Error() }
func (c *childError) Unwrap() error { return c.err }

// evalInChild evaluates file in a child process, kills it when its
// resident memory passes the cap (with room for the Go runtime and for
// garbage not yet collected) or it outlives the time cap (with room for
// the child to report the position itself), and returns its error.
func evalInChild(file string, o script.Options) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("labrun: cannot start the evaluating process: %w", err)
	}
	if o.MaxMemory <= 0 {
		o.MaxMemory = script.DefaultMaxMemory
	}
	if o.MaxEvalTime <= 0 {
		o.MaxEvalTime = script.DefaultMaxEvalTime
	}
	req, _ := json.Marshal(evalRequest{File: file, Overrides: o.Overrides, MaxSteps: o.MaxSteps, MaxMemory: o.MaxMemory, MaxEvalTime: o.MaxEvalTime, CPUs: o.CPUs, MaxRuns: o.MaxRuns,
		ModuleCache: o.ModuleCache, Offline: o.Offline, BaseDir: o.BaseDir})
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exe, evalChildArg)
	cmd.Env = append(os.Environ(), evalChildEnv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(req), &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("labrun: cannot start the evaluating process: %w", err)
	}
	killed := watchChild(cmd, o.MaxMemory, o.MaxEvalTime+2*time.Second)
	fail := func(err error) error { return &childError{err: err, printed: stderr.Bytes()} }
	switch {
	case killed == "memory":
		return fail(script.MemoryCapError(file, o))
	case killed == "time":
		return fail(script.TimeCapError(file, o))
	}
	var reply evalReply
	if err := json.Unmarshal(stdout.Bytes(), &reply); err != nil {
		if strings.Contains(stderr.String(), "out of memory") {
			return &childError{err: script.MemoryCapError(file, o)}
		}
		return fmt.Errorf("labrun: the evaluating process ended without a verdict (%v)", cmd.ProcessState)
	}
	switch reply.Code {
	case ExitOK:
		return nil
	case ExitUsage:
		return fail(&plan.UsageError{Msg: reply.Msg})
	}
	return fail(&plan.ScriptError{Msg: reply.Msg})
}

// watchChild waits for cmd, sampling its memory every few milliseconds; it
// kills the child (by its PID) past the memory cap or maxTime, and says
// which cap it was: "memory", "time" or "". Two measures count against
// maxMem, each with room for the Go runtime and for garbage not yet
// collected: the resident set, and the growth of the address space, which
// jumps at once when one call asks for gigabytes, long before the pages
// are touched (a copy into them can take a minute).
func watchChild(cmd *exec.Cmd, maxMem int64, maxTime time.Duration) string {
	maxRSS := maxMem + maxMem/4 + 64<<20
	maxGrowth := 2*maxMem + 256<<20
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(maxTime)
	defer deadline.Stop()
	statm := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/statm"
	page := int64(os.Getpagesize())
	why := ""
	// The child is this binary: its address space starts as large as
	// ours (the Go runtime reserves much of it up front), so ours is the
	// base its growth is measured from.
	base, _ := childPages("/proc/self/statm")
	for {
		select {
		case <-done:
			return why
		case <-deadline.C:
			if why == "" {
				why = "time"
				cmd.Process.Kill()
			}
		case <-tick.C:
			size, rss := childPages(statm)
			if why == "" && (rss*page > maxRSS || base > 0 && (size-base)*page > maxGrowth) {
				why = "memory"
				cmd.Process.Kill()
			}
		}
	}
}

// childPages reads the size of the address space and the resident set
// (in pages) from /proc/PID/statm; 0, 0 if it cannot.
func childPages(statm string) (size, rss int64) {
	b, err := os.ReadFile(statm)
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, 0
	}
	size, _ = strconv.ParseInt(f[0], 10, 64)
	rss, _ = strconv.ParseInt(f[1], 10, 64)
	return size, rss
}
