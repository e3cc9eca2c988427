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
	"math"
	"runtime"
	"runtime/debug"
	"slices"
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
	// Progress, if set, is increased by the number of packets sent, for a
	// display goroutine to read (every 256 packets and at the end).
	Progress *atomic.Int64
	// Senders, if set, replaces Source and Sink: each sender runs the timed
	// loop on its own locked thread, all from one start time, and sends
	// the packets whose flows trace.FlowPart assigns to its part, so every
	// flow keeps its order. Each sender needs its own instance of the
	// run's source; the sources must yield the same packets.
	Senders []Sender
	// NoIsolate leaves labrun's other threads where they are even when
	// every sending thread is pinned: the caller gave a CPU of its own to
	// something else (an emulated link) and the senders share the rest.
	NoIsolate bool
	// Profile, if N > 0, times one packet in N (on average) stage by
	// stage (see profile.go); 0 is off.
	Profile int
}

// Sender is one sending thread of a multi-threaded replay.
type Sender struct {
	Source trace.Source
	Sink   tx.Sink
	// CPUs pins this thread, overriding Kernel.CPUs.
	CPUs []int
}

// Result is what a replay measured. Times are clock.Now readings (ns).
// Sched and Actual are in sequence order (trace.Packet.Seq) whatever
// thread sent the packet.
type Result struct {
	Start     int64   // due time of offset 0
	Sched     []int64 // scheduled send time of each packet sent
	Actual    []int64 // actual send time (for a batching sink: when its batch left)
	StartWall time.Time
	Wall      time.Duration   // from Start to the last send
	CPUWall   time.Duration   // the span over which ThreadCPU and ProcCPU were measured
	ThreadCPU measure.CPUTime // summed over the sending threads
	ProcCPU   measure.CPUTime
	Timer     timer.Stats
	Sink      tx.Stats // summed over the senders
	SendErrs  int64
	Senders   int
	Settings  []kernel.Outcome
	// Interrupted is set when ctx ended the loop before the last packet.
	Interrupted bool
	// Profile is the send-loop profile (nil unless Config.Profile > 0).
	Profile *Profile
}

// thread is the state of one sending thread.
type thread struct {
	src     trace.Source
	sink    tx.Sink
	set     kernel.Settings
	part    int
	parts   int
	sched   []int64
	actual  []int64
	seq     []uint64 // with several threads: the sequence number of each row
	n       int      // rows filled
	cpu     measure.CPUTime
	cpuWall int64
	timer   timer.Stats
	sink0   tx.Stats
	errs    int64
	setOut  []kernel.Outcome
	prof    *profiler // nil unless profiling
}

