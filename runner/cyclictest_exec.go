package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/results"
)

// runCyclictest runs cyclictest on the run's schedule (the trace's
// interval and count) with the run's kernel settings turned into its own
// options, so its wake-up latency stands beside labrun's epsilon.
func runCyclictest(ctx context.Context, r Run, prog *progress, allowSystem bool) (results.Row, []kernel.Outcome, error) {
	_ = allowSystem // cyclictest's dma_latency hold ends with it: no --allow-system needed
	row := results.Row{ID: r.ID, Params: r.Params, Metrics: map[string]float64{}}
	c := r.Config
	if _, err := peer.Find("cyclictest"); errors.Is(err, peer.ErrNotInstalled) {
		return row, nil, &SkipError{Reason: err.Error()}
	}
	ct, out := cyclictestConfig(c)
	if err := kernel.CheckRequired(out); err != nil {
		return row, out, err
	}
	prog.sent.Store(0)
	prog.packets.Store(int64(c.Trace.Count))
	res, err := peer.RunCyclictest(ctx, ct, 10*time.Second)
	if err != nil {
		return row, out, err
	}
	prog.sent.Store(int64(res.Cycles))
	m := row.Metrics
	m[measure.Packets] = float64(res.Cycles)
	m[measure.ErrMeanUS] = res.Avg
	m[measure.ErrMinUS] = float64(res.Min)
	m[measure.ErrP50US] = float64(res.Quantile(0.5))
	m[measure.ErrP90US] = float64(res.Quantile(0.9))
	m[measure.ErrP99US] = float64(res.Quantile(0.99))
	m[measure.ErrP999US] = float64(res.Quantile(0.999))
	m[measure.ErrMaxUS] = float64(res.Max)
	m[measure.WallS] = res.Wall.Seconds()
	m[measure.CPUPct] = measure.Pct(res.CPU, res.Wall)
	return row, out, nil
}

// cyclictestConfig turns the run's kernel settings into cyclictest's own
// options, and says what became of each.
func cyclictestConfig(c RunConfig) (peer.Cyclictest, []kernel.Outcome) {
	k := c.Kernel
	ct := peer.Cyclictest{Interval: time.Duration(c.Trace.Interval), Loops: c.Trace.Count, CPU: -1, Mlock: k.Mlock, Policy: "other"}
	var out []kernel.Outcome
	note := func(setting, value string, state kernel.State, reason string) {
		out = append(out, kernel.Outcome{Setting: setting, Value: value, State: state, Reason: reason, Required: contains(k.Required, setting)})
	}
	switch k.Sched {
	case "fifo", "rr":
		ct.Policy, ct.Priority = k.Sched, k.Priority
		note("sched", fmt.Sprintf("%s %d (cyclictest --policy -p)", k.Sched, k.Priority), kernel.Applied, "")
	}
	if len(k.CPUs) == 1 {
		ct.CPU = k.CPUs[0]
		note("cpu", fmt.Sprintf("%d (cyclictest -a)", ct.CPU), kernel.Applied, "")
	} else if len(k.CPUs) > 1 {
		note("cpu", fmt.Sprint(k.CPUs), kernel.Skipped, "cyclictest's one thread takes one CPU")
	}
	if k.Mlock {
		note("mlock", "cyclictest -m", kernel.Applied, "")
	}
	if k.DMALatency != nil {
		switch {
		case *k.DMALatency != 0:
			note("dma_latency", time.Duration(*k.DMALatency).String(), kernel.Skipped, "cyclictest can hold only 0")
		default:
			ct.DMALatency = true
			note("dma_latency", "0s (held by cyclictest)", kernel.Applied, "")
		}
	}
	if k.TimerSlack > 0 {
		note("timer_slack", time.Duration(k.TimerSlack).String(), kernel.Skipped, "cyclictest has no timer slack option")
	}
	return ct, out
}
