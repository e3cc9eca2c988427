package script

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/engine/frame"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

// MaxPackets bounds a synthetic trace: the run records 16 bytes per packet
// in memory (scheduled and actual time), 1.6 GB at this bound.
const MaxPackets = 100_000_000

// The trace domain: where packets and their schedule come from.
func (h *Host) traceModule() *starlarkstruct.Module {
	return newModule("trace",
		h.specBuiltinPost(signature{fn: "trace.synthetic", args: []arg{
			{name: "count", kind: kInt(1, MaxPackets), sweep: true},
			{name: "interval", kind: kDuration, sweep: true},
			{name: "frame", kind: kSize, def: starlark.String("64B"), sweep: true},
			{name: "duration", kind: kDuration, sweep: true},
			{name: "poisson", kind: kBool, sweep: true},
			{name: "gaps", kind: kString},
			{name: "sizes", kind: kString},
			{name: "rate", kind: kRate, sweep: true},
			{name: "layer", kind: kEnum("l2", "l1")},
			{name: "flows", kind: kInt(1, 4096), sweep: true},
		}}, func(a starlark.StringDict) string { return "synthetic" }, h.checkSynthetic),
		h.specBuiltinPost(signature{fn: "trace.pcap", positional: 1, args: []arg{
			{name: "path", kind: kString},
			{name: "generate", kind: kSpec("trace", `trace.synthetic(count = 1000000, interval = "20us")`)},
			{name: "reader", kind: kEnum("mmap", "buffered"), sweep: true},
			{name: "window", kind: kSize, sweep: true},
			{name: "lenient", kind: kBool},
			{name: "speed", kind: kindFunc(checkSpeed), sweep: true},
			{name: "rate", kind: kRate, sweep: true},
			{name: "layer", kind: kEnum("l2", "l1")},
			{name: "topspeed", kind: kBool, sweep: true},
			{name: "loop", kind: kInt(1, 1_000_000), sweep: true},
			{name: "max_gap", kind: kDuration, sweep: true},
			{name: "zero_payload", kind: kBool, sweep: true},
			{name: "rewrite", kind: kString},
			{name: "snaplen", kind: kSize},
			{name: "cold_cache", kind: kBool, sweep: true},
			{name: "read_latency", kind: kBool},
		}}, func(a starlark.StringDict) string { return "pcap" }, h.checkPcap),
	)
}

