package execute

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// ProgressMode selects how progress is shown.
type ProgressMode int

// Progress modes.
const (
	ProgressPlain ProgressMode = iota // a line per run and every few seconds (CI, pipes)
	ProgressLive                      // a live line redrawn in place (terminals)
	ProgressQuiet                     // nothing
)

// progress draws from counters the timed loop publishes; it never runs in
// the loop itself. The sender stores one atomic counter per packet; this
// goroutine reads it on its own schedule.
type progress struct {
	w       io.Writer
	mode    ProgressMode
	total   int
	sent    atomic.Int64
	packets atomic.Int64 // packets of the current run, once its source is built
	mu      sync.Mutex
	cur     plan.Run
	started time.Time
	sched   time.Duration // the current run's scheduled duration
	active  bool
	done    chan struct{}
	once    sync.Once
}

func newProgress(w io.Writer, mode ProgressMode, total int) *progress {
	p := &progress{w: w, mode: mode, total: total, done: make(chan struct{})}
	if mode != ProgressQuiet {
		go p.draw()
	}
	return p
}

func (p *progress) startRun(r plan.Run) {
	p.mu.Lock()
	p.cur, p.started, p.active = r, time.Now(), true
	p.sched = r.Estimate()
	p.mu.Unlock()
	if p.mode == ProgressPlain {
		p.line("run %d/%d %s: %s, scheduled %v", r.Index+1, p.total, plan.ParamString(r.Params), plan.TraceLabel(r.Config.Trace), plan.Span(int64(r.Estimate())))
	}
}

func (p *progress) endRun(r plan.Run, m map[string]float64) {
	p.mu.Lock()
	p.active = false
	p.mu.Unlock()
	f := results.FormatValue
	if r.Config.Wire() {
		p.line("run %d/%d %s: done, sent %s, received %s, %s frames/s, inter-arrival error p50 %s us, p99 %s us, drift %s %%, CPU %s %%",
			r.Index+1, p.total, plan.ParamString(r.Params), f(m[measure.Sent]), f(m[measure.RxReceived]+m[measure.RxUnmarked]), f(m[measure.RxAllPPS]),
			f(m[measure.IATErrP50US]), f(m[measure.IATErrP99US]), f(m[measure.RxDriftPct]), f(m[measure.CPUPct]))
		return
	}
	p.line("run %d/%d %s: done, %d packets, ε p50 %s us, p99 %s us, max %s us, CPU %s %%",
		r.Index+1, p.total, plan.ParamString(r.Params), int(m[measure.Packets]), f(m[measure.ErrP50US]), f(m[measure.ErrP99US]), f(m[measure.ErrMaxUS]), f(m[measure.CPUPct]))
}

// line prints a whole line, clearing a live line first.
func (p *progress) line(format string, args ...any) {
	if p.mode == ProgressQuiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == ProgressLive {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprint(p.w, plan.Printable(fmt.Sprintf(format, args...))+"\n")
}

func (p *progress) draw() {
	defer func() {
		// Progress is not worth the run: a fault here stops the drawing,
		// and the run goes on to undo what it changed.
		if rec := recover(); rec != nil {
			defer func() { recover() }() // the writer itself may be the fault
			fmt.Fprintf(p.w, "\nlabrun: progress stopped: internal error: %v\n", rec)
		}
	}()
	every := 5 * time.Second
	if p.mode == ProgressLive {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		p.tick()
	}
}

// tick draws the current run's progress once.
func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return
	}
	n := p.sent.Load()
	total := p.packets.Load()
	el := time.Since(p.started)
	rate := float64(n) / el.Seconds()
	// The schedule, not the pace so far, says when the run ends: a
	// capture may idle for hours before its next packet.
	left := max(p.sched-el, 0)
	if p.sched == 0 && rate > 0 { // not known before the run
		left = time.Duration(float64(total-n) / rate * 1e9)
	}
	msg := fmt.Sprintf("run %d/%d %s: %d/%d packets, %.0f pps, %v elapsed, %v left",
		p.cur.Index+1, p.total, plan.ParamString(p.cur.Params), n, total, rate, el.Round(time.Second), left.Round(time.Second))
	if p.mode == ProgressLive {
		fmt.Fprint(p.w, "\r\033[K"+plan.Printable(msg))
	} else {
		fmt.Fprintln(p.w, plan.Printable(msg))
	}
}

func (p *progress) stop() {
	p.once.Do(func() {
		close(p.done)
		if p.mode == ProgressLive {
			p.mu.Lock()
			fmt.Fprint(p.w, "\r\033[K")
			p.mu.Unlock()
		}
	})
}
