package execute

import (
	"context"
	"errors"
	"time"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// runCyclictest runs cyclictest on the run's schedule (the trace's
// interval and count) with the run's kernel settings turned into its own
// options, so its wake-up latency stands beside labrun's epsilon.
func runCyclictest(ctx context.Context, r plan.Run, prog *progress, allowSystem bool) (results.Row, []kernel.Outcome, error) {
	_ = allowSystem // cyclictest's dma_latency hold ends with it: no --allow-system needed
	row := results.Row{ID: r.ID, Params: r.Params, Metrics: map[string]float64{}}
	c := r.Config
	if _, err := peer.Find("cyclictest"); errors.Is(err, peer.ErrNotInstalled) {
		return row, nil, &SkipError{Reason: err.Error()}
	}
	ct, out := plan.CyclictestConfig(c)
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