// Run replays the configured source. It returns an error, and no result,
// only when the replay could not start (a required setting was skipped,
// the timer could not be created); an interruption returns what was
// measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := checkProfile(cfg.Profile); err != nil {
		return nil, err
	}
	senders := cfg.Senders
	if len(senders) == 0 {
		senders = []Sender{{Source: cfg.Source, Sink: cfg.Sink}}
	}
	parts := len(senders)
	total := senders[0].Source.Len()
	ths := make([]*thread, parts)
	for k, s := range senders {
		th := &thread{src: s.Source, sink: s.Sink, set: cfg.Kernel, part: k, parts: parts}
		if s.CPUs != nil {
			th.set.CPUs = s.CPUs
		}
		rows := total
		if parts > 1 {
			rows = countPart(s.Source, k, parts)
			th.seq = make([]uint64, rows)
		}
		if cfg.Profile > 0 {
			th.prof = newProfiler(cfg.Profile, rows, s.Sink)
		}
		th.sched, th.actual = make([]int64, rows), make([]int64, rows)
		// Touch the arrays so their page faults happen now, not in the loop.
		for i := range rows {
			th.sched[i], th.actual[i] = 0, 0
			if th.seq != nil {
				th.seq[i] = 0
			}
		}
		ths[k] = th
	}
	// Two spare Ps: when a timed thread returns from a sleep it must get a
	// P at once, even if the runtime handed its own P to another goroutine
	// meanwhile.
	// Relative to the current value, which an emulated link's stages may
	// have raised for their own threads.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), runtime.NumCPU()) + parts + 1))
	procOut, procUndo := kernel.ApplyProcess(cfg.Kernel)
	defer procUndo()
	// When every sending thread has its CPU, keep labrun's other threads
	// off those CPUs.
	var pinned []int
	for _, th := range ths {
		if len(th.set.CPUs) == 0 {
			pinned = nil
			break
		}
		pinned = append(pinned, th.set.CPUs...)
	}
	if len(pinned) > 0 && !cfg.NoIsolate {
		o, undo := kernel.KeepOff(pinned)
		defer undo()
		if o.State != kernel.Skipped {
			procOut = append(procOut, o)
		}
	}

	var stop atomic.Bool
	ready := make(chan error, parts)
	done := make(chan error, parts)
	release := make(chan struct{})
	var start atomic.Int64
	for _, th := range ths {
		go func() {
			// The thread is never unlocked: when this goroutine ends the
			// runtime discards it, with whatever policy, affinity and
			// slack it had.
			runtime.LockOSThread()
			// A panic on a timed thread (a bug in a source or sink) ends
			// the run as an error; the deferred undo has already run.
			defer func() {
				if r := recover(); r != nil {
					err := fmt.Errorf("replay: internal error: %v", r)
					select {
					case ready <- err:
					default:
					}
					done <- err
				}
			}()
			done <- th.run(cfg, &stop, &start, ready, release)
		}()
	}
	// Start every thread at once, or none.
	var setupErr error
	for range ths {
		if err := <-ready; err != nil && setupErr == nil {
			setupErr = err
		}
	}
	res := &Result{Senders: parts}
	if setupErr != nil {
		stop.Store(true)
	}
	res.StartWall = time.Now()
	proc0 := measure.ProcessCPU()
	lead := cfg.Lead
	if lead <= 0 {
		lead = DefaultLead
	}
	start.Store(clock.Now() + int64(lead))
	close(release)
	var runErr error
	for range ths {
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			stop.Store(true)
			err = <-done
		}
		if err != nil && runErr == nil {
			runErr = err
		}
	}
	for _, th := range ths {
		res.Settings = append(res.Settings, th.setOut...)
	}
	res.Settings = append(procOut, dedupe(res.Settings, parts)...)
	if setupErr != nil {
		return res, setupErr
	}
	res.ProcCPU = measure.ProcessCPU().Sub(proc0)
	res.merge(ths, start.Load(), total)
	return res, runErr
}

// dedupe keeps one thread's outcomes when every thread applied the same
// settings (the usual case), so a report lists each setting once.
func dedupe(out []kernel.Outcome, parts int) []kernel.Outcome {
	if parts <= 1 || len(out)%parts != 0 {
		return out
	}
	n := len(out) / parts
	for i := n; i < len(out); i++ {
		if out[i] != out[i%n] {
			return out
		}
	}
	return out[:n]
}

// countPart counts the packets of src in part k of parts, and rewinds it.
func countPart(src trace.Source, k, parts int) int {
	var p trace.Packet
	n := 0
	for src.Next(&p) {
		if trace.FlowPart(p.Frame, parts) == k {
			n++
		}
	}
	src.Rewind()
	return n
}

// run is one sending thread: settings, timer, then the timed loop.
func (th *thread) run(cfg Config, stop *atomic.Bool, start *atomic.Int64, ready chan<- error, release <-chan struct{}) error {
	out, undo := kernel.ApplyThread(th.set)
	defer undo()
	th.setOut = out
	if err := kernel.CheckRequired(out); err != nil {
		ready <- err
		return nil
	}
	tc := cfg.Timer
	tc.Stop = stop // a wait towards a far due time ends when the run is stopped
	tm, err := timer.New(tc)
	if err != nil {
		ready <- fmt.Errorf("timer: %w", err)
		return nil
	}
	defer tm.Close()
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ready <- nil
	<-release
	if stop.Load() {
		return nil
	}
	th.loop(cfg.Progress, stop, start.Load(), tm)
	th.timer = tm.Stats()
	return nil
}

