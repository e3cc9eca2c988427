// Package linkconf turns the plan's emulated-link configs into the
// engine's (engine/link), reading the delay and delivery-trace files they
// name. runner/script calls it to check a link when the plan is made,
// runner/execute to run it; it keeps file reads out of runner/plan.
package linkconf

import (
	"fmt"
	"time"

	"github.com/labrun/labrun/engine/link"
	"github.com/labrun/labrun/runner/plan"
)

// Delay builds the engine's delay model (nil for none); an empirical
// model named by a file reads it.
func Delay(d *plan.DelayConfig) (link.Delay, error) {
	if d == nil {
		return nil, nil
	}
	a, b := time.Duration(d.A), time.Duration(d.B)
	switch d.Kind {
	case "constant":
		return link.Constant(a)
	case "uniform":
		return link.Uniform(a, b)
	case "exponential":
		return link.Exponential(a)
	case "normal":
		return link.Normal(a, b)
	case "pareto":
		return link.Pareto(a, d.Shape)
	case "empirical":
		if d.File != nil {
			return link.ReadEmpirical(d.File.Key)
		}
		s := make([]time.Duration, len(d.Samples))
		for i, v := range d.Samples {
			s[i] = time.Duration(v)
		}
		return link.Empirical(s)
	}
	return nil, fmt.Errorf("unknown delay %q", d.Kind)
}

// Loss builds the engine's loss model (nil for none).
func Loss(l *plan.LossConfig) (link.LossModel, error) {
	if l == nil {
		return nil, nil
	}
	switch l.Kind {
	case "bernoulli":
		return link.Bernoulli(l.P[0])
	case "ber":
		return link.BitError(l.P[0])
	case "gilbert_elliott":
		return link.GilbertElliott(l.P[0], l.P[1], l.P[2], l.P[3])
	case "markov4":
		return link.Markov4(l.P[0], l.P[1], l.P[2], l.P[3], l.P[4])
	case "pattern":
		return link.Pattern(l.Pattern)
	}
	return nil, fmt.Errorf("unknown loss model %q", l.Kind)
}

// Rate builds the engine's rate schedule (nil for none); a delivery
// trace named by a file reads it.
func Rate(r *plan.RateConfig) (*link.RateSchedule, error) {
	if r == nil {
		return nil, nil
	}
	if r.File != nil {
		return link.ReadDeliveryTrace(r.File.Key)
	}
	steps := make([]link.RateStep, len(r.Steps))
	for i, s := range r.Steps {
		steps[i] = link.RateStep{For: time.Duration(s.For), Bandwidth: s.Bandwidth}
	}
	return link.Steps(steps, r.Repeat)
}

// Link builds the engine's configuration of the link with the run's
// seed, and checks the reverse direction's.
func Link(lc *plan.LinkConfig, seed uint64) (link.Config, error) {
	c := link.Config{Bandwidth: lc.Bandwidth, Overhead: lc.Overhead, QueuePackets: lc.QueuePackets, QueueBytes: lc.QueueBytes, Seed: seed}
	var err error
	if c.Delay, err = Delay(lc.Delay); err != nil {
		return c, err
	}
	if c.Loss, err = Loss(lc.Loss); err != nil {
		return c, err
	}
	if c.Rate, err = Rate(lc.Rate); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	if lc.Reverse != nil {
		if _, err := Link(lc.Reverse, seed+1); err != nil {
			return c, fmt.Errorf("reverse: %w", err)
		}
	}
	return c, nil
}
