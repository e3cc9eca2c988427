// Package replay runs the timed send loop: packets from a source are
// released at their scheduled times by a timer and handed to a sink, and
// the scheduled and actual time of every packet is recorded.
//
// The schedule is anchored at one absolute start time: packet i is due at
// start + offset(i), whatever happened to packet i-1, so a late packet
// never shifts the rest of the run (no drift). The loop runs on its own
// locked OS thread with the run's thread settings; it does not allocate,
// lock, log or collect garbage: the Go GC is switched off for its
// duration and the recording arrays are preallocated and touched first.
package replay

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/tx"
)

// DefaultLead is the time between setting up and the first due time.
const DefaultLead = 2 * time.Millisecond

// Config describes one replay.
type Config struct {
	Source trace.Source
	Timer  timer.Config
	Sink   tx.Sink
	Kernel kernel.Settings
	// Lead is the delay from the end of set-up to the first due time.
	Lead time.Duration
	// Progress, if set, is stored with the number of packets sent so far
	// (one atomic store per packet, for a display goroutine to read).
	Progress *atomic.Int64
}

// Result is what a replay measured. Times are clock.Now readings (ns).
type Result struct {
	Start     int64   // due time of offset 0
	Sched     []int64 // scheduled send time of each packet sent
	Actual    []int64 // actual send time of each packet sent
	StartWall time.Time
	Wall      time.Duration // from Start to the last send
	CPUWall   time.Duration // the span over which ThreadCPU and ProcCPU were measured
	ThreadCPU measure.CPUTime
	ProcCPU   measure.CPUTime
	Timer     timer.Stats
	Sink      tx.Stats
	SendErrs  int64
	Settings  []kernel.Outcome
	// Interrupted is set when ctx ended the loop before the last packet.
	Interrupted bool
}

// Run replays cfg.Source. It returns an error, and no result, only when
// the replay could not start (a required setting was skipped, the timer
// could not be created); an interruption returns what was measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	n := cfg.Source.Len()
	res := &Result{Sched: make([]int64, n), Actual: make([]int64, n)}
	// Touch the arrays so their page faults happen now, not in the loop.
	for i := range n {
		res.Sched[i], res.Actual[i] = 0, 0
	}
	// Two spare Ps: when the timed thread returns from a sleep it must get
	// a P at once, even if the runtime handed its own P to another
	// goroutine meanwhile.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU() + 2))
	procOut, procUndo := kernel.ApplyProcess(cfg.Kernel)
	defer procUndo()
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine ends the
		// runtime discards it, with whatever policy, affinity and slack
		// it had.
		runtime.LockOSThread()
		// A panic on the timed thread (a bug in a source or sink) ends the
		// run as an error; loop's deferred undo has already run.
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("replay: internal error: %v", r)
			}
		}()
		done <- loop(cfg, res, &stop, procOut)
	}()
	select {
	case err := <-done:
		return res, err
	case <-ctx.Done():
		stop.Store(true)
		err := <-done
		return res, err
	}
}

func loop(cfg Config, res *Result, stop *atomic.Bool, procOut []kernel.Outcome) error {
	out, undo := kernel.ApplyThread(cfg.Kernel)
	defer undo()
	res.Settings = append(procOut, out...)
	if err := kernel.CheckRequired(res.Settings); err != nil {
		res.Sched, res.Actual = res.Sched[:0], res.Actual[:0]
		return err
	}
	tm, err := timer.New(cfg.Timer)
	if err != nil {
		res.Sched, res.Actual = res.Sched[:0], res.Actual[:0]
		return fmt.Errorf("timer: %w", err)
	}
	defer tm.Close()

	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	lead := cfg.Lead
	if lead <= 0 {
		lead = DefaultLead
	}
	src, sink, sched, actual := cfg.Source, cfg.Sink, res.Sched, res.Actual
	var p trace.Packet
	thr0, proc0 := measure.ThreadCPU(), measure.ProcessCPU()
	res.StartWall = time.Now()
	t0 := clock.Now()
	start := t0 + int64(lead)
	res.Start = start
	i := 0
	for i < len(sched) && !stop.Load() && src.Next(&p) {
		due := start + p.Offset
		now := tm.Wait(due)
		if sink.Send(p.Frame, now) != nil {
			res.SendErrs++
		}
		sched[i], actual[i] = due, now
		i++
		if cfg.Progress != nil {
			cfg.Progress.Store(int64(i))
		}
	}
	end := clock.Now()
	res.ThreadCPU = measure.ThreadCPU().Sub(thr0)
	res.ProcCPU = measure.ProcessCPU().Sub(proc0)
	res.CPUWall = time.Duration(end - t0)
	res.Sched, res.Actual = sched[:i], actual[:i]
	res.Interrupted = i < src.Len()
	if i > 0 {
		end = actual[i-1]
	}
	res.Wall = time.Duration(end - start)
	res.Timer = tm.Stats()
	res.Sink = sink.Stats()
	return nil
}

// Metrics summarises a result with labrun's metric names.
func (r *Result) Metrics() map[string]float64 {
	m := map[string]float64{}
	n := len(r.Sched)
	m[measure.Packets] = float64(n)
	wall := r.Wall
	m[measure.WallS] = wall.Seconds()
	m[measure.CPUPct] = measure.Pct(r.ThreadCPU.Total(), r.CPUWall)
	m[measure.ProcCPUPct] = measure.Pct(r.ProcCPU.Total(), r.CPUWall)
	if n > 1 {
		if span := r.Sched[n-1] - r.Sched[0]; span > 0 {
			m[measure.RateReqPPS] = float64(n-1) / (float64(span) / 1e9)
		}
		if span := r.Actual[n-1] - r.Actual[0]; span > 0 {
			m[measure.RatePPS] = float64(n-1) / (float64(span) / 1e9)
		}
	}
	errs := make([]int64, n)
	measure.Errors(errs, r.Sched, r.Actual)
	measure.AddErrorMetrics(m, errs)
	measure.AddGapMetrics(m, r.Sched, r.Actual)
	m[measure.TimerSleeps] = float64(r.Timer.Sleeps)
	if r.Timer.Margin > 0 {
		m[measure.FirmMargin] = float64(r.Timer.Margin) / 1e3
	}
	return m
}
