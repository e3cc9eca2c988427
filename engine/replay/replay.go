// Package replay runs the timed send loop: packets from a source are
// released at their scheduled times by a timer and handed to a sink, and
// the scheduled and actual time of every packet is recorded.
//
// The schedule is anchored at one absolute start time: packet i is due at
// start + offset(i), whatever happened to packet i-1, so a late packet
// never shifts the rest of the run (no drift), unless the timer's late
// policy says otherwise (timer.Shift moves the rest of the schedule after
// a late packet, timer.Drop does not send packets later than a bound).
// Every sending thread keeps a timer.StallLog: the spans it did not run,
// and for every packet the stall time between its due time and its send.
// The loop runs on its own
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
	"github.com/labrun/labrun/engine/mem"
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
	// NoStallAccounting runs the timed loop without a timer.StallLog: no
	// stalls, no per-packet stall time. It exists to measure what the
	// accounting costs.
	NoStallAccounting bool
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

	// Stall is, per packet in the order of Sched, the stall time (ns)
	// between its due time and its send: how much of its lateness the
	// sending thread spent not running (0 for most; a stall that ended
	// before the due time delayed nothing and counts 0). Nil without
	// stall accounting.
	Stall []int64
	// Due is, per packet, the time the loop waited for: Sched moved by
	// the shift so far under timer.Shift; nil when it equals Sched.
	Due []int64
	// Stalls is the union of the sending threads' stalls, on the
	// clock.Now scale.
	Stalls     measure.Stalls
	StallCount int64 // stalls found, stored or not
	StallTotal int64 // their summed length, ns
	StallMax   int64 // the longest, ns
	StallSends int64 // of StallCount: found around a send call
	StallShort int64 // interruptions of a spin shorter than a stall (measure.InterruptThreshold), kept for attribution
	// StallOverflow counts stalls that did not fit the storage: Stalls
	// and Stall miss them.
	StallOverflow int64
	Sched0        measure.ThreadSched // summed over the sending threads (RunqWait -1: unknown)
	StealTicks    int64               // steal time of all CPUs during the run, USER_HZ ticks (-1: unknown)
	Late          timer.LatePolicy
	LateDropped   int64 // timer.Drop: packets not sent
	Shift         int64 // timer.Shift: how far the schedule moved, ns (the largest of the threads')
}

// thread is the state of one sending thread.
type thread struct {
	src     trace.Source
	sink    tx.Sink
	set     kernel.Settings
	part    int
	parts   int
	parted  bool // the source yields this part's packets only (trace.Parter)
	sched   []int64
	actual  []int64
	stall   []int64  // stall time within [due, send] per row (nil without accounting)
	due     []int64  // under timer.Shift: the shifted due time per row
	seq     []uint64 // with several threads: the sequence number of each row
	n       int      // rows filled
	log     *timer.StallLog
	dropped int64
	shift   int64
	sch     measure.ThreadSched
	pkt     trace.Packet
	cpu     measure.CPUTime
	cpuWall int64
	timer   timer.Stats
	sink0   tx.Stats
	errs    int64
	setOut  []kernel.Outcome
	prof    *profiler // nil unless profiling
	// seen counts the packets this thread took from its source, progress
	// (Config.Progress) every 256 of them.
	seen     int
	progress *atomic.Int64
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
		ths[k] = newThread(cfg, s, k, parts, total)
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

	// The GC is off for the run, switched once for all threads: each
	// thread switching it and restoring what it found left it off when
	// one thread found it off another had switched.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
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
	steal0 := measure.StealTicks()
	proc0 := measure.ProcessCPU()
	start.Store(clock.Now() + int64(leadOf(cfg)))
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
	res.StealTicks = -1
	if s1 := measure.StealTicks(); steal0 >= 0 && s1 >= 0 {
		res.StealTicks = s1 - steal0
	}
	res.Late = cfg.Timer.Late
	res.merge(ths, start.Load(), total)
	return res, runErr
}