// loop is the timed loop. It does not allocate, lock or log.
func (th *thread) loop(progress *atomic.Int64, stop *atomic.Bool, start int64, tm timer.Timer) {
	src, sink, sched, actual, seqs := th.src, th.sink, th.sched, th.actual, th.seq
	batch, _ := sink.(tx.Batcher)
	part, parts := th.part, th.parts
	pr := th.prof
	var p trace.Packet
	thr0 := measure.ThreadCPU()
	t0 := clock.Now()
	i, first := 0, 0
	for i < len(sched) && !stop.Load() && src.Next(&p) {
		if parts > 1 {
			if trace.FlowPart(p.Frame, parts) != part {
				continue
			}
			seqs[i] = p.Seq
		}
		if pr != nil {
			pr.read()
		}
		due := start + p.Offset
		if p.Offset > math.MaxInt64-start {
			due = math.MaxInt64
		}
		now := tm.Wait(due)
		if now < due && stop.Load() {
			break // stopped during the wait: this packet is not sent
		}
		if pr != nil && pr.on {
			if pr.send(sink, p.Frame, now) != nil {
				th.errs++
			}
		} else if sink.Send(p.Frame, now) != nil {
			th.errs++
		}
		sched[i], actual[i] = due, now
		i++
		if batch != nil && batch.Pending() == 0 {
			// A batch just left: its frames left now.
			for j := first; j < i; j++ {
				actual[j] = now
			}
			first = i
		}
		if progress != nil && i&255 == 0 {
			progress.Add(256)
		}
		if pr != nil {
			pr.end()
		}
	}
	if batch != nil {
		if batch.Flush() != nil {
			th.errs++
		}
		now := clock.Now()
		for j := first; j < i; j++ {
			actual[j] = now
		}
	}
	end := clock.Now()
	if progress != nil {
		progress.Add(int64(i & 255))
	}
	th.cpu = measure.ThreadCPU().Sub(thr0)
	th.cpuWall = end - t0
	th.n = i
	th.sink0 = sink.Stats()
}

// merge puts the threads' rows in sequence order and sums their counters.
func (r *Result) merge(ths []*thread, start int64, total int) {
	r.Start = start
	var cpuWall int64
	sent := 0
	for _, th := range ths {
		sent += th.n
		r.ThreadCPU.Exact += th.cpu.Exact
		r.ThreadCPU.User += th.cpu.User
		r.ThreadCPU.Sys += th.cpu.Sys
		cpuWall = max(cpuWall, th.cpuWall)
		r.Timer.Sleeps += th.timer.Sleeps
		r.Timer.Margin = max(r.Timer.Margin, th.timer.Margin)
		r.Sink.Packets += th.sink0.Packets
		r.Sink.Bytes += th.sink0.Bytes
		r.Sink.Errors += th.sink0.Errors
		r.Sink.Retries += th.sink0.Retries
		r.Sink.Syscalls += th.sink0.Syscalls
		r.SendErrs += th.errs
	}
	r.CPUWall = time.Duration(cpuWall)
	r.Profile = mergeProfiles(ths, cpuWall)
	if len(ths) == 1 {
		th := ths[0]
		r.Sched, r.Actual = th.sched[:th.n], th.actual[:th.n]
	} else {
		// Scatter by sequence number, then close the gaps an interruption
		// left.
		sched, actual := make([]int64, total), make([]int64, total)
		for _, th := range ths {
			for i := range th.n {
				if q := th.seq[i]; q < uint64(total) {
					sched[q], actual[q] = th.sched[i], th.actual[i]
				}
			}
		}
		n := 0
		for q := range sched {
			if actual[q] != 0 {
				sched[n], actual[n] = sched[q], actual[q]
				n++
			}
		}
		r.Sched, r.Actual = sched[:n], actual[:n]
	}
	r.Interrupted = sent < total
	end := start
	for _, a := range r.Actual {
		end = max(end, a)
	}
	r.Wall = time.Duration(end - start)
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
		// First to last send: with several threads the sequence
		// numbers' order is not the order in time.
		if span := slices.Max(r.Actual) - slices.Min(r.Actual); span > 0 {
			m[measure.RatePPS] = float64(n-1) / (float64(span) / 1e9)
		}
	}
	errs := make([]int64, n)
	measure.Errors(errs, r.Sched, r.Actual)
	measure.AddErrorMetrics(m, errs)
	measure.AddGapMetrics(m, r.Sched, r.Actual)
	m[measure.TimerSleeps] = float64(r.Timer.Sleeps)
	if r.Senders > 1 {
		m[measure.Senders] = float64(r.Senders)
	}
	if r.Sink.Retries > 0 || r.Sink.Errors > 0 {
		m[measure.SendRetries] = float64(r.Sink.Retries)
		m[measure.SendErrors] = float64(r.Sink.Errors)
	}
	if r.Sink.Syscalls > 0 {
		m[measure.SendSyscalls] = float64(r.Sink.Syscalls)
	}
	if r.Timer.Margin > 0 {
		m[measure.FirmMargin] = float64(r.Timer.Margin) / 1e3
	}
	r.Profile.addMetrics(m)
	return m
}
