package plan

import (
	"time"

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
