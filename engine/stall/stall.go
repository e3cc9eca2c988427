// Package stall measures when a CPU is taken away from a thread that
// wants it: a probe spins alone on a CPU reading the monotonic clock, and
// every gap between two consecutive readings longer than a threshold is a
// stall, time the thread did not run (an interrupt, the kernel, another
// thread, or, in a virtual machine, the host taking the vCPU). The
// stalls are kept as spans on the clock.Now scale, so they can be laid
// over packet times measured in the same run (measure.Stalls).
//
// A probe is the platform's noise floor on that CPU: a run kind of its own
// (sender.stall_probe) and a thread beside every paced wire run.
package stall

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
)

// Defaults of a Config.
const (
	DefaultThreshold = 10 * time.Microsecond
	DefaultKeep      = 1 << 16
	MaxKeep          = 1 << 22
)

// Config describes a probe.
type Config struct {
	// CPU is the CPU to spin on, or -1 to spin wherever the scheduler
	// puts the thread.
	CPU int
	// Threshold is the shortest gap between two clock readings counted as
	// a stall; 0 means DefaultThreshold (10 us: a reading takes tens of
	// ns, a timer interrupt a few us).
	Threshold time.Duration
	// Keep is how many stalls are kept as spans (preallocated); later
	// ones are counted but not kept. 0 means DefaultKeep.
	Keep int
}

func (c *Config) fill() error {
	if c.Threshold == 0 {
		c.Threshold = DefaultThreshold
	}
	if c.Threshold < time.Microsecond || c.Threshold > time.Second {
		return fmt.Errorf("stall probe: threshold %v: must be in [1us, 1s]", c.Threshold)
	}
	if c.Keep == 0 {
		c.Keep = DefaultKeep
	}
	if c.Keep < 1 || c.Keep > MaxKeep {
		return fmt.Errorf("stall probe: keep %d stalls: must be in [1, %d]", c.Keep, MaxKeep)
	}
	if c.CPU < -1 || c.CPU >= runtime.NumCPU() {
		return fmt.Errorf("stall probe: CPU %d: give a CPU in [0, %d], or -1 for no pinning", c.CPU, runtime.NumCPU()-1)
	}
	return nil
}

// Result is what a probe saw.
type Result struct {
	CPU      int
	From, To int64 // the span spun, clock.Now scale
	// Stalls are the kept stalls, in order: each From is the last
	// reading before the gap, To the first after it.
	Stalls measure.Stalls
	// Count and Lost count every stall and their summed length (ns),
	// kept or not; Longest is the longest one (ns).
	Count   int
	Lost    int64
	Longest int64
	// Dropped counts stalls past Keep that were not kept.
	Dropped int
}

// Probe is a spinning thread that records its stalls.
type Probe struct {
	cfg     Config
	stop    atomic.Bool
	dur     int64 // spin for this long (ns); 0: until told to stop
	ready   chan error
	done    chan struct{}
	res     Result
	stopped bool
}

// Start starts a probe on its own thread, pinned to cfg.CPU, and returns
// once it spins (or failed to pin). It spins until Stop.
func Start(cfg Config) (*Probe, error) { return start(cfg, 0) }

func start(cfg Config, dur time.Duration) (*Probe, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	p := &Probe{cfg: cfg, dur: int64(dur), ready: make(chan error, 1), done: make(chan struct{})}
	p.res.CPU = cfg.CPU
	p.res.Stalls = make(measure.Stalls, 0, cfg.Keep)
	go p.loop()
	if err := <-p.ready; err != nil {
		<-p.done
		return nil, err
	}
	return p, nil
}

// Run spins on cfg.CPU for d, or until ctx is done, and returns what the
// probe saw.
func Run(ctx context.Context, cfg Config, d time.Duration) (Result, error) {
	if d <= 0 {
		return Result{}, errors.New("stall probe: give a duration > 0")
	}
	p, err := start(cfg, d)
	if err != nil {
		return Result{}, err
	}
	stopCtx := context.AfterFunc(ctx, func() { p.stop.Store(true) })
	defer stopCtx()
	<-p.done
	p.stopped = true
	return p.res, nil
}

// Stop stops the probe and returns what it saw. Stop is idempotent.
func (p *Probe) Stop() Result {
	if !p.stopped {
		p.stop.Store(true)
		<-p.done
		p.stopped = true
	}
	return p.res
}

// loop pins the thread and spins. The thread stays locked when it
// returns, so the runtime discards it with its pinning.
func (p *Probe) loop() {
	defer close(p.done)
	runtime.LockOSThread()
	if p.cfg.CPU >= 0 {
		var set unix.CPUSet
		set.Set(p.cfg.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			p.ready <- fmt.Errorf("stall probe: pinning to CPU %d: %w", p.cfg.CPU, err)
			return
		}
	}
	p.spin()
}

// spin reads the clock until told to stop (or for p.dur) and records
// every gap longer than the threshold. No allocation: the stalls go into
// the preallocated slice. It says it is ready after its first reading,
// so that any stall from then on falls between two readings.
func (p *Probe) spin() {
	thr := int64(p.cfg.Threshold)
	r := &p.res
	last := clock.Now()
	r.From = last
	p.ready <- nil
	until := int64(math.MaxInt64)
	if p.dur > 0 {
		until = last + p.dur
	}
	record := func(from, to int64) {
		if g := to - from; g > thr {
			r.Count++
			r.Lost += g
			r.Longest = max(r.Longest, g)
			if len(r.Stalls) < cap(r.Stalls) {
				r.Stalls = append(r.Stalls, measure.Stall{From: from, To: to})
			} else {
				r.Dropped++
			}
		}
	}
	for !p.stop.Load() && last < until {
		now := clock.Now()
		record(last, now)
		last = now
	}
	// One reading after the flag: a stall between the last reading and
	// the flag (while the probe was told to stop) is counted too.
	now := clock.Now()
	record(last, now)
	last = now
	r.To = last
}

// Summary is a probe's stalls as the figures labrun reports.
type Summary struct {
	Count   int
	PerS    float64 // stalls per second spun
	LostPct float64 // time in stalls over the time spun, %
	P999    int64   // 99.9th percentile of the stall lengths, ns (of the kept ones)
	Max     int64   // longest, ns
	WallS   float64 // time spun, s
}

// Summarize returns r's figures.
func (r Result) Summarize() Summary {
	s := Summary{Count: r.Count, Max: r.Longest}
	wall := r.To - r.From
	if wall <= 0 {
		return s
	}
	s.WallS = float64(wall) / 1e9
	s.PerS = float64(r.Count) / s.WallS
	s.LostPct = 100 * float64(r.Lost) / float64(wall)
	if n := len(r.Stalls); n > 0 {
		lens := make([]int64, n)
		for i, st := range r.Stalls {
			lens[i] = st.Len()
		}
		slices.Sort(lens)
		s.P999 = measure.Quantile(lens, 0.999)
	}
	return s
}
