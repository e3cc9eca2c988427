package script

import (
	"fmt"
	"math"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/engine/link"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/linkconf"
	"github.com/labrun/labrun/runner/plan"
)

// The link domain: the emulated link (TLEM) between sender and receiver,
// its delay distributions and loss models, and the workloads that measure
// the emulator itself.

// kFloat accepts an int or float in [lo, hi].
func kFloat(lo, hi float64) kind {
	return kindFunc(func(v starlark.Value) error {
		f, ok := starlark.AsFloat(v)
		if !ok {
			return fmt.Errorf("got %s %s, want a number in [%g, %g]", v.Type(), v.String(), lo, hi)
		}
		if math.IsNaN(f) || f < lo || f > hi {
			return fmt.Errorf("%s out of range [%g, %g]", v.String(), lo, hi)
		}
		return nil
	})
}

func floatArg(s *Spec, name string) float64 {
	f, _ := starlark.AsFloat(s.Args[name])
	return f
}

// kSpecKind accepts a value built by one of the named builtins.
func kSpecKind(example string, kinds ...string) kind {
	return kindFunc(func(v starlark.Value) error {
		if s, ok := v.(*Spec); ok {
			for _, k := range kinds {
				if s.Kind == k {
					return nil
				}
			}
		}
		return fmt.Errorf("got %s %s, want a value such as %s", v.Type(), truncate(v.String()), example)
	})
}

// kOrNone accepts None (no value: in a sweep, a step without it) or elem.
func kOrNone(elem kind) kind {
	return kindFunc(func(v starlark.Value) error {
		if v == starlark.None {
			return nil
		}
		return elem.check(v)
	})
}

// kDelay accepts a delay.* value or a duration string (a constant delay).
var kDelay = kindFunc(func(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok {
		return kDuration.check(s)
	}
	return kSpec("delay", `delay.normal("10ms", "2ms")`).check(v)
})