// newThread prepares sending thread k of parts: its rows, touched so
// their page faults happen now, not in the loop.
func newThread(cfg Config, s Sender, k, parts, total int) *thread {
	th := &thread{src: s.Source, sink: s.Sink, set: cfg.Kernel, part: k, parts: parts}
	if s.CPUs != nil {
		th.set.CPUs = s.CPUs
	}
	rows := total
	if parts > 1 {
		if ps, ok := s.Source.(trace.Parter); ok && ps.Part(k, parts) {
			th.parted = true // every packet it yields is this thread's
		}
		rows = countPart(s.Source, k, parts, th.parted)
		th.seq = make([]uint64, rows)
	}
	th.sched, th.actual = make([]int64, rows), make([]int64, rows)
	if !cfg.NoStallAccounting {
		th.stall = make([]int64, rows)
		th.log = timer.NewStallLog(stallCap(rows))
	}
	if cfg.Timer.Late == timer.Shift {
		th.due = make([]int64, rows)
	}
	if cfg.Profile > 0 {
		th.prof = newProfiler(cfg.Profile, rows, s.Sink)
	}
	for _, a := range [][]int64{th.sched, th.actual, th.stall, th.due} {
		mem.Touch(a)
	}
	mem.Touch(th.seq)
	return th
}

// stallCap is how many stalls a thread sending rows packets can store: a
// few per packet, at least 4096, at most 1 Mi (16 MiB). A host stalling
// 1,500 times a second fills 4096 in 2.7 s, 1 Mi in 11 minutes; beyond,
// stalls are counted but not stored.
func stallCap(rows int) int { return min(4096+2*rows, 1<<20) }