// checkSynthetic checks trace.synthetic's argument combinations and reads
// its data files.
func (h *Host) checkSynthetic(thread *starlark.Thread, s *Spec) error {
	a := s.Args
	hasCount, hasDur := a["count"] != starlark.None, a["duration"] != starlark.None
	switch {
	case hasCount == hasDur:
		return fmt.Errorf("give count (packets, as Caliper's -n) or duration (as -t), not both or neither")
	case a["interval"] == starlark.None && a["gaps"] == starlark.None && a["rate"] == starlark.None:
		return fmt.Errorf("give interval (a fixed or, with poisson = True, mean gap), rate (packets or bits per second) or gaps (a file of gaps in ns, as Caliper's -D)")
	case btoi(a["interval"] != starlark.None)+btoi(a["gaps"] != starlark.None)+btoi(a["rate"] != starlark.None) > 1:
		return fmt.Errorf("give one of interval, rate and gaps")
	case a["layer"] != starlark.None && a["rate"] == starlark.None:
		return fmt.Errorf("layer says what a bit rate counts; it goes with rate")
	case a["poisson"] == starlark.True && a["gaps"] != starlark.None:
		return fmt.Errorf("poisson draws gaps with mean interval; it does not combine with a gaps file")
	case a["sizes"] != starlark.None && s.Args["frame"] != starlark.String("64B"):
		return fmt.Errorf("give frame or sizes (a file of frame sizes in bytes, as Caliper's -L), not both")
	}
	s.Files = map[string]*plan.DataFile{}
	for _, arg := range []string{"gaps", "sizes"} {
		if name, ok := a[arg].(starlark.String); ok {
			df, err := h.dataFile(thread, arg, string(name))
			if err != nil {
				return err
			}
			s.Files[arg] = df
		}
	}
	if df := s.Files["sizes"]; df != nil {
		for i, v := range df.Values {
			if v < trace.MinFrame || v > trace.MaxFrame {
				return fmt.Errorf("sizes: %s: value %d (%d) out of range [%dB, %dB] (frame sizes with FCS)", df.Path, i+1, v, trace.MinFrame, trace.MaxFrame)
			}
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// resolveTrace converts a resolved trace.* value.
func resolveTrace(tr *Spec) (plan.TraceConfig, error) {
	if tr.Kind == "trace.pcap" {
		return resolvePcap(tr)
	}
	t := plan.TraceConfig{Kind: tr.name(), Count: int(intArg(tr, "count")), Duration: durArg(tr, "duration"),
		Interval: durArg(tr, "interval"), Poisson: tr.Args["poisson"] == starlark.True, Frame: sizeArg(tr, "frame"),
		Gaps: tr.Files["gaps"], Sizes: tr.Files["sizes"]}
	if t.Sizes != nil {
		t.Frame = 0
	}
	t.Flows = int(intArg(tr, "flows"))
	if rs, ok := tr.Args["rate"].(starlark.String); ok {
		iv, err := rateInterval(string(rs), str(tr.Args, "layer"), t)
		if err != nil {
			return t, posError(tr.Pos, "%s: %v", tr.Kind, err)
		}
		t.Rate, t.Layer, t.Interval = string(rs), str(tr.Args, "layer"), iv
		if t.Layer == "" {
			t.Layer = "l2"
		}
	}
	if t.Duration > 0 && t.Interval == 0 && t.Gaps == nil {
		return t, posError(tr.Pos, "%s: a duration needs an interval > 0", tr.Kind)
	}
	if t.Duration > 0 {
		// The schedule is kept in memory: the engine refuses a duration
		// that holds more than MaxSynthPackets packets; say so now.
		mean := float64(t.Interval)
		if t.Gaps != nil {
			var sum int64
			for _, g := range t.Gaps.Values {
				sum += g
			}
			mean = float64(sum) / float64(len(t.Gaps.Values))
		}
		if mean <= 0 {
			return t, posError(tr.Pos, "%s: a duration needs gaps > 0 (the gaps file holds only zeros)", tr.Kind)
		}
		if n := float64(t.Duration) / mean; n > trace.MaxSynthPackets {
			return t, posError(tr.Pos, "%s: duration %v at a mean gap of %v ns is about %.3g packets; a synthetic trace holds at most %d (its schedule is kept in memory): give a shorter duration or a longer interval", tr.Kind, t.Duration, mean, n, trace.MaxSynthPackets)
		}
	}
	if t.Sizes == nil && (t.Frame < trace.MinFrame || t.Frame > trace.MaxFrame) {
		return t, posError(tr.Pos, "%s: frame %v out of range [%dB, %dB] (sizes count the Ethernet frame with its FCS)", tr.Kind, t.Frame, trace.MinFrame, trace.MaxFrame)
	}
	return t, nil
}

// rateInterval is the gap between packets of a synthetic trace sent at a
// packet rate, or at a bit rate counting the frame with its FCS (l2) or
// also the preamble and inter-frame gap (l1).
func rateInterval(rate, layer string, t plan.TraceConfig) (units.Duration, error) {
	r, err := units.ParseRate(rate)
	if err != nil {
		return 0, err
	}
	if r.PerSecond <= 0 {
		return 0, fmt.Errorf("rate %s: must be > 0", rate)
	}
	if r.Kind == units.PacketsPerSecond {
		if layer != "" {
			return 0, fmt.Errorf("layer goes with a bit rate, not %s", rate)
		}
		return units.Duration(math.Round(1e9 / r.PerSecond)), nil
	}
	if t.Sizes != nil {
		return 0, fmt.Errorf("a bit rate with a sizes file has no single gap: give a packet rate or gaps")
	}
	bits := float64(t.Frame) * 8
	if layer == "l1" {
		bits += 20 * 8
	}
	return units.Duration(math.Round(bits / r.PerSecond * 1e9)), nil
}

// resolvePcap converts a resolved trace.pcap value.
func resolvePcap(tr *Spec) (plan.TraceConfig, error) {
	t := plan.TraceConfig{Kind: "pcap", Capture: tr.Captures["path"], Reader: str(tr.Args, "reader"), Window: sizeArg(tr, "window"),
		Lenient: tr.Args["lenient"] == starlark.True, Rate: str(tr.Args, "rate"), Layer: str(tr.Args, "layer"),
		Topspeed: tr.Args["topspeed"] == starlark.True, Loops: int(intArg(tr, "loop")), ZeroPayload: tr.Args["zero_payload"] == starlark.True,
		Rewrite: str(tr.Args, "rewrite"), Snaplen: sizeArg(tr, "snaplen"), ColdCache: tr.Args["cold_cache"] == starlark.True,
		ReadLatency: tr.Args["read_latency"] == starlark.True, MaxGap: durArg(tr, "max_gap")}
	if f, ok := starlark.AsFloat(tr.Args["speed"]); ok {
		t.Speed = f
	}
	if t.Reader == "" {
		t.Reader = "mmap"
	}
	if t.Rate != "" && t.Layer == "" {
		t.Layer = "l2"
	}
	if g, ok := tr.Args["generate"].(*Spec); ok {
		gt, err := resolveTrace(g)
		if err != nil {
			return t, err
		}
		t.Generate = &gt
	}
	return t, nil
}

func checkSpeed(v starlark.Value) error {
	f, ok := starlark.AsFloat(v)
	if _, isBool := v.(starlark.Bool); !ok || isBool || f <= 0 || f > 1e6 {
		return fmt.Errorf("got %s, want a number > 0 (a multiplier of the trace's pace: 2 = twice as fast)", v.String())
	}
	return nil
}

// checkPcap checks trace.pcap's argument combinations and hashes the file.
func (h *Host) checkPcap(thread *starlark.Thread, s *Spec) error {
	a := s.Args
	hasPath, hasGen := a["path"] != starlark.None, a["generate"] != starlark.None
	if hasPath == hasGen {
		return fmt.Errorf("give a capture path or generate = trace.synthetic(...), not both or neither")
	}
	pacing := 0
	for _, k := range []string{"speed", "rate", "topspeed"} {
		if v := a[k]; v != starlark.None && v != starlark.False {
			pacing++
		}
	}
	if pacing > 1 {
		return fmt.Errorf("speed, rate and topspeed each set the pace: give one")
	}
	if a["layer"] != starlark.None && a["rate"] == starlark.None {
		return fmt.Errorf("layer says what a bit rate counts; it needs rate")
	}
	if r, ok := a["rate"].(starlark.String); ok {
		if _, err := units.ParseRate(string(r)); err != nil {
			return err
		}
	}
	if rw, ok := a["rewrite"].(starlark.String); ok {
		if _, err := frame.ParseRewrite(string(rw)); err != nil {
			return fmt.Errorf("rewrite: %w", err)
		}
	}
	if g, ok := a["max_gap"].(starlark.String); ok {
		if d, err := units.ParseDuration(string(g)); err == nil && d == 0 {
			return fmt.Errorf("max_gap: got %q, want a duration > 0 such as \"1s\" (a gap of 0 sends every packet at once: that is topspeed = True)", string(g))
		}
	}
	if g, ok := a["generate"].(*Spec); ok && g.Kind != "trace.synthetic" {
		return fmt.Errorf("generate takes a trace.synthetic(...), got %s", g.Kind)
	}
	if p, ok := a["path"].(starlark.String); ok {
		cf, err := h.captureFile(thread, string(p))
		if err != nil {
			return err
		}
		if err := scanCapture(cf, a); err != nil {
			return err
		}
		s.Captures = map[string]*plan.CaptureFile{"path": cf}
	}
	return nil
}

// scan reads the capture once, as the run's pre-pass does (the run reuses
// it: trace.CachedPrepass), so that a malformed or empty capture is
// refused before anything runs, with the error the run would give.
func scanCapture(cf *plan.CaptureFile, a starlark.StringDict) error {
	var rw *frame.Rewrite
	if r, ok := a["rewrite"].(starlark.String); ok {
		x, err := frame.ParseRewrite(string(r))
		if err != nil {
			return fmt.Errorf("rewrite: %w", err)
		}
		rw = &x
	}
	lenient := a["lenient"] == starlark.True
	// Zeroing is probed when a run may zero payloads: True, or a sweep.
	mayZero := a["zero_payload"] != starlark.None && a["zero_payload"] != starlark.False
	pp, err := trace.CachedPrepass(cf.SHA256, cf.Abs, trace.ReadOptions{Lenient: lenient}, rw, mayZero)
	var fe *trace.FormatError
	if errors.As(err, &fe) {
		named := *fe
		named.File = cf.Path
		hint := ""
		if fe.Record > 0 {
			hint = fmt.Sprintf("; lenient = True would replay the %d packets before it", fe.Record)
		}
		return fmt.Errorf("path: %w%s", &named, hint)
	}
	if err != nil {
		return fmt.Errorf("path: %s: %w", cf.Path, err)
	}
	zero := a["zero_payload"] == starlark.True
	_, err = pp.PlanReplay(trace.Timing{}, zero || rw != nil, zero)
	var ee *trace.EmptyError
	if errors.As(err, &ee) {
		ee.Path = cf.Path
		ee.Stats.Malformed = strings.ReplaceAll(ee.Stats.Malformed, cf.Abs, cf.Path)
		return fmt.Errorf("path: %w", ee)
	}
	cf.Prepass = pp
	return nil
}

// captureFile resolves and hashes a capture named by a script.
func (h *Host) captureFile(thread *starlark.Thread, name string) (*plan.CaptureFile, error) {
	key, display, err := h.scriptPath(thread, "path", name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(key)
	if err != nil {
		return nil, fmt.Errorf("path: %s: %w", display, unwrapPathErr(err))
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return nil, fmt.Errorf("path: %s: %w", display, err)
	}
	cf := &plan.CaptureFile{Path: display, SHA256: hex.EncodeToString(sum.Sum(nil)), Abs: key}
	h.sources = append(h.sources, plan.Source{Name: display, Path: key, SHA256: cf.SHA256})
	return cf, nil
}
