package link

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/engine/clock"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/timer"
)

// Output receives the frames the output stage releases, on the output
// stage's thread. It must not allocate or block on anything but its own
// output device.
type Output interface {
	// Release hands one frame to the output at its due time. The frame
	// is a view into the shared buffer, valid only during the call. due
	// is its scheduled release time and now the clock reading at which
	// the output stage found it due.
	Release(frame []byte, due, now int64) error
	// Flush is called whenever nothing more is due right now: a batching
	// output sends what it holds.
	Flush() error
}

// PipeConfig describes one direction of an emulated link.
type PipeConfig struct {
	// Link is the emulated link that decides each frame's fate and release
	// time; nil makes the pipe a plain copy through the ring: every frame
	// is released at once and no clock is read (the baseline the
	// emulation's cost is compared with).
	Link *Config
	// Buffer is the ring's size in bytes, rounded up to a power of two;
	// 0 sizes it with BufferFor.
	Buffer int64
	// Batch is how many records the input stage writes before it publishes
	// them and the output stage releases before it hands their space back;
	// 0 means DefaultBatch. A frame that comes alone is published at once
	// by Publish.
	Batch int
	// NoCopy stores headers only, not the frames' bytes (TLEM's "without
	// copies" measurement). The output then sees frames of the right length
	// with stale contents.
	NoCopy bool
	// CPU pins the output stage's thread; -1 leaves it unpinned.
	CPU int
	// Record is how many release errors (actual - scheduled release) to
	// keep, one per released frame, for percentiles; the maximum is kept
	// for all.
	Record int
	// Idle says how the output stage waits while the buffer is empty: it
	// spins for Spin, then sleeps until the earliest time a new frame can
	// be due (its arrival plus the model's minimum delay) less IdleMargin,
	// at most 1 ms at a time. If that leaves less than MinSleep it keeps
	// spinning. 0 values mean the defaults.
	Spin       time.Duration
	IdleMargin time.Duration
	// Poll, when set, runs both stages on the output stage's thread: the
	// stage calls Poll whenever it would wait, and Poll calls Put for
	// every frame that has arrived, waiting up to block ns for the first
	// one when block > 0, and returns how many it put. Nobody else may
	// call Put or Publish then. On a machine with few CPUs this saves the
	// hand-offs between two threads that would share one CPU; frames keep
	// their arrival times as long as Poll stamps them with the time they
	// arrived (the kernel's receive time), not the time it read them.
	Poll func(block int64) int
	// Timer is how the output stage waits for a due time: timer.Firm
	// (the default: sleeps when the wait is long, spins the last stretch)
	// or timer.Busy (always spins: for a stage with a CPU of its own, where
	// a wake-up's lateness is the only cost of sleeping).
	Timer timer.Mode
}

// Pipeline defaults.
const (
	DefaultBatch      = 64
	MaxBatch          = 1 << 16
	DefaultSpin       = 20 * time.Microsecond
	DefaultIdleMargin = 100 * time.Microsecond
	minSleep          = 10 * time.Microsecond
	maxIdleSleep      = time.Millisecond
	// idleBlock bounds a wait for input that the input side can cut short
	// (a frame arriving, Close).
	idleBlock = 100 * time.Millisecond
	// pollStep is how often a spinning stage that runs the input side
	// looks at it while it waits for a due time.
	pollStep = 5 * time.Microsecond
	// DefaultBuffer is the ring's size when nothing bounds what is in
	// flight (no bandwidth limit).
	DefaultBuffer = 64 << 20
)

