package execute

import (
	"context"
	"errors"

	"github.com/labrun/labrun/engine/replay"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// A runKind makes one run of a plan inside its environment (settings
// and loads are up): it returns the run's row and what the engine
// reported. There is one small type per kind of run.
type runKind interface {
	run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error)
}

// runContext is what every kind of run is given.
type runContext struct {
	dir         string // the invocation's result folder
	run         plan.Run
	prog        *progress
	allowSystem bool  // --allow-system
	expSeed     int64 // the experiment's seed
	// allowSysctls are the dangerous sysctls --allow-sysctl allows.
	allowSysctls []string
	// traceInfo receives the capture's statistics (bare runs of a pcap).
	traceInfo *trace.CaptureStats
}

// kindOf picks the kind of a run from its configuration.
func kindOf(c plan.RunConfig) runKind {
	switch {
	case c.Remote():
		return remoteKind{}
	case c.Workload != nil && c.Workload.TCP():
		return flowKind{}
	case c.Workload != nil:
		return linkKind{}
	case c.SenderKind() == "cyclictest":
		return cyclictestKind{}
	case c.SenderKind() == "stall_probe":
		return probeKind{}
	case c.Wire() && c.SenderKind() == "labrun":
		return wireKind{}
	case c.Wire():
		return peerKind{}
	}
	return bareKind{}
}

// linkKind measures the emulator itself: link.throughput or
// link.fidelity.
type linkKind struct{}

func (linkKind) run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error) {
	row, err := runWorkload(ctx, rc.run, rc.prog)
	return row, &replay.Result{Interrupted: ctx.Err() != nil}, err
}

// flowKind runs TCP flows through the emulated link (tcp.*).
type flowKind struct{}

func (flowKind) run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error) {
	row, err := runWorkload(ctx, rc.run, rc.prog)
	return row, &replay.Result{Interrupted: ctx.Err() != nil}, err
}

// cyclictestKind runs cyclictest in labrun's place.
type cyclictestKind struct{}

func (cyclictestKind) run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error) {
	row, settings, err := runCyclictest(ctx, rc.run, rc.prog, rc.allowSystem)
	return row, &replay.Result{Interrupted: ctx.Err() != nil, Settings: settings}, err
}

// wireKind sends with labrun's engine on a wire to a receiver.
type wireKind struct{}

func (wireKind) run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error) {
	return runWire(ctx, rc, labrunSender{})
}

// peerKind sends with a peer tool (tcpreplay, trafgen) on a wire.
type peerKind struct{}

func (peerKind) run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error) {
	return runWire(ctx, rc, &toolSender{})
}

// undoStack holds the steps that put back what a run set up (namespaces,
// receiver, forwarder, CPU masks), undone last first on every exit path.
type undoStack struct {
	steps []func() error
}

// push adds a step; a step whose error does not matter returns nil.
func (u *undoStack) push(step func() error) { u.steps = append(u.steps, step) }

// unwind undoes every step, last first, and returns their errors.
func (u *undoStack) unwind() error {
	var errs []error
	for i := len(u.steps) - 1; i >= 0; i-- {
		if err := u.steps[i](); err != nil {
			errs = append(errs, err)
		}
	}
	u.steps = nil
	return errors.Join(errs...)
}