// leadOf is the lead of a replay: from release to the first due time.
func leadOf(cfg Config) time.Duration {
	if cfg.Lead <= 0 {
		return DefaultLead
	}
	return cfg.Lead
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

// countPart counts the packets of src in part k of parts (every packet
// of a parted source is), and rewinds it.
func countPart(src trace.Source, k, parts int, parted bool) int {
	var p trace.Packet
	n := 0
	for src.Next(&p) {
		if parted || trace.FlowPart(p.Frame, parts) == k {
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
	tc.Stalls = th.log
	tm, err := timer.New(tc)
	if err != nil {
		ready <- fmt.Errorf("timer: %w", err)
		return nil
	}
	defer tm.Close()
	runtime.GC() // the GC itself is off (Run): collect the set-up's garbage now
	ready <- nil
	<-release
	if stop.Load() {
		return nil
	}
	th.loop(cfg, stop, start.Load(), tm)
	th.timer = tm.Stats()
	th.attribute()
	return nil
}

// loop is the timed loop. It does not allocate, lock or log.
func (th *thread) loop(cfg Config, stop *atomic.Bool, start int64, tm timer.Timer) {
	src, sink, sched, actual := th.src, th.sink, th.sched, th.actual
	dues, log := th.due, th.log
	th.progress = cfg.Progress
	late, dropAfter := cfg.Timer.Late, int64(cfg.Timer.DropAfter)
	batch, _ := sink.(tx.Batcher)
	// At topspeed most of the loop's own time was the clock reading of
	// each wait (25-40 ns on a VM against 5-10 ns for the rest). After a
	// frame, the frames a batching sink will only copy (tx.Roomer) and
	// that are due by that frame's reading go out in a short inner loop
	// without one: their send time is their batch's, stamped below from
	// the reading taken before the Send that hands the batch to the
	// kernel, which always comes through the full loop. Only under
	// catch_up, whose decisions need nothing but "due by now", and not
	// while profiling.
	var room tx.Roomer
	if r, ok := sink.(tx.Roomer); ok && batch != nil && late == timer.CatchUp && th.prof == nil {
		room = r
	}
	have := false  // p holds a packet the inner loop fetched and did not send
	ended := false // the inner loop found the source's end
	pr := th.prof
	p := &th.pkt // in the thread, not on the heap once per run
	var shift int64
	sch0 := measure.ThreadSchedNow()
	thr0 := measure.ThreadCPU()
	t0 := clock.Now()
	if log != nil {
		log.Begin(start-int64(leadOf(cfg)), t0)
	}
	i, first := 0, 0
	for i < len(sched) && !ended && !stop.Load() && (have || src.Next(p)) {
		if !have {
			if !th.mine(p, i) {
				continue
			}
			if pr != nil {
				pr.read()
			}
		}
		have = false
		due := addSat(start, p.Offset)
		eff := addSat(due, shift)
		now := tm.Wait(eff)
		if now < eff && stop.Load() {
			break // stopped during the wait: this packet is not sent
		}
		if late == timer.Drop && now-eff > dropAfter {
			th.dropped++
			if pr != nil {
				pr.dropped()
			}
			continue
		}
		if pr != nil && pr.on {
			if pr.send(sink, p.Frame, now) != nil {
				th.errs++
			}
		} else if sink.Send(p.Frame, now) != nil {
			th.errs++
		}
		sched[i], actual[i] = due, now
		if dues != nil {
			dues[i] = eff
			if now-eff > measure.StallThreshold {
				shift += now - eff
			}
		}
		i++
		if batch != nil && batch.Pending() == 0 {
			first = th.batchLeft(first, i, now)
		}
		if pr != nil {
			pr.end()
		}
		if room != nil {
			i, have, ended = th.sendDue(p, i, start, now, room.Room())
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
	if th.progress != nil {
		th.progress.Add(int64(th.seen & 255))
	}
	th.cpu = measure.ThreadCPU().Sub(thr0)
	th.sch = measure.ThreadSchedNow().Sub(sch0)
	th.cpuWall = end - t0
	th.n = i
	th.shift = shift
	th.sink0 = sink.Stats()
}

// batchLeft is called when the frames of rows first..i-1 just left in one
// batch: they left at now, the reading taken before the Send that handed
// them over. It returns the first row of the next batch.
func (th *thread) batchLeft(first, i int, now int64) int {
	for j := first; j < i; j++ {
		th.actual[j] = now
	}
	if th.log != nil && i-first > 1 {
		// Its system call was the batch's work, not a stall (a sink
		// that sends every frame alone keeps its long sends counted).
		th.log.Expected(clock.Now())
	}
	return i
}

// mine reports whether p is this thread's packet (with several threads,
// by its flow) and counts it: its sequence number in row i, and the
// packets seen.
func (th *thread) mine(p *trace.Packet, i int) bool {
	if th.parts > 1 {
		if !th.parted && trace.FlowPart(p.Frame, th.parts) != th.part {
			return false
		}
		th.seq[i] = p.Seq
	}
	th.seen++
	if th.progress != nil && th.seen&255 == 0 {
		th.progress.Add(256)
	}
	return true
}

// sendDue is loop's inner loop: from row i on, it sends the frames due by
// the reading now that the batching sink only copies (at most room-1:
// never the one that sends the batch), all stamped now. It returns the
// next row, and whether it stopped on a fetched packet not yet due (have:
// the full loop waits for it) or at the source's end.
func (th *thread) sendDue(p *trace.Packet, i int, start, now int64, room int) (next int, have, ended bool) {
	next, have, ended = th.copyDue(p, i, start, now, room)
	th.ownWork(next - i)
	return next, have, ended
}

// copyDue is sendDue's loop.
func (th *thread) copyDue(p *trace.Packet, i int, start, now int64, room int) (next int, have, ended bool) {
	for k := room - 1; k > 0 && i < len(th.sched); {
		if !th.src.Next(p) {
			return i, false, true
		}
		if !th.mine(p, i) {
			continue
		}
		due := addSat(start, p.Offset)
		if due > now {
			return i, true, false
		}
		if th.sink.Send(p.Frame, now) != nil {
			th.errs++
		}
		th.sched[i], th.actual[i] = due, now
		i++
		k--
	}
	return i, false, false
}

// ownFrameWork bounds the inner loop's own time per frame it copies
// (measured at 12-40 ns): a pass that took longer was stalled.
const ownFrameWork = 200 * time.Nanosecond

// ownWork tells the stall log that the inner loop's pass over n frames
// was the loop's work, not a stall, unless it took longer than n frames
// allow. Without it, 511 frames of 30 ns each made every batch a 15 us
// "send stall" at the next wait.
func (th *thread) ownWork(n int) {
	if th.log != nil && n > 0 {
		th.log.Own(clock.Now(), int64(n)*int64(ownFrameWork))
	}
}

// attribute gives each packet sent the stall time between its due time
// (the shifted one under timer.Shift) and its send. It runs after the
// loop, off the clock: the loop only records the stalls.
func (th *thread) attribute() {
	if th.log == nil {
		return
	}
	due := th.sched
	if th.due != nil {
		due = th.due
	}
	for i := range th.n {
		th.stall[i] = th.log.Within(due[i], th.actual[i])
	}
}

// addSat returns a + b, or math.MaxInt64 if that overflows (b >= 0).
func addSat(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// merge puts the threads' rows in sequence order and sums their counters.
func (r *Result) merge(ths []*thread, start int64, total int) {
	r.Start = start
	var cpuWall int64
	sent := 0
	var logs []measure.Stalls
	r.Sched0.RunqWait = 0
	for _, th := range ths {
		sent += th.n + int(th.dropped)
		r.LateDropped += th.dropped
		r.Shift = max(r.Shift, th.shift)
		r.Sched0.Nivcsw += th.sch.Nivcsw
		if th.sch.RunqWait < 0 || r.Sched0.RunqWait < 0 {
			r.Sched0.RunqWait = -1
		} else {
			r.Sched0.RunqWait += th.sch.RunqWait
		}
		if l := th.log; l != nil {
			logs = append(logs, l.Stalls())
			r.StallCount += l.Count
			r.StallTotal += l.Total
			r.StallMax = max(r.StallMax, l.Max)
			r.StallSends += l.Send
			r.StallShort += l.Short
			r.StallOverflow += l.Overflow
		}
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
	if logs != nil {
		r.Stalls = measure.Merge(logs...)
	}
	if len(ths) == 1 {
		th := ths[0]
		r.Sched, r.Actual = th.sched[:th.n], th.actual[:th.n]
		if th.stall != nil {
			r.Stall = th.stall[:th.n]
		}
		if th.due != nil {
			r.Due = th.due[:th.n]
		}
	} else {
		r.scatter(ths, total)
	}
	r.Interrupted = sent < total
	end := start
	for _, a := range r.Actual {
		end = max(end, a)
	}
	r.Wall = time.Duration(end - start)
}

// scatter puts the rows of several threads in sequence order, then
// closes the gaps an interruption or dropped packets left.
func (r *Result) scatter(ths []*thread, total int) {
	sched, actual := make([]int64, total), make([]int64, total)
	var stall, due []int64
	if ths[0].stall != nil {
		stall = make([]int64, total)
	}
	if ths[0].due != nil {
		due = make([]int64, total)
	}
	for _, th := range ths {
		for i := range th.n {
			if q := th.seq[i]; q < uint64(total) {
				sched[q], actual[q] = th.sched[i], th.actual[i]
				if stall != nil {
					stall[q] = th.stall[i]
				}
				if due != nil {
					due[q] = th.due[i]
				}
			}
		}
	}
	n := 0
	for q := range sched {
		if actual[q] != 0 {
			sched[n], actual[n] = sched[q], actual[q]
			if stall != nil {
				stall[n] = stall[q]
			}
			if due != nil {
				due[n] = due[q]
			}
			n++
		}
	}
	r.Sched, r.Actual = sched[:n], actual[:n]
	if stall != nil {
		r.Stall = stall[:n]
	}
	if due != nil {
		r.Due = due[:n]
	}
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
	r.addStallMetrics(m, errs)
	return m
}

// addStallMetrics puts the stall accounting, the scheduler's counters and
// the late policy's counts into m; errs are the errors against Sched.
func (r *Result) addStallMetrics(m map[string]float64, errs []int64) {
	switch r.Late {
	case timer.Drop:
		m[measure.LateDropped] = float64(r.LateDropped)
	case timer.Shift:
		m[measure.ShiftUS] = float64(r.Shift) / 1e3
	}
	m[measure.Nivcsw] = float64(r.Sched0.Nivcsw)
	if r.Sched0.RunqWait >= 0 {
		m[measure.RunqWaitUS] = float64(r.Sched0.RunqWait) / 1e3
	}
	if r.StealTicks >= 0 {
		m[measure.StealMS] = float64(r.StealTicks) * 10
	}
	if r.Stall == nil {
		return
	}
	m[measure.StallCount] = float64(r.StallCount)
	m[measure.StallMaxUS] = float64(r.StallMax) / 1e3
	m[measure.StallSends] = float64(r.StallSends)
	m[measure.StallShort] = float64(r.StallShort)
	if r.StallOverflow > 0 {
		m[measure.StallOverflow] = float64(r.StallOverflow)
	}
	if w := r.CPUWall.Seconds(); w > 0 {
		m[measure.StallPerS] = float64(r.StallCount) / w
		m[measure.StallPct] = 100 * float64(r.StallTotal) / 1e9 / (w * float64(max(r.Senders, 1)))
	}
	hit := 0
	for _, s := range r.Stall {
		if s > 0 {
			hit++
		}
	}
	m[measure.PktsStalled] = float64(hit)
	// The clean error is against the schedule the policy kept.
	clean := errs
	if r.Due != nil {
		clean = make([]int64, len(r.Due))
		measure.Errors(clean, r.Due, r.Actual)
	}
	measure.AddCleanErrorMetrics(m, clean, r.Stall)
}