// BufferFor returns the ring size that holds everything an emulated link
// can have in flight: bandwidth x (maximum delay + time to drain a full
// queue), with room for the records' headers and padding (a 64 B frame
// takes 128 B). Without a bandwidth limit nothing bounds it and it returns
// DefaultBuffer; the input stage waits when the ring is full.
func BufferFor(c Config) int64 {
	if c.Bandwidth <= 0 || c.Rate != nil {
		return DefaultBuffer
	}
	bps := c.Bandwidth / 8
	inFlight := float64(delayMax(c.Delay)) / 1e9
	q := c.QueueBytes
	if qp := int64(c.QueuePackets); q == 0 || (qp > 0 && qp*1514 < q) {
		if qp == 0 {
			qp = DefaultQueuePackets
		}
		q = qp * 1514
	}
	inFlight += float64(q) / bps
	n := int64(2*bps*inFlight) + 4*MinRing
	if n > MaxRing {
		n = MaxRing
	}
	return n
}

// delayMax is the distribution's maximum, 0 for no delay.
func delayMax(d Delay) int64 {
	if d == nil {
		return 0
	}
	return d.Max()
}

// delayMin is the distribution's minimum, 0 for no delay.
func delayMin(d Delay) int64 {
	if d == nil {
		return 0
	}
	return d.Quantile(0)
}

// PipeStats is what one direction of an emulated link did.
type PipeStats struct {
	Model     ModelStats // arrivals, drops by cause, peaks of the link queue
	Released  uint64     // frames handed to the output
	Bytes     uint64     // their bytes
	OutErrors uint64     // Release or Flush errors
	FirstErr  error      // the first of them
	Waits     uint64     // times the input stage found the ring full and waited
	Aborted   uint64     // frames still in the ring when Close gave up
	// ReleaseErr holds actual - scheduled release in ns for the first
	// PipeConfig.Record frames (from the time the input stage read a frame
	// if that is later: see PutSeen); MaxReleaseErr covers all.
	ReleaseErr    []int64
	MaxReleaseErr int64
	// OutputCPU is the CPU time of the output stage's thread, and
	// Preempted the times another thread took its CPU (involuntary
	// context switches).
	OutputCPU time.Duration
	Preempted uint64
}

// Pipe is one direction of an emulated link: an input stage (the caller
// of Put, on its own thread) and an output stage (a goroutine locked to
// its thread) sharing one ring.
type Pipe struct {
	// Set up before the stages start; read-only afterwards.
	cfg      PipeConfig
	model    *Model
	out      Output
	r        *ring
	batch    int
	minDelay int64
	done     chan struct{}
	started  bool
	_        [lineSize]byte

	// The input stage's state, written for every frame: on cache lines of
	// its own, so the output stage's writes never invalidate them.
	prod      producer
	index     uint64
	pending   int
	waits     uint64
	closedPut bool
	_         [lineSize]byte

	// The output stage's state, likewise.
	cons      consumer
	released  uint64
	bytes     uint64
	outErrs   uint64
	firstErr  error
	errs      []int64
	maxErr    int64
	outCPU    time.Duration
	stopErr   error
	aborted   uint64
	preempted uint64
	_         [lineSize]byte

	closing atomic.Bool // no more Puts: drain and stop
	abort   atomic.Bool // stop now
	_       [lineSize]byte
	// sleeping is 1 while the output stage sleeps on it (a futex) waiting
	// for frames; the input stage reads it at every publish.
	sleeping atomic.Uint32
	_        [lineSize]byte
}

