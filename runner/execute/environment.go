package execute

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/load"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/runner/plan"
)

// environment is what surrounds a run: its system-wide settings (undone
// after it) and its background loads (ended with it).
type environment struct {
	outcomes []kernel.Outcome
	undo     undoStack // the system settings
	group    *load.Group
	stress   []func() ([]peer.StressMetric, error)
	cancel   context.CancelFunc
	start    time.Time
}

// startEnvironment applies the run's system settings and starts its
// loads. On error everything already done is undone. The caller must call
// stop (also on error paths after it returned).
func startEnvironment(ctx context.Context, dir string, r plan.Run, permit kernel.Permit) (*environment, error) {
	c := r.Config
	e := &environment{cancel: func() {}}
	if c.Kernel.HasSystem() {
		var j *kernel.Journal
		if permit.System {
			var err error
			if j, err = kernel.OpenJournal(""); err != nil {
				return nil, fmt.Errorf("undo journal: %w", err)
			}
		}
		out, undo, err := kernel.ApplySystem(c.Kernel.System(), permit, j)
		if err != nil {
			return nil, err
		}
		e.outcomes = out
		e.undo.push(func() error { undo(); return nil })
		if err := kernel.CheckRequired(out); err != nil {
			e.undo.unwind()
			return nil, err
		}
	}
	if len(c.Loads) == 0 {
		return e, nil
	}
	lctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	e.start = time.Now()
	bound := plan.LoadBound(r)
	var specs []load.Spec
	for _, l := range c.Loads {
		if l.Kind == "stress_ng" {
			if _, err := peer.Find("stress-ng"); errors.Is(err, peer.ErrNotInstalled) {
				e.stop(nil)
				return nil, &SkipError{Reason: err.Error()}
			}
			wait, err := peer.RunStressNG(lctx, peer.StressNG{CPU: l.CPU, CPULoad: l.CPULoad, VM: l.VM, VMBytes: l.VMBytes,
				HDD: l.HDD, HDDBytes: l.HDDBytes, Timeout: bound.Truncate(time.Second), Dir: dir})
			if err != nil {
				e.stop(nil)
				return nil, fmt.Errorf("background %s: %w", l.Label, err)
			}
			e.stress = append(e.stress, wait)
			continue
		}
		s := load.Spec{Kind: l.Kind, CPUs: l.CPUs, Nice: l.Nice, Sched: l.Sched, Duration: bound, Duty: l.Duty, Threads: l.Threads,
			Bytes: l.Bytes, Rate: l.Rate, Size: l.Size, N: l.Count, Interval: time.Duration(l.Interval)}
		if l.Kind == load.KindHDD {
			s.Dir = dir
		}
		specs = append(specs, s)
	}
	g, err := load.StartAll(lctx, specs)
	if err != nil {
		e.stop(nil)
		return nil, fmt.Errorf("background loads: %w", err)
	}
	e.group = g
	return e, nil
}

// loadMetric is the metric a load kind's achieved work goes to.
var loadMetric = map[string]string{
	load.KindCPU:    measure.LoadSpinLoops,
	load.KindVM:     measure.LoadVMFaults,
	load.KindHDD:    measure.LoadHDDMBs,
	load.KindUDP:    measure.LoadUDPPPS,
	load.KindTimers: measure.LoadTimerWakeups,
}

// stop ends the loads, puts what they achieved into m (when not nil) and
// undoes the system settings.
func (e *environment) stop(m map[string]float64) error {
	defer e.undo.unwind()
	var errs []error
	var cpu time.Duration
	wall := time.Since(e.start)
	if e.group != nil {
		reports, err := e.group.Stop(0)
		if err != nil {
			errs = append(errs, fmt.Errorf("background loads: %w", err))
		}
		for _, rep := range reports {
			cpu += rep.CPU
			if m != nil {
				m[loadMetric[rep.Kind]] += rep.Work
			}
		}
		e.group = nil
	}
	e.cancel() // stress-ng ends now
	for _, wait := range e.stress {
		ms, err := wait()
		if err != nil && m != nil {
			errs = append(errs, err)
		}
		for _, x := range ms {
			if m != nil {
				m[measure.LoadStressOps] += x.OpsPerSec
			}
			cpu += time.Duration(x.CPUPercent / 100 * x.WallS * float64(time.Second))
		}
	}
	e.stress = nil
	if m != nil && wall > 0 && cpu > 0 {
		m[measure.LoadCPUPct] = measure.Pct(cpu, wall)
	}
	return errors.Join(errs...)
}
