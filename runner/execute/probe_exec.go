package execute

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/replay"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/stall"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// probeKind spins a stall probe on one CPU for as long as the run's
// trace lasts (sender.stall_probe): the platform's own noise, on a row
// beside the senders.
type probeKind struct{}

func (probeKind) run(ctx context.Context, rc *runContext) (results.Row, *replay.Result, error) {
	r := rc.run
	c := r.Config
	row := results.Row{ID: r.ID, Params: r.Params, Metrics: map[string]float64{}}
	cfg := stall.Config{CPU: runtime.NumCPU() - 1, Threshold: time.Duration(c.Sender.Threshold)}
	if len(c.Sender.CPUs) > 0 {
		cfg.CPU = c.Sender.CPUs[0]
	}
	d := time.Duration(c.Trace.Interval) * time.Duration(c.Trace.Count)
	cfg.Keep = int(min(max(int64(d/(50*time.Microsecond)), stall.DefaultKeep), stall.MaxKeep))
	rc.prog.sent.Store(0)
	rc.prog.packets.Store(0)
	res, err := stall.Run(ctx, cfg, d)
	if err != nil {
		return row, nil, err
	}
	s := res.Summarize()
	m := row.Metrics
	m[measure.StallCount] = float64(s.Count)
	m[measure.StallPerS] = s.PerS
	m[measure.StallPct] = s.LostPct
	m[measure.StallP999US] = float64(s.P999) / 1e3
	m[measure.StallMaxUS] = float64(s.Max) / 1e3
	m[measure.WallS] = s.WallS
	if err := writeProbeSeries(filepath.Join(rc.dir, "series", r.ID+".csv"), res); err != nil {
		return row, nil, err
	}
	return row, &replay.Result{Interrupted: ctx.Err() != nil}, nil
}

// writeProbeSeries writes one row per stall kept: when it began, from the
// start of the probe (scheduled_ns), and how long it lasted (stall_ns).
func writeProbeSeries(path string, res stall.Result) error {
	at, n := make([]int64, len(res.Stalls)), make([]int64, len(res.Stalls))
	for i, s := range res.Stalls {
		at[i], n[i] = s.From-res.From, s.Len()
	}
	return writeSeriesCols(path, at, []seriesCol{{"stall_ns", n}})
}

// runProbe is the stall probe beside a paced wire run: it spins on the
// receiver's CPU while the sender sends, when the sender leaves that CPU
// free. Its stalls can move the receive stamps only when the kernel
// stamps frames on that CPU (stampsOn); otherwise they are the
// platform's noise in the same run, reported beside the figures.
type runProbe struct {
	p   *stall.Probe
	res stall.Result
}

// startProbe starts the run's probe, or returns nil when the run has
// none: turned off, not paced (at top speed the receiving thread on that
// CPU needs all of it), an emulated link, or a sender that may use the
// CPU.
func (w *wire) startProbe(senderCPUs []int) (*runProbe, error) {
	c := w.c
	if c.Receiver == nil || !c.Receiver.Probe || !w.paced() || c.Link != nil || runtime.NumCPU() < 2 {
		return nil, nil
	}
	cpu := 0
	if c.Receiver.CPU != nil {
		cpu = *c.Receiver.CPU
	}
	if len(senderCPUs) == 0 {
		return nil, nil // the sender may run anywhere
	}
	for _, s := range senderCPUs {
		if s == cpu {
			return nil, nil
		}
	}
	// Room for a stall every 50 us of the schedule, far more than any
	// machine labrun ran on.
	keep := stall.DefaultKeep
	if n := len(w.sched); n > 0 {
		keep = int(min(max(w.sched[n-1]/50_000, int64(keep)), stall.MaxKeep))
	}
	p, err := stall.Start(stall.Config{CPU: cpu, Keep: keep})
	if err != nil {
		return nil, fmt.Errorf("stall probe: %w", err)
	}
	rp := &runProbe{p: p}
	w.undo.push(func() error { rp.stop(); return nil })
	return rp, nil
}