// NewPipe allocates the ring and prepares both stages; Start starts the
// output stage.
func NewPipe(cfg PipeConfig, out Output) (*Pipe, error) {
	if out == nil {
		return nil, errors.New("link pipe: no output")
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Batch < 1 || cfg.Batch > MaxBatch {
		return nil, fmt.Errorf("link pipe: batch %d out of range: accepted 1..%d", cfg.Batch, MaxBatch)
	}
	if cfg.Buffer < 0 || cfg.Record < 0 || cfg.Spin < 0 || cfg.IdleMargin < 0 {
		return nil, errors.New("link pipe: buffer, record, spin and idle margin must be >= 0")
	}
	if cfg.Spin == 0 {
		cfg.Spin = DefaultSpin
	}
	if cfg.IdleMargin == 0 {
		cfg.IdleMargin = DefaultIdleMargin
	}
	var model *Model
	if cfg.Link != nil {
		m, err := NewModel(*cfg.Link)
		if err != nil {
			return nil, err
		}
		model = m
	}
	if cfg.Buffer == 0 {
		cfg.Buffer = DefaultBuffer
		if cfg.Link != nil {
			cfg.Buffer = BufferFor(*cfg.Link)
		}
	}
	r, err := newRing(cfg.Buffer)
	if err != nil {
		return nil, fmt.Errorf("link pipe: %w", err)
	}
	p := &Pipe{cfg: cfg, model: model, out: out, r: r, batch: cfg.Batch, done: make(chan struct{})}
	p.prod = producer{r: r, limit: r.size}
	p.cons = consumer{r: r}
	if cfg.Record > 0 {
		p.errs = make([]int64, 0, cfg.Record)
	}
	if cfg.Link != nil {
		p.minDelay = delayMin(cfg.Link.Delay)
	}
	return p, nil
}

// Start starts the output stage. It returns once the stage's thread is set
// up (pinned, timer ready), or with the error that prevented it.
func (p *Pipe) Start() error {
	if p.started {
		return errors.New("link pipe: started twice")
	}
	p.started = true
	addProcs(1)
	ready := make(chan error, 1)
	go p.output(ready)
	if err := <-ready; err != nil {
		<-p.done
		addProcs(-1)
		return err
	}
	return nil
}

// Put is the input stage: it decides the frame's fate at arrival time at
// and, when it is delivered, copies it into the ring (waiting for room if
// the ring is full). It returns the fate. Call it from one goroutine only.
func (p *Pipe) Put(frame []byte, at int64) Fate { return p.PutSeen(frame, at, at) }

// PutSeen is Put for a frame that arrived at time at but was read by the
// input stage only at seen (a kernel receive time, read from a ring a
// little later). Its release is scheduled from at; its release error is
// counted from the later of its scheduled release and seen, so the time
// it spent before the emulator could see it is not charged to the
// emulator (it is reported apart, as input lag).
func (p *Pipe) PutSeen(frame []byte, at, seen int64) Fate {
	var release int64
	if p.model != nil {
		var fate Fate
		release, fate = p.model.Admit(at, len(frame))
		if fate != Deliver {
			return fate
		}
	}
	n := len(frame)
	off, ok := p.prod.reserve(n)
	if !ok {
		off = p.waitRoom(n)
	}
	h := p.r.hdr(off)
	h.release, h.arrival, h.seen, h.length, h.flags = release, at, seen, uint32(n), 0
	if !p.cfg.NoCopy {
		copy(p.r.buf[off+hdrSize:off+hdrSize+uint64(n)], frame)
	}
	p.prod.commit(n)
	p.index++
	p.pending++
	if p.pending >= p.batch {
		p.prod.publish()
		p.pending = 0
		p.wake()
	}
	return Deliver
}

// waitRoom publishes what is pending and waits until the output stage has
// freed room for an n-byte frame.
func (p *Pipe) waitRoom(n int) uint64 {
	p.prod.publish()
	p.pending = 0
	p.waits++
	for {
		tail := p.r.tail.Load()
		if off, ok := p.prod.reserve(n); ok {
			return off
		}
		timer.SpinWhile(&p.r.tail, tail, clock.Now()+int64(time.Millisecond))
	}
}

// Publish makes every frame Put so far visible to the output stage; call
// it when no further frame follows at once (Put publishes every Batch
// frames by itself).
func (p *Pipe) Publish() {
	p.prod.publish()
	p.pending = 0
	p.wake()
}

// Close ends the input: it publishes what is pending and lets the output
// stage release everything still in the ring, waiting at most bound; what
// is left after bound is counted as aborted. Put must not be called after
// Close.
func (p *Pipe) Close(bound time.Duration) error {
	if p.closedPut {
		return nil
	}
	p.closedPut = true
	if p.cfg.Poll == nil {
		p.Publish()
	}
	if !p.started {
		return nil
	}
	p.closing.Store(true)
	p.wake()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.abort.Store(true)
		p.wake()
		<-p.done
	}
	addProcs(-1)
	if p.aborted > 0 {
		return fmt.Errorf("link pipe: %d frames still in the emulated link after draining for %v", p.aborted, bound)
	}
	return p.stopErr
}