func (h *Host) delayModule() *starlarkstruct.Module {
	return newModule("delay",
		h.specBuiltinPost(signature{fn: "delay.constant", positional: 1, args: []arg{
			{name: "delay", kind: kDuration, required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("constant", a, "delay") }, checkDelaySpec),
		h.specBuiltinPost(signature{fn: "delay.uniform", positional: 2, args: []arg{
			{name: "low", kind: kDuration, required: true, sweep: true},
			{name: "high", kind: kDuration, required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("uniform", a, "low", "high") }, checkDelaySpec),
		h.specBuiltinPost(signature{fn: "delay.exponential", positional: 1, args: []arg{
			{name: "mean", kind: kDuration, required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("exponential", a, "mean") }, checkDelaySpec),
		h.specBuiltinPost(signature{fn: "delay.normal", positional: 2, args: []arg{
			{name: "mean", kind: kDuration, required: true, sweep: true},
			{name: "stddev", kind: kDuration, required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("normal", a, "mean", "stddev") }, checkDelaySpec),
		h.specBuiltinPost(signature{fn: "delay.pareto", positional: 2, args: []arg{
			{name: "scale", kind: kDuration, required: true, sweep: true},
			{name: "shape", kind: kFloat(0, 1e6), required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("pareto", a, "scale", "shape") }, checkDelaySpec),
		h.specBuiltinPost(signature{fn: "delay.empirical", args: []arg{
			{name: "file", kind: kString},
			{name: "samples", kind: kList(kDuration)},
		}}, func(a starlark.StringDict) string {
			if f, ok := a["file"].(starlark.String); ok {
				return "empirical(" + string(f) + ")"
			}
			return "empirical"
		}, h.checkEmpirical),
	)
}

func (h *Host) lossModule() *starlarkstruct.Module {
	return newModule("loss",
		h.specBuiltinPost(signature{fn: "loss.bernoulli", positional: 1, args: []arg{
			{name: "p", kind: kFloat(0, 1), required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("bernoulli", a, "p") }, checkLossSpec),
		h.specBuiltinPost(signature{fn: "loss.ber", positional: 1, args: []arg{
			{name: "rate", kind: kFloat(0, 1), required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("ber", a, "rate") }, checkLossSpec),
		h.specBuiltinPost(signature{fn: "loss.gilbert_elliott", args: []arg{
			{name: "p", kind: kFloat(0, 1), required: true, sweep: true},
			{name: "r", kind: kFloat(0, 1), sweep: true},
			{name: "loss_bad", kind: kFloat(0, 1), def: starlark.Float(1), sweep: true},
			{name: "loss_good", kind: kFloat(0, 1), def: starlark.Float(0), sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("gilbert_elliott", a, "p", "r") }, checkLossSpec),
		h.specBuiltinPost(signature{fn: "loss.markov4", args: []arg{
			{name: "p13", kind: kFloat(0, 1), required: true, sweep: true},
			{name: "p31", kind: kFloat(0, 1), required: true, sweep: true},
			{name: "p32", kind: kFloat(0, 1), sweep: true},
			{name: "p23", kind: kFloat(0, 1), sweep: true},
			{name: "p14", kind: kFloat(0, 1), sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("markov4", a, "p13", "p31") }, checkLossSpec),
		h.specBuiltinPost(signature{fn: "loss.pattern", positional: 1, args: []arg{
			{name: "pattern", kind: kString, required: true},
		}}, func(a starlark.StringDict) string { return argLabel("pattern", a, "pattern") }, checkLossSpec),
	)
}

func (h *Host) linkModule() *starlarkstruct.Module {
	return newModule("link",
		h.specBuiltinPost(signature{fn: "link.emulator", args: []arg{
			{name: "bandwidth", kind: kRate, sweep: true},
			{name: "overhead", kind: kSize, def: starlark.String("24B"), sweep: true},
			{name: "queue", kind: kInt(0, 1<<22), sweep: true},
			{name: "queue_bytes", kind: kSize, sweep: true},
			{name: "delay", kind: kDelay, sweep: true},
			{name: "loss", kind: kOrNone(kSpec("loss", "loss.bernoulli(0.01)")), sweep: true},
			{name: "rate", kind: kSpecKind(`link.steps([("1s", "10Mbps"), ("1s", "50Mbps")]) or link.delivery_trace("trace.txt")`, "link.steps", "link.delivery_trace"), sweep: true},
			{name: "reverse", kind: kSpecKind(`link.emulator(delay = "10ms")`, "link.emulator")},
			{name: "batch", kind: kInt(1, link.MaxBatch), def: starlark.MakeInt(link.DefaultBatch)},
			{name: "buffer", kind: kSize},
			{name: "stages", kind: kInt(1, 2), def: starlark.MakeInt(1), sweep: true},
			{name: "label", kind: kString},
		}}, linkLabel, checkLinkSpec),
		h.specBuiltinPost(signature{fn: "link.steps", positional: 1, args: []arg{
			{name: "steps", kind: kList(kAnyValue), required: true},
			{name: "repeat", kind: kBool, def: starlark.True},
		}}, func(a starlark.StringDict) string { return "steps" }, checkSteps),
		h.specBuiltinPost(signature{fn: "link.delivery_trace", positional: 1, args: []arg{
			{name: "file", kind: kString, required: true},
		}}, func(a starlark.StringDict) string { return argLabel("delivery_trace", a, "file") }, h.checkDeliveryTrace),
		h.specBuiltin(signature{fn: "link.throughput", args: []arg{
			{name: "packets", kind: kInt(1, 1<<31), def: starlark.MakeInt(10_000_000), sweep: true},
			{name: "frame", kind: kSize, def: starlark.String("64B"), sweep: true},
			{name: "delay", kind: kDuration, def: starlark.String("0s"), sweep: true},
			{name: "copy", kind: kBool, def: starlark.True, sweep: true},
			{name: "plain", kind: kBool, sweep: true},
			{name: "batch", kind: kInt(1, link.MaxBatch), def: starlark.MakeInt(link.DefaultBatch), sweep: true},
		}}, func(a starlark.StringDict) string { return "throughput" }),
		h.specBuiltin(signature{fn: "link.fidelity", args: []arg{
			{name: "packets", kind: kInt(1, 10_000_000), def: starlark.MakeInt(100_000), sweep: true},
			{name: "gap", kind: kDuration, def: starlark.String("1s"), sweep: true},
			{name: "frame", kind: kSize, def: starlark.String("1500B"), sweep: true},
			{name: "rate", kind: kRate, sweep: true},
		}}, func(a starlark.StringDict) string { return "fidelity" }),
	)
}

// The tcp domain: closed-loop traffic between the end namespaces, through
// the emulated link when the experiment has one.
func (h *Host) tcpModule() *starlarkstruct.Module {
	return newModule("tcp",
		h.specBuiltinPost(signature{fn: "tcp.bulk", args: []arg{
			{name: "duration", kind: kDuration, def: starlark.String("10s"), sweep: true},
			{name: "warmup", kind: kDuration, def: starlark.String("2s"), sweep: true},
			{name: "cc", kind: kString, sweep: true},
			{name: "label", kind: kString},
		}}, func(a starlark.StringDict) string { return labelOr(a, argLabel("bulk", a, "cc")) }, checkTCPDuration),
		h.specBuiltinPost(signature{fn: "tcp.rr", args: []arg{
			{name: "requests", kind: kInt(0, 100_000_000), def: starlark.MakeInt(1000), sweep: true},
			{name: "duration", kind: kDuration, def: starlark.String("10s"), sweep: true},
			{name: "request", kind: kSize, def: starlark.String("64B"), sweep: true},
			{name: "response", kind: kSize, def: starlark.String("1KiB"), sweep: true},
			{name: "label", kind: kString},
		}}, func(a starlark.StringDict) string { return labelOr(a, "request/response") }, checkTCPDuration),
		h.specBuiltinPost(signature{fn: "tcp.iperf3", args: []arg{
			{name: "duration", kind: kDuration, def: starlark.String("10s"), sweep: true},
			{name: "cc", kind: kString, sweep: true},
			{name: "label", kind: kString},
		}}, func(a starlark.StringDict) string { return labelOr(a, argLabel("iperf3", a, "cc")) }, checkTCPDuration),
		h.tcpPaced(),
	)
}

func labelOr(a starlark.StringDict, def string) string {
	if l, ok := a["label"].(starlark.String); ok {
		return string(l)
	}
	return def
}

// maxTCPDuration bounds a closed-loop run.
const maxTCPDuration = 10 * time.Minute

func checkTCPDuration(_ *starlark.Thread, s *Spec) error {
	if hasAxis(s) {
		return nil
	}
	d := time.Duration(durArg(s, "duration"))
	if d <= 0 || d > maxTCPDuration {
		return fmt.Errorf("duration %v out of range: accepted 1ms..%v", d, maxTCPDuration)
	}
	if s.Kind == "tcp.iperf3" && d%time.Second != 0 {
		return fmt.Errorf("duration %v: iperf3 takes whole seconds", d)
	}
	if w, ok := s.Args["warmup"].(starlark.String); ok {
		wd, _ := units.ParseDuration(string(w))
		if time.Duration(wd) >= d {
			return fmt.Errorf("warmup %v must be shorter than duration %v", time.Duration(wd), d)
		}
	}
	return nil
}

func linkLabel(a starlark.StringDict) string {
	if l, ok := a["label"].(starlark.String); ok {
		return string(l)
	}
	var parts []string
	if v := a["bandwidth"]; v != starlark.None {
		parts = append(parts, label(v))
	}
	if v := a["delay"]; v != starlark.None {
		parts = append(parts, label(v))
	}
	if v := a["loss"]; v != starlark.None {
		parts = append(parts, label(v))
	}
	if len(parts) == 0 {
		return "link"
	}
	s := "link("
	for i, p := range parts {
		if i > 0 {
			s += ","
		}
		s += p
	}
	return s + ")"
}

// The plan-time checks build the engine's value from the arguments when
// none of them is a sweep axis, so a bad parameter fails before anything
// runs; with axes, every resolved run is checked the same way.

func hasAxis(s *Spec) bool {
	for _, v := range s.Args {
		if _, ok := v.(*Axis); ok {
			return true
		}
	}
	return false
}

func checkDelaySpec(_ *starlark.Thread, s *Spec) error {
	if hasAxis(s) {
		return nil
	}
	_, err := linkconf.Delay(resolveDelay(s))
	return err
}

func checkLossSpec(_ *starlark.Thread, s *Spec) error {
	if hasAxis(s) {
		return nil
	}
	_, err := linkconf.Loss(resolveLoss(s))
	return err
}

func checkLinkSpec(_ *starlark.Thread, s *Spec) error {
	if hasAxis(s) {
		return nil
	}
	lc, err := resolveLink(s)
	if err != nil {
		return err
	}
	_, err = linkconf.Link(lc, 1)
	return err
}

func checkSteps(_ *starlark.Thread, s *Spec) error {
	_, err := resolveSteps(s)
	return err
}

func (h *Host) checkEmpirical(thread *starlark.Thread, s *Spec) error {
	f, hasFile := s.Args["file"].(starlark.String)
	_, hasSamples := s.Args["samples"].(starlark.Indexable)
	if hasFile == hasSamples {
		return fmt.Errorf("give file = (one delay per line, e.g. 1.5ms) or samples = [\"1ms\", ...], not both or neither")
	}
	if hasFile {
		key, display, err := h.scriptPath(thread, "file", string(f))
		if err != nil {
			return err
		}
		if _, err := link.ReadEmpirical(key); err != nil {
			return err
		}
		s.Refs = map[string]plan.FileRef{"file": {Path: display, Key: key}}
		return nil
	}
	_, err := linkconf.Delay(resolveDelay(s))
	return err
}

func (h *Host) checkDeliveryTrace(thread *starlark.Thread, s *Spec) error {
	key, display, err := h.scriptPath(thread, "file", str(s.Args, "file"))
	if err != nil {
		return err
	}
	if _, err := link.ReadDeliveryTrace(key); err != nil {
		return err
	}
	s.Refs = map[string]plan.FileRef{"file": {Path: display, Key: key}}
	return nil
}

func resolveDelay(s *Spec) *plan.DelayConfig {
	d := &plan.DelayConfig{Kind: s.name()}
	switch d.Kind {
	case "constant":
		d.A = durArg(s, "delay")
	case "uniform":
		d.A, d.B = durArg(s, "low"), durArg(s, "high")
	case "exponential":
		d.A = durArg(s, "mean")
	case "normal":
		d.A, d.B = durArg(s, "mean"), durArg(s, "stddev")
	case "pareto":
		d.A, d.Shape = durArg(s, "scale"), floatArg(s, "shape")
	case "empirical":
		if r, ok := s.Refs["file"]; ok {
			d.File = &r
		} else if l, ok := s.Args["samples"].(starlark.Indexable); ok {
			for i := range l.Len() {
				v, _ := units.ParseDuration(string(l.Index(i).(starlark.String)))
				d.Samples = append(d.Samples, v)
			}
		}
	}
	return d
}

func resolveLoss(s *Spec) *plan.LossConfig {
	l := &plan.LossConfig{Kind: s.name()}
	switch l.Kind {
	case "bernoulli":
		l.P = []float64{floatArg(s, "p")}
	case "ber":
		l.P = []float64{floatArg(s, "rate")}
	case "gilbert_elliott":
		p := floatArg(s, "p")
		r := 1 - p
		if s.Args["r"] != starlark.None {
			r = floatArg(s, "r")
		}
		l.P = []float64{p, r, floatArg(s, "loss_bad"), floatArg(s, "loss_good")}
	case "markov4":
		l.P = []float64{floatArg(s, "p13"), floatArg(s, "p31"), floatArg(s, "p32"), floatArg(s, "p23"), floatArg(s, "p14")}
	case "pattern":
		l.Pattern = str(s.Args, "pattern")
	}
	return l
}

func resolveSteps(s *Spec) (*plan.RateConfig, error) {
	rc := &plan.RateConfig{Repeat: s.Args["repeat"] == starlark.True}
	l := s.Args["steps"].(starlark.Indexable)
	if l.Len() == 0 {
		return nil, fmt.Errorf("steps is empty: give a list of (duration, bandwidth) pairs, e.g. [(\"1s\", \"10Mbps\"), (\"500ms\", \"2Mbps\")]")
	}
	for i := range l.Len() {
		pair, ok := l.Index(i).(starlark.Indexable)
		if !ok || pair.Len() != 2 {
			return nil, fmt.Errorf("step %d: %s: want a (duration, bandwidth) pair such as (\"1s\", \"10Mbps\")", i, l.Index(i).String())
		}
		ds, ok1 := pair.Index(0).(starlark.String)
		bs, ok2 := pair.Index(1).(starlark.String)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("step %d: want two strings (duration, bandwidth) such as (\"1s\", \"10Mbps\")", i)
		}
		d, err := units.ParseDuration(string(ds))
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		r, err := units.ParseRate(string(bs))
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		if r.Kind != units.BitsPerSecond {
			return nil, fmt.Errorf("step %d: bandwidth %s: give a bit rate such as \"10Mbps\"", i, bs)
		}
		rc.Steps = append(rc.Steps, plan.RateStep{For: d, Bandwidth: r.PerSecond})
	}
	if _, err := linkconf.Rate(rc); err != nil {
		return nil, err
	}
	return rc, nil
}

// resolveLink converts a link.emulator value whose arguments are
// concrete.
func resolveLink(s *Spec) (*plan.LinkConfig, error) {
	lc := &plan.LinkConfig{Label: s.Label, Overhead: int(sizeArg(s, "overhead")), Batch: int(intArg(s, "batch"))}
	if st := int(intArg(s, "stages")); st == 2 {
		lc.Stages = 2 // 1, the default, stays out of the run's identity
	}
	if v, ok := s.Args["bandwidth"].(starlark.String); ok {
		r, err := units.ParseRate(string(v))
		if err != nil {
			return nil, err
		}
		if r.Kind != units.BitsPerSecond {
			return nil, fmt.Errorf("bandwidth %s: give a bit rate such as \"100Mbps\", not a packet rate", v)
		}
		if r.PerSecond <= 0 {
			return nil, fmt.Errorf("bandwidth %s: must be > 0 (leave it out for an unlimited link)", v)
		}
		lc.Bandwidth = r.PerSecond
	}
	if s.Args["queue"] != starlark.None {
		lc.QueuePackets = int(intArg(s, "queue"))
	}
	if s.Args["queue_bytes"] != starlark.None {
		lc.QueueBytes = int64(sizeArg(s, "queue_bytes"))
	}
	if s.Args["buffer"] != starlark.None {
		lc.Buffer = int64(sizeArg(s, "buffer"))
	}
	switch d := s.Args["delay"].(type) {
	case starlark.String:
		v, _ := units.ParseDuration(string(d))
		lc.Delay = &plan.DelayConfig{Kind: "constant", A: v}
	case *Spec:
		lc.Delay = resolveDelay(d)
	}
	if l, ok := s.Args["loss"].(*Spec); ok {
		lc.Loss = resolveLoss(l)
	}
	if r, ok := s.Args["rate"].(*Spec); ok {
		if r.Kind == "link.delivery_trace" {
			ref := r.Refs["file"]
			lc.Rate = &plan.RateConfig{File: &ref}
		} else {
			rc, err := resolveSteps(r)
			if err != nil {
				return nil, err
			}
			lc.Rate = rc
		}
	}
	if rv, ok := s.Args["reverse"].(*Spec); ok {
		rev, err := resolveLink(rv)
		if err != nil {
			return nil, fmt.Errorf("reverse: %w", err)
		}
		if rev.Reverse != nil {
			return nil, fmt.Errorf("reverse: a reverse link has no reverse of its own")
		}
		lc.Reverse = rev
	}
	return lc, nil
}

func resolveWorkload(s *Spec) plan.WorkloadConfig {
	w := plan.WorkloadConfig{Kind: s.name(), Packets: int(intArg(s, "packets")), Frame: sizeArg(s, "frame")}
	if s.family() == "tcp" {
		w = plan.WorkloadConfig{Kind: s.Kind, Duration: durArg(s, "duration"), Warmup: durArg(s, "warmup"), CC: str(s.Args, "cc"),
			Requests: int(intArg(s, "requests")), Request: sizeArg(s, "request"), Response: sizeArg(s, "response"), Label: s.Label}
		resolvePaced(s, &w)
		return w
	}
	switch w.Kind {
	case "throughput":
		w.Delay, w.NoCopy, w.Plain, w.Batch = durArg(s, "delay"), s.Args["copy"] != starlark.True, s.Args["plain"] == starlark.True, int(intArg(s, "batch"))
	case "fidelity":
		w.Gap = durArg(s, "gap")
		if g, ok := offeredGap(s.Args["rate"], w.Frame); ok {
			w.Gap = g // frames offered at a rate: in place of gap
		}
	}
	return w
}

// checkEmulatorTopo: the forwarder reads frames of up to an Ethernet MTU
// of 1500 and needs frames as sent (no offloads merging them).
func checkEmulatorTopo(c plan.RunConfig) error {
	if c.Topology.MTU > link.MaxForwardMTU {
		return fmt.Errorf("the emulated link forwards frames of MTU <= %d: topology.veth(mtu = %d) is too large", link.MaxForwardMTU, c.Topology.MTU)
	}
	if c.Topology.Offloads {
		return fmt.Errorf("the emulated link needs frames as sent: drop offloads = True from topology.veth (GRO would merge frames)")
	}
	return nil
}

// offeredGap is the gap between frames of the given size offered at rate
// (a bit rate counts the frame's bytes; a packet rate frames), rounded to
// the nanosecond.
func offeredGap(v starlark.Value, frame units.Size) (units.Duration, bool) {
	str, ok := v.(starlark.String)
	if !ok {
		return 0, false
	}
	r, err := units.ParseRate(string(str))
	if err != nil || r.PerSecond <= 0 {
		return 0, false // checked when the argument was given
	}
	perFrame := 1e9 / r.PerSecond
	if r.Kind == units.BitsPerSecond {
		perFrame = float64(frame) * 8 * 1e9 / r.PerSecond
	}
	return units.Duration(max(1, math.Round(perFrame))), true
}
