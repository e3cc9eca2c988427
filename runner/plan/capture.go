package plan

import (
	"fmt"
	"math"
	"time"

	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/units"
)

// transforms reports whether a trace.pcap changes its frames.
func (t TraceConfig) Transforms() bool {
	return t.ZeroPayload || t.Rewrite != "" || t.Snaplen > 0
}

// timing is a trace.pcap's schedule options.
func (t TraceConfig) Timing() (trace.Timing, error) {
	tm := trace.Timing{Speed: t.Speed, Topspeed: t.Topspeed, Loops: t.Loops, L1: t.Layer == "l1", MaxGap: int64(t.MaxGap)}
	if t.Rate != "" {
		r, err := units.ParseRate(t.Rate)
		if err != nil {
			return tm, err
		}
		if r.Kind == units.PacketsPerSecond {
			tm.PPS = r.PerSecond
		} else {
			tm.BPS = r.PerSecond
		}
	}
	return tm, nil
}

// capturePlan is what replaying the trace's capture gives, from the
// prepass plan read (an error if there is none).
func (t TraceConfig) CapturePlan() (trace.ReplayPlan, error) {
	if t.Capture == nil || t.Capture.Prepass == nil {
		return trace.ReplayPlan{}, fmt.Errorf("the capture was not read at plan time")
	}
	tm, err := t.Timing()
	if err != nil {
		return trace.ReplayPlan{}, err
	}
	return t.Capture.Prepass.PlanReplay(tm, t.Transforms(), t.ZeroPayload)
}

// captureEstimate is the scheduled duration of a replay of the capture:
// from its first packet to the last of its last pass.
func (t TraceConfig) CaptureEstimate() time.Duration {
	p, err := t.CapturePlan()
	if err != nil {
		return 0
	}
	return time.Duration(p.Duration)
}

// generatedRateEstimate is the scheduled duration of a generated capture
// replayed at a rate, when its packets and their sizes are known before
// the file is written: a count and one frame size.
func (t TraceConfig) GeneratedRateEstimate() (time.Duration, bool) {
	g := t.Generate
	if g == nil || t.Rate == "" || t.Topspeed || g.Count < 1 || g.Sizes != nil {
		return 0, false
	}
	tm, err := t.Timing()
	if err != nil {
		return 0, false
	}
	var gap, pass int64
	switch {
	case tm.PPS > 0:
		pass = int64(math.Round(1e9 * float64(g.Count-1) / tm.PPS))
		gap = pass / int64(max(g.Count-1, 1))
	case tm.BPS > 0:
		bits := float64(g.Frame) * 8 // with FCS, as the schedule counts it
		if tm.L1 {
			bits += (trace.FrameOverheadL1 - trace.FrameOverheadL2) * 8
		}
		gap = int64(math.Round(bits * 1e9 / tm.BPS))
		pass = gap * int64(g.Count-1)
	}
	loops := int64(max(t.Loops, 1))
	return time.Duration(pass*loops + gap*(loops-1)), true
}