// Stats reports what the pipe did; call it after Close.
func (p *Pipe) Stats() PipeStats {
	s := PipeStats{Released: p.released, Bytes: p.bytes, OutErrors: p.outErrs, FirstErr: p.firstErr,
		Waits: p.waits, Aborted: p.aborted, ReleaseErr: p.errs, MaxReleaseErr: p.maxErr, OutputCPU: p.outCPU, Preempted: p.preempted}
	if p.model != nil {
		s.Model = p.model.Stats()
	}
	return s
}

// output is the output stage.
func (p *Pipe) output(ready chan<- error) {
	defer close(p.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if p.cfg.CPU >= 0 {
		if err := pinThread(p.cfg.CPU); err != nil {
			ready <- fmt.Errorf("link pipe: pinning the output stage: %w", err)
			return
		}
	}
	mode := p.cfg.Timer
	if mode == 0 {
		mode = timer.Firm
	}
	tm, err := timer.New(timer.Config{Mode: mode})
	if err != nil {
		ready <- fmt.Errorf("link pipe: output timer: %w", err)
		return
	}
	defer func() {
		if err := tm.Close(); err != nil && p.stopErr == nil {
			p.stopErr = fmt.Errorf("link pipe: restoring the output thread's timer slack: %w", err)
		}
	}()
	setThreadName("lr-link")
	cpu0 := threadCPU()
	var ru0, ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru0)
	ready <- nil
	p.loop(tm)
	p.outCPU = threadCPU() - cpu0
	unix.Getrusage(unix.RUSAGE_THREAD, &ru1)
	p.preempted = uint64(ru1.Nivcsw - ru0.Nivcsw)
}

// loop releases records at their due time until the input is closed and
// the ring is empty, or until abort.
func (p *Pipe) loop(tm timer.Timer) {
	r, c, out := p.r, &p.cons, p.out
	now := int64(0)
	if p.model != nil {
		now = clock.Now()
	}
	n := 0
	for {
		off, ok := c.peek()
		if !ok {
			c.free()
			n = 0
			p.flush()
			if p.closing.Load() {
				// Everything Put before Close is published before closing
				// is set: one more look decides.
				if _, ok := c.peek(); !ok {
					return
				}
				continue
			}
			if p.abort.Load() {
				return
			}
			if p.cfg.Poll != nil {
				now = p.idlePolling()
			} else {
				now = p.idle()
			}
			continue
		}
		h := r.hdr(off)
		if h.release > now {
			now = clock.Now()
			if h.release > now {
				c.free()
				n = 0
				p.flush()
				if p.abort.Load() {
					p.countAborted()
					return
				}
				if h.release-now > int64(maxIdleSleep)+int64(timer.DefaultMaxMargin) {
					// Far ahead: sleep in steps, to notice abort.
					timer.SleepUntil(now + int64(maxIdleSleep))
					now = clock.Now()
					continue
				}
				if p.cfg.Poll != nil {
					now = p.waitPolling(tm, h.release)
				} else {
					now = tm.Wait(h.release)
				}
			}
		}
		length := int(h.length)
		frame := r.buf[off+hdrSize : off+hdrSize+uint64(length)]
		if err := out.Release(frame, h.release, now); err != nil {
			p.outErr(err)
		}
		if p.model != nil {
			e := now - max(h.release, h.seen)
			if len(p.errs) < cap(p.errs) {
				p.errs = append(p.errs, e)
			}
			if e > p.maxErr {
				p.maxErr = e
			}
		}
		p.released++
		p.bytes += uint64(length)
		c.advance(length)
		n++
		if n >= p.batch {
			c.free()
			n = 0
			if p.abort.Load() {
				p.countAborted()
				return
			}
		}
	}
}

