package plan

import (
	"fmt"
	"time"

	"github.com/labrun/labrun/engine/link"
	"github.com/labrun/labrun/engine/units"
)

// LoadConfig is a resolved background.* value.
type LoadConfig struct {
	Kind     string         `json:"kind"` // cpu, vm, hdd, udp, timers, stress_ng
	Label    string         `json:"label"`
	CPUs     []int          `json:"cpus,omitempty"`
	Nice     int            `json:"nice,omitempty"`
	Sched    string         `json:"sched,omitempty"`
	Duty     float64        `json:"duty,omitempty"`
	Threads  int            `json:"threads,omitempty"`
	Bytes    int64          `json:"bytes,omitempty"`
	Rate     float64        `json:"rate_pps,omitempty"`
	Size     int            `json:"size,omitempty"`
	Count    int            `json:"count,omitempty"`
	Interval units.Duration `json:"interval_ns,omitempty"`
	// stress_ng
	CPU, CPULoad, VM, HDD int   `json:",omitempty"`
	VMBytes, HDDBytes     int64 `json:",omitempty"`
}

// loadBound is the upper bound given to every load: it must outlive the
// run, and never outlive labrun by much if something goes wrong.
func LoadBound(r Run) time.Duration {
	return r.Estimate()*2 + 5*time.Minute
}

// FileRef is a file a link value reads at run time (an empirical delay
// file, a delivery trace): shown by its path inside the repository.
type FileRef struct {
	Path string `json:"path"`
	Key  string `json:"-"` // the path the engine opens
}

// LinkConfig is a resolved link.emulator value: one direction of the
// emulated link, and optionally the other.
type LinkConfig struct {
	Label        string       `json:"label"`
	Bandwidth    float64      `json:"bandwidth_bps,omitempty"`
	Overhead     int          `json:"overhead"`
	QueuePackets int          `json:"queue_packets,omitempty"`
	QueueBytes   int64        `json:"queue_bytes,omitempty"`
	Delay        *DelayConfig `json:"delay,omitempty"`
	Loss         *LossConfig  `json:"loss,omitempty"`
	Rate         *RateConfig  `json:"rate,omitempty"`
	Batch        int          `json:"batch"`
	Buffer       int64        `json:"buffer,omitempty"`
	// Stages is 1 (input and output on one thread per direction) or 2
	// (TLEM's two threads) for the forwarder.
	Stages  int         `json:"stages,omitempty"`
	Reverse *LinkConfig `json:"reverse,omitempty"`
}

// DelayConfig is a resolved delay.* value.
type DelayConfig struct {
	Kind    string           `json:"kind"`
	A       units.Duration   `json:"a_ns,omitempty"` // constant, low, mean, scale
	B       units.Duration   `json:"b_ns,omitempty"` // high, stddev
	Shape   float64          `json:"shape,omitempty"`
	Samples []units.Duration `json:"samples_ns,omitempty"`
	File    *FileRef         `json:"file,omitempty"`
}

// LossConfig is a resolved loss.* value.
type LossConfig struct {
	Kind    string    `json:"kind"`
	P       []float64 `json:"p,omitempty"`
	Pattern string    `json:"pattern,omitempty"`
}

// RateConfig is a resolved link.steps or link.delivery_trace value.
type RateConfig struct {
	Steps  []RateStep `json:"steps,omitempty"`
	Repeat bool       `json:"repeat,omitempty"`
	File   *FileRef   `json:"file,omitempty"`
}

// RateStep is one step of a bandwidth schedule.
type RateStep struct {
	For       units.Duration `json:"for_ns"`
	Bandwidth float64        `json:"bandwidth_bps"`
}

func (d *DelayConfig) Engine() (link.Delay, error) {
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

func (l *LossConfig) Engine() (link.LossModel, error) {
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

func (r *RateConfig) Engine() (*link.RateSchedule, error) {
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

// engine builds the engine's configuration of the link with the run's
// seed.
func (lc *LinkConfig) Engine(seed uint64) (link.Config, error) {
	c := link.Config{Bandwidth: lc.Bandwidth, Overhead: lc.Overhead, QueuePackets: lc.QueuePackets, QueueBytes: lc.QueueBytes, Seed: seed}
	var err error
	if c.Delay, err = lc.Delay.Engine(); err != nil {
		return c, err
	}
	if c.Loss, err = lc.Loss.Engine(); err != nil {
		return c, err
	}
	if c.Rate, err = lc.Rate.Engine(); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	if lc.Reverse != nil {
		if _, err := lc.Reverse.Engine(seed + 1); err != nil {
			return c, fmt.Errorf("reverse: %w", err)
		}
	}
	return c, nil
}
