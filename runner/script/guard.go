package script

import (
	"fmt"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

// Scripts come from strangers, so an evaluation is bounded in memory and
// wall time as well as in steps (DefaultMaxSteps).
const (
	// DefaultMaxMemory bounds the heap an evaluation may grow by (--max-memory).
	DefaultMaxMemory = 1 << 30
	// DefaultMaxEvalTime bounds an evaluation's wall time (--max-eval-time).
	DefaultMaxEvalTime = 30 * time.Second
)

const (
	// guardPeriod is how often the watchdog samples the heap.
	guardPeriod = 2 * time.Millisecond
	// guardGrace is how long a stopped evaluation may take to come back
	// with its position; one builtin call (a huge repetition or split)
	// does not look at the cancellation, and is not waited for.
	guardGrace = 200 * time.Millisecond
)

// guard watches one evaluation: a watchdog goroutine samples the heap
// every guardPeriod and the wall clock, and cancels every Starlark thread
// of the evaluation when either passes its cap. While it watches, the Go
// memory limit is set to the cap, so that garbage (a script building
// strings quadratically) is collected before it counts against the cap.
type guard struct {
	script  string
	maxMem  int64
	maxTime time.Duration

	mu      sync.Mutex
	threads []*starlark.Thread
	reason  string // why it stopped the evaluation; "" while within the caps
}

func newGuard(script string, opts Options) *guard {
	return &guard{script: script, maxMem: opts.MaxMemory, maxTime: opts.MaxEvalTime}
}

// watch registers a thread of the evaluation, cancelling it at once if the
// guard has already tripped.
func (g *guard) watch(t *starlark.Thread) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.threads = append(g.threads, t)
	if g.reason != "" {
		t.Cancel(g.reason)
	}
}

func (g *guard) trip(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reason != "" {
		return
	}
	g.reason = reason
	for _, t := range g.threads {
		t.Cancel(reason)
	}
}

func (g *guard) tripped() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reason
}

type evalResult struct {
	plan *plan.Plan
	err  error
}

// run runs eval on its own goroutine and returns its result, or the
// guard's error when eval passed a cap. An evaluation stuck in one builtin
// call when it is stopped is left behind: it ends at its next step, and a
// command that gets this error exits anyway.
func (g *guard) run(eval func() (*plan.Plan, error)) (*plan.Plan, error) {
	done := make(chan evalResult, 1)
	restore := setMemoryLimit(g.maxMem)
	defer restore()
	base := heapBytes()
	go func() {
		p, err := eval()
		done <- evalResult{p, err}
	}()
	tick := time.NewTicker(guardPeriod)
	defer tick.Stop()
	deadline := time.NewTimer(g.maxTime)
	defer deadline.Stop()
	var grace <-chan time.Time
	for {
		select {
		case r := <-done:
			if g.tripped() != "" && (r.err == nil || !isScriptError(r.err)) {
				return nil, g.err()
			}
			return r.plan, r.err
		case <-grace:
			return nil, g.err()
		case <-deadline.C:
			g.trip(timeReason(g.maxTime))
		case <-tick.C:
			if used := heapBytes() - base; used > g.maxMem {
				g.trip(memoryReason(g.maxMem))
			}
		}
		if grace == nil && g.tripped() != "" {
			grace = time.After(guardGrace)
		}
	}
}

// err is the guard's error without a position: the evaluation did not come
// back from the builtin call it was in.
func (g *guard) err() error { return stopped(g.script, g.tripped()) }

func stopped(script, reason string) error {
	return &plan.ScriptError{Msg: fmt.Sprintf("%s: evaluation stopped: %s", script, reason)}
}

func memoryReason(max int64) string {
	return fmt.Sprintf("the script used more than %s of memory (--max-memory %s); raise the cap with --max-memory", units.Size(max), units.Size(max))
}

func timeReason(max time.Duration) string {
	return fmt.Sprintf("the script ran for more than %s of wall time (--max-eval-time %s); raise the cap with --max-eval-time", units.Duration(max), units.Duration(max))
}

// MemoryCapError is the error of an evaluation of script stopped from
// outside (its process killed) for passing the memory cap of opts.
func MemoryCapError(script string, opts Options) error {
	return stopped(script, memoryReason(withDefaults(opts).MaxMemory))
}

// TimeCapError is MemoryCapError for the wall-time cap.
func TimeCapError(script string, opts Options) error {
	return stopped(script, timeReason(withDefaults(opts).MaxEvalTime))
}

func isScriptError(err error) bool {
	_, ok := err.(*plan.ScriptError)
	return ok
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
var heapMu sync.Mutex

// heapBytes is the memory held by heap objects, live or not yet swept.
func heapBytes() int64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	metrics.Read(heapSample)
	if heapSample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(heapSample[0].Value.Uint64())
}

// limitUsers counts the evaluations that hold the Go memory limit lowered;
// the last one to end restores it.
var (
	limitMu    sync.Mutex
	limitUsers int
	limitSaved int64
)

// setMemoryLimit lowers the Go runtime's soft memory limit to the heap in
// use plus max (a brake: the collector works harder near it), and returns
// the function that puts it back.
func setMemoryLimit(max int64) func() {
	limitMu.Lock()
	defer limitMu.Unlock()
	if limitUsers == 0 {
		want := heapBytes() + max + max/4
		if want < 0 {
			want = math.MaxInt64
		}
		limitSaved = debug.SetMemoryLimit(want)
	}
	limitUsers++
	return func() {
		limitMu.Lock()
		defer limitMu.Unlock()
		if limitUsers--; limitUsers == 0 {
			debug.SetMemoryLimit(limitSaved)
		}
	}
}
