package script

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/engine/flow"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/runner/plan"
)

// PaceIperf3 is tcp.paced's pacer that hands the flow to iperf3 -b.
const PaceIperf3 = "iperf3"

// pacers are tcp.paced's accepted pacers: the engine's and iperf3.
var pacers = append(slices.Clone(flow.Pacers), PaceIperf3)

// tcpPaced is tcp.paced: a TCP flow of one segment per requested
// inter-transmission time, measured at the receiver (Caliper Fig. 3).
func (h *Host) tcpPaced() *starlark.Builtin {
	return h.specBuiltinPost(signature{fn: "tcp.paced", args: []arg{
		{name: "rate", kind: kRate, sweep: true},
		{name: "gap", kind: kDuration, sweep: true},
		{name: "segments", kind: kInt(1, flow.MaxSegments), def: starlark.MakeInt(2000), sweep: true},
		{name: "segment", kind: kSize, def: starlark.String("1448B"), sweep: true},
		{name: "pacer", kind: kEnum(pacers...), def: starlark.String(flow.PaceTimer), sweep: true},
		{name: "timer", kind: kOrNone(kSpec("timer", "timer.busy()")), sweep: true},
		{name: "duration", kind: kDuration, def: starlark.String("10s"), sweep: true},
		{name: "cc", kind: kString, sweep: true},
		{name: "label", kind: kString},
	}}, func(a starlark.StringDict) string { return labelOr(a, strings.TrimSpace("paced "+str(a, "pacer"))) }, checkPaced)
}

// checkPaced checks what a paced flow needs beyond each argument's form.
// Arguments given as sweep axes are checked per run (resolvePaced,
// checkPacedWorkload).
func checkPaced(_ *starlark.Thread, s *Spec) error {
	if err := checkTCPDuration(nil, s); err != nil {
		return err
	}
	if (s.Args["rate"] != starlark.None) == (s.Args["gap"] != starlark.None) {
		return errors.New("give the requested inter-transmission time as rate = (e.g. \"100Mbps\", counting Ethernet frames of segment + 70 B, or \"10kpps\") or as gap = (e.g. \"120us\"): one of them")
	}
	tm, ok := s.Args["timer"].(*Spec)
	if !ok {
		return nil
	}
	if k := tm.name(); k != "busy" && k != "firm" && k != "sleep" && k != "timerfd" {
		return fmt.Errorf("timer = %s: a paced flow waits with timer.busy(), timer.firm(), timer.sleep() or timer.timerfd()", tm.Kind)
	}
	if p, ok := s.Args["pacer"].(starlark.String); ok && string(p) != flow.PaceTimer {
		return fmt.Errorf("timer = is for pacer = %q; pacer = %q paces without labrun's timer: drop timer =", flow.PaceTimer, string(p))
	}
	return nil
}

// resolvePaced fills the paced flow's part of w from s.
func resolvePaced(s *Spec, w *plan.WorkloadConfig) {
	if s.Kind != "tcp.paced" {
		return
	}
	w.Segments, w.Segment, w.Pacer = int(intArg(s, "segments")), sizeArg(s, "segment"), str(s.Args, "pacer")
	if s.Args["label"] == starlark.None {
		w.Label = "paced " + w.Pacer // the run's pacer, also when it was swept
	}
	frame := w.Segment + flow.FrameOverhead
	if g, ok := offeredGap(s.Args["rate"], frame); ok {
		w.Gap = g
	} else {
		w.Gap = durArg(s, "gap")
	}
	if w.Gap > 0 {
		w.Rate = math.Round(float64(frame) * 8 * 1e9 / float64(w.Gap))
	}
	if w.Pacer == flow.PaceTimer {
		w.PaceTimer = &plan.TimerConfig{Mode: "busy"}
		if tm, ok := s.Args["timer"].(*Spec); ok {
			w.PaceTimer = &plan.TimerConfig{Mode: tm.name(), Margin: durArg(tm, "margin"), MaxMargin: durArg(tm, "max_margin")}
		}
	}
}

// checkPacedWorkload applies the run's own checks (flow.PacedConfig, and
// peer.Iperf3 for pacer iperf3) with stand-ins for the hosts and the
// address the run makes.
func checkPacedWorkload(w plan.WorkloadConfig) error {
	c := flow.PacedConfig{Client: planHost{}, Server: planHost{}, Addr: netip.MustParseAddr("198.18.0.2"), Port: 5301,
		Pacer: w.Pacer, Count: w.Segments, Segment: int(w.Segment), Gap: time.Duration(w.Gap),
		Duration: time.Duration(w.Duration), CC: w.CC, Ifname: "lr-snd0"}
	if w.Pacer == PaceIperf3 {
		if err := (peer.Iperf3{Duration: c.Duration, CC: w.CC}).Validate(); err != nil {
			return fmt.Errorf("pacer %q: %w", PaceIperf3, err)
		}
		c.Pacer = flow.PaceTCP // iperf3 paces itself (-b): check the rest as for a kernel pacer
	}
	if c.Pacer == flow.PaceTimer {
		c.Pacer = flow.PaceTCP // the timer is checked here, by name; the rest as for a kernel pacer
	}
	if t := w.PaceTimer; t != nil && t.Mode != "busy" && t.Mode != "firm" && t.Mode != "sleep" && t.Mode != "timerfd" {
		return fmt.Errorf("timer = timer.%s: a paced flow waits with timer.busy(), timer.firm(), timer.sleep() or timer.timerfd()", t.Mode)
	}
	return c.Validate()
}