// paced reports whether the run sends on a schedule: one that spans some
// time, and a sender that keeps to it.
func (w *wire) paced() bool {
	if s := w.c.Sender; s != nil && s.Kind == "tcpreplay" && s.Timing == "topspeed" {
		return false
	}
	for _, o := range w.sched {
		if o > 0 {
			return true
		}
	}
	return false
}

// stop stops the probe (once) and returns what it saw.
func (rp *runProbe) stop() stall.Result {
	if rp.p != nil {
		rp.res = rp.p.Stop()
		rp.p = nil
	}
	return rp.res
}

// addMetrics puts the probe's figures into m.
func (rp *runProbe) addMetrics(m map[string]float64) {
	s := rp.res.Summarize()
	m[measure.ProbeCount] = float64(s.Count)
	m[measure.ProbePerS] = s.PerS
	m[measure.ProbePct] = s.LostPct
	m[measure.ProbeMaxUS] = float64(s.Max) / 1e3
}

// senderCPUs is where the run's sender runs: labrun's pinned threads, or
// the peer tool's CPU; nil when it may run anywhere.
func senderCPUs(c plan.RunConfig) []int {
	n := runtime.NumCPU()
	switch c.SenderKind() {
	case "labrun":
		if c.Sender != nil && len(c.Sender.CPUs) > 0 {
			return c.Sender.CPUs
		}
		if labrunThreads(c) > 1 || len(c.Kernel.CPUs) > 0 {
			return nil
		}
		return []int{n - 1}
	case "tcpreplay":
		return []int{n - 1}
	case "trafgen":
		if c.Sender.Procs <= 1 {
			return []int{n - 1}
		}
	}
	return nil
}

// stampsOn says whether the kernel takes the receive stamps on cpu, for a
// sender on other CPUs, given net.core.netdev_tstamp_prequeue: with 1 it
// stamps in netif_rx, on the sending CPU inside the send call, before RPS
// moves the frame; with 0, when the backlog is processed, on the RPS CPU
// (docs/replay-vs-tcpreplay.md, "What can move a receive stamp").
func stampsOn(prequeue, cpu int, rps []int) bool {
	return prequeue == 0 && len(rps) == 1 && rps[0] == cpu
}

// tstampPrequeue reads net.core.netdev_tstamp_prequeue; 1, the kernel's
// default, if it cannot be read.
func tstampPrequeue() int {
	b, err := os.ReadFile("/proc/sys/net/core/netdev_tstamp_prequeue")
	if err != nil {
		return 1
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1
	}
	return v
}

// senderStalls returns the sender's own stalls (labrun's sending threads:
// gaps in their clock readings, late wake-ups), on the clock.Now scale.
func senderStalls(res *replay.Result) measure.Stalls {
	if res == nil {
		return nil
	}
	return res.Stalls
}

// exclusion builds the stalls the clean inter-arrival figures leave out:
// those that can move a receive stamp. The sender's own stalls (labrun
// only: a peer tool does not report them) and the probe's when the kernel
// stamps on the probe's CPU. nil when nothing can be attributed: the
// clean columns then stay empty rather than repeat the raw figures.
func (w *wire) exclusion(res *replay.Result, start int64, labrun bool, rp *runProbe) *rx.Exclusion {
	x := &rx.Exclusion{}
	if labrun {
		x.Sources |= rx.SourceSender
		x.Stalls = senderStalls(res)
		if res != nil && res.Due != nil && len(res.Due) == len(w.sched) {
			// late = "shift": the due times the loop waited for.
			x.Due = res.Due
		} else if start != 0 {
			// Catch-up: frame i is due at start + sched[i].
			x.Due = make([]int64, len(w.sched))
			for i, s := range w.sched {
				x.Due[i] = start + s
			}
		}
	}
	// A probe that could not keep every stall cannot clear a pair.
	if rp != nil && rp.res.Dropped == 0 && stampsOn(tstampPrequeue(), rp.res.CPU, w.c.Topology.RPS) {
		x.Sources |= rx.SourceProbe
		x.Stalls = measure.Merge(x.Stalls, rp.res.Stalls)
	}
	if x.Sources == 0 {
		return nil
	}
	return x
}