func (p *Pipe) flush() {
	if err := p.out.Flush(); err != nil {
		p.outErr(err)
	}
}

func (p *Pipe) outErr(err error) {
	if p.outErrs == 0 {
		p.firstErr = err
	}
	p.outErrs++
}

// countAborted counts the records left in the ring when the stage stops.
func (p *Pipe) countAborted() {
	c := &p.cons
	for {
		off, ok := c.peek()
		if !ok {
			break
		}
		c.advance(int(p.r.hdr(off).length))
		p.aborted++
	}
	c.free()
	p.flush()
}

// idle waits for the input stage to publish while the ring is empty: it
// spins for a while, then sleeps on a futex that the input stage's next
// publish (or Close) wakes, at most idleBlock. A frame
// published after a sleep is due no earlier than its arrival plus the
// model's minimum delay, so with a delay the wake-up costs nothing; with
// none, a frame that finds the stage asleep waits for the wake-up. It
// returns the clock when it ends.
func (p *Pipe) idle() int64 {
	head := p.cons.avail
	now := timer.SpinWhile(&p.r.head, head, clock.Now()+int64(p.cfg.Spin))
	if p.r.head.Load() != head {
		return now
	}
	p.sleeping.Store(1)
	if p.r.head.Load() == head && !p.closing.Load() {
		futexWait(&p.sleeping, 1, int64(idleBlock))
	}
	p.sleeping.Store(0)
	return clock.Now()
}

// pollInput runs the input side on the output stage's thread.
func (p *Pipe) pollInput(block int64) int {
	if p.closing.Load() {
		return 0
	}
	n := p.cfg.Poll(block)
	if n > 0 {
		p.Publish()
	}
	return n
}

// idlePolling waits for frames while the ring is empty and both stages
// run on this thread: it polls for a while, then blocks in Poll (which
// wakes as soon as a frame arrives), at most 1 ms at a time.
func (p *Pipe) idlePolling() int64 {
	until := clock.Now() + int64(p.cfg.Spin)
	for {
		if p.pollInput(0) > 0 || p.closing.Load() || p.abort.Load() {
			return clock.Now()
		}
		if now := clock.Now(); now >= until {
			p.pollInput(int64(idleBlock))
			return clock.Now()
		}
	}
}

// waitPolling waits until due with the timer, in steps of at most 1 ms,
// reading arrived frames in between. Frames that arrive meanwhile are due
// no earlier than due (release times are monotonic), so reading them late
// changes nothing; the steps only keep the receive ring from filling.
func (p *Pipe) waitPolling(tm timer.Timer, due int64) int64 {
	// A spinning stage looks at the input every few microseconds, so a
	// frame is read (and its input lag measured) as soon as it is there.
	step := int64(maxIdleSleep)
	if p.cfg.Timer == timer.Busy {
		step = int64(pollStep)
	}
	for {
		p.pollInput(0)
		now := clock.Now()
		if now >= due {
			return now
		}
		now = tm.Wait(min(due, now+step))
		if now >= due {
			p.pollInput(0)
			return now
		}
	}
}

// wake wakes the output stage if it sleeps waiting for frames.
func (p *Pipe) wake() {
	if p.sleeping.Load() != 0 {
		p.sleeping.Store(0)
		futexWake(&p.sleeping)
	}
}

// pinThread binds the calling thread to cpu.
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration { return measure.ThreadCPU().Total() }

// setThreadName names the calling thread (as top -H and traces show it).
func setThreadName(name string) {
	b := make([]byte, 16)
	copy(b[:15], name)
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}
