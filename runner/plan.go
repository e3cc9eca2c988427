package runner

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/results"
)

var refKey = results.RefKey

// MaxRuns bounds the size of a plan.
const MaxRuns = 100_000

// Plan is a fully resolved experiment: every run with plain Go values.
type Plan struct {
	Experiment  string               `json:"experiment"`
	Description string               `json:"description,omitempty"`
	Seed        int64                `json:"seed"`
	Repeat      int                  `json:"repeat"`
	Script      string               `json:"script"`
	Sources     []Source             `json:"sources"`
	Params      []ParamValue         `json:"params"`
	Axes        []AxisInfo           `json:"axes"`
	Runs        []Run                `json:"runs"`
	Tables      []results.TableSpec  `json:"-"`
	Figures     []results.FigureSpec `json:"figures,omitempty"`
	// Expectations are checked after the runs (expect()).
	Expectations []results.Expectation `json:"expectations,omitempty"`
	Actions      []PlanAction          `json:"actions"`
	// dangerous are the sysctls that need --allow-sysctl (CheckSysctls).
	dangerous []sysctlUse
}

// ParamValue is a script parameter's resolved value.
type ParamValue struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Value   string `json:"value"`
	Default string `json:"default"`
	Set     bool   `json:"set,omitempty"`
	Doc     string `json:"doc,omitempty"`
}

// AxisInfo describes one sweep axis.
type AxisInfo struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
	Zip    int      `json:"zip_group"`
	Pos    string   `json:"declared_at"`
}

// Run is one point of the plan.
type Run struct {
	Index  int               `json:"index"`
	ID     string            `json:"id"`
	Seed   uint64            `json:"seed"`
	Params map[string]string `json:"parameters"`
	Config RunConfig         `json:"config"`
}

// RunConfig is everything that defines a run; its canonical JSON encoding
// is hashed into the run ID.
type RunConfig struct {
	Experiment string       `json:"experiment"`
	Rep        int          `json:"rep"`
	Trace      TraceConfig  `json:"trace"`
	Timer      TimerConfig  `json:"timer"`
	Sink       SinkConfig   `json:"sink"`
	Kernel     KernelConfig `json:"kernel"`
	// Sender is who sends: nil is labrun's engine on one thread.
	Sender *SenderConfig `json:"sender,omitempty"`
	// Topology and Receiver are set when packets go on a wire.
	Topology *TopoConfig     `json:"topology,omitempty"`
	Receiver *ReceiverConfig `json:"receiver,omitempty"`
	// Link is the emulated link: a forwarder in the topology's emulator
	// namespace when packets go on the wire, else in-process between the
	// sender and its sink.
	Link *LinkConfig `json:"link,omitempty"`
	// Workload replaces the replay with a measurement of its own.
	Workload *WorkloadConfig `json:"workload,omitempty"`
	// Loads run in the background of the run, each in a child process.
	Loads []LoadConfig `json:"loads,omitempty"`
}

// WorkloadConfig is a resolved link.throughput or link.fidelity value.
type WorkloadConfig struct {
	Kind    string         `json:"kind"`
	Packets int            `json:"packets"`
	Frame   units.Size     `json:"frame"`
	Delay   units.Duration `json:"delay_ns,omitempty"`
	Gap     units.Duration `json:"gap_ns,omitempty"`
	NoCopy  bool           `json:"no_copy,omitempty"`
	Plain   bool           `json:"plain,omitempty"`
	Batch   int            `json:"batch,omitempty"`
	// tcp.*
	Label    string         `json:"label,omitempty"`
	Duration units.Duration `json:"duration_ns,omitempty"`
	Warmup   units.Duration `json:"warmup_ns,omitempty"`
	CC       string         `json:"cc,omitempty"`
	Requests int            `json:"requests,omitempty"`
	Request  units.Size     `json:"request,omitempty"`
	Response units.Size     `json:"response,omitempty"`
}

// TCP reports whether the workload is closed-loop TCP on the wire.
func (w *WorkloadConfig) TCP() bool { return w != nil && strings.HasPrefix(w.Kind, "tcp.") }

// SenderConfig is a resolved sender.* value.
type SenderConfig struct {
	Kind  string `json:"kind"` // labrun, tcpreplay, trafgen
	Label string `json:"label,omitempty"`
	// labrun: sending threads (0: one per CPU) and their CPUs.
	Threads int   `json:"threads,omitempty"`
	CPUs    []int `json:"cpus,omitempty"`
	// tcpreplay
	Timing     string  `json:"timing,omitempty"`
	Rate       string  `json:"rate,omitempty"`
	Multiplier float64 `json:"multiplier,omitempty"`
	Timer      string  `json:"timer,omitempty"`
	Preload    bool    `json:"preload,omitempty"`
	// trafgen
	Procs       int  `json:"procs,omitempty"`
	QdiscBypass bool `json:"qdisc_bypass,omitempty"`
}

// TopoConfig is a resolved topology.* value.
type TopoConfig struct {
	MTU      int  `json:"mtu"`
	Offloads bool `json:"offloads,omitempty"`
	Emulator bool `json:"emulator,omitempty"`
	// RPS steers the receiver's kernel work to these CPUs.
	RPS []int `json:"rps,omitempty"`
	// TBF shapes the sender's interface with the kernel's token bucket
	// filter at this rate (bits/s), for comparison with the emulated link.
	TBF float64 `json:"tbf_bps,omitempty"`
}

// ReceiverConfig is a resolved receiver.* value.
type ReceiverConfig struct {
	Capture bool           `json:"capture,omitempty"`
	Drain   units.Duration `json:"drain_ns"`
	Quiet   units.Duration `json:"quiet_ns"`
	CPU     *int           `json:"cpu,omitempty"`
}

// Wire reports whether the run sends real packets (and so needs a
// topology and a receiver).
func (c RunConfig) Wire() bool { return c.Topology != nil }

// SenderKind is who sends the run's packets.
func (c RunConfig) SenderKind() string {
	if c.Sender == nil {
		return "labrun"
	}
	return c.Sender.Kind
}

// TraceConfig is a resolved trace.* value.
type TraceConfig struct {
	Kind     string         `json:"kind"`
	Count    int            `json:"count,omitempty"`
	Duration units.Duration `json:"duration_ns,omitempty"`
	Interval units.Duration `json:"interval_ns,omitempty"`
	Poisson  bool           `json:"poisson,omitempty"`
	Gaps     *DataFile      `json:"gaps,omitempty"`
	Frame    units.Size     `json:"frame_bytes,omitempty"`
	Sizes    *DataFile      `json:"sizes,omitempty"`
	Flows    int            `json:"flows,omitempty"`
	// trace.pcap
	Capture     *CaptureFile `json:"capture,omitempty"`
	Generate    *TraceConfig `json:"generate,omitempty"`
	Reader      string       `json:"reader,omitempty"`
	Window      units.Size   `json:"window,omitempty"`
	Lenient     bool         `json:"lenient,omitempty"`
	Speed       float64      `json:"speed,omitempty"`
	Rate        string       `json:"rate,omitempty"`
	Layer       string       `json:"layer,omitempty"`
	Topspeed    bool         `json:"topspeed,omitempty"`
	Loops       int          `json:"loops,omitempty"`
	ZeroPayload bool         `json:"zero_payload,omitempty"`
	Rewrite     string       `json:"rewrite,omitempty"`
	Snaplen     units.Size   `json:"snaplen,omitempty"`
	ColdCache   bool         `json:"cold_cache,omitempty"`
	ReadLatency bool         `json:"read_latency,omitempty"`

	// MaxGap shortens a capture's longer gaps to it (trace.pcap max_gap).
	MaxGap units.Duration `json:"max_gap_ns,omitempty"`
}

// Synth converts to the engine's synthetic stream configuration.
func (t TraceConfig) Synth(seed uint64) trace.SynthConfig {
	c := trace.SynthConfig{Count: t.Count, Duration: int64(t.Duration), Interval: int64(t.Interval), Poisson: t.Poisson,
		FrameSize: int(t.Frame), Flows: t.Flows, Seed: seed, Endpoints: trace.DefaultEndpoints()}
	if t.Gaps != nil {
		c.Gaps = t.Gaps.Values
	}
	if t.Sizes != nil {
		for _, v := range t.Sizes.Values {
			c.Sizes = append(c.Sizes, int(v))
		}
	}
	return c
}

// Packets is the number of packets the trace sends, when known before it
// runs (0 for a duration).
func (t TraceConfig) Packets() int { return t.Count }

// TimerConfig is a resolved timer.* value.
type TimerConfig struct {
	Mode      string         `json:"mode"`
	Period    units.Duration `json:"period_ns,omitempty"`
	Margin    units.Duration `json:"margin_ns,omitempty"`
	MaxMargin units.Duration `json:"max_margin_ns,omitempty"`
}

// SinkConfig is a resolved sink.* value.
type SinkConfig struct {
	Kind    string     `json:"kind"`
	Snaplen units.Size `json:"snaplen,omitempty"`
	// sink.afpacket and sink.udp
	Mode        string `json:"mode,omitempty"`
	Batch       int    `json:"batch,omitempty"`
	QdiscBypass bool   `json:"qdisc_bypass,omitempty"`
}

// OnWire reports whether the sink sends on an interface.
func (s SinkConfig) OnWire() bool { return s.Kind == "afpacket" || s.Kind == "udp" }

// KernelConfig is a resolved kernel.settings value.
type KernelConfig struct {
	Sched      string         `json:"sched,omitempty"`
	Priority   int            `json:"priority,omitempty"`
	CPUs       []int          `json:"cpus,omitempty"`
	Mlock      bool           `json:"mlock,omitempty"`
	TimerSlack units.Duration `json:"timer_slack_ns,omitempty"`
	// DMALatency is held in /dev/cpu_dma_latency when set (0 is a value).
	DMALatency *units.Duration `json:"dma_latency_ns,omitempty"`
	Required   []string        `json:"required,omitempty"`
	// System-wide settings beyond dma_latency, each restored after the
	// run (and by the next labrun if this one is killed).
	Sysctls   [][2]string `json:"sysctls,omitempty"` // key, value; sorted by key
	RTRuntime *int        `json:"rt_runtime_us,omitempty"`
	Governor  string      `json:"governor,omitempty"`
}

// Settings converts to the engine's kernel settings.
func (k KernelConfig) Settings() kernel.Settings {
	s := kernel.Settings{Sched: k.Sched, Priority: k.Priority, CPUs: k.CPUs, Mlock: k.Mlock,
		TimerSlack: time.Duration(k.TimerSlack)}
	for _, r := range k.Required {
		if !k.systemRequired(r) {
			s.Required = append(s.Required, r) // the others go to System
		}
	}
	if k.DMALatency != nil {
		s.HoldDMALatency, s.DMALatency = true, time.Duration(*k.DMALatency)
	}
	return s
}

// PlanAction is an action on the system that runs will take.
type PlanAction struct {
	kernel.Action
	Runs []int `json:"runs"`
}

// Estimate is the scheduled duration of a run (its trace's span).
func (r Run) Estimate() time.Duration {
	return r.Config.Trace.estimate()
}

func (t TraceConfig) estimate() time.Duration {
	if t.Kind == "pcap" {
		if t.Capture != nil {
			return t.captureEstimate()
		}
		if d, ok := t.generatedRateEstimate(); ok {
			return d
		}
		if t.Generate == nil || t.Topspeed || t.Rate != "" {
			return 0 // known once the file is read
		}
		d := t.Generate.estimate()
		if t.Speed > 0 {
			d = time.Duration(float64(d) / t.Speed)
		}
		return d * time.Duration(max(t.Loops, 1))
	}
	switch {
	case t.Duration > 0:
		return time.Duration(t.Duration)
	case t.Gaps != nil:
		var sum int64
		for i := 1; i < t.Count; i++ {
			sum += t.Gaps.Values[(i-1)%len(t.Gaps.Values)]
		}
		return time.Duration(sum)
	}
	return time.Duration(int64(t.Count-1) * int64(t.Interval))
}

// plan expands the declared experiment into runs.
func (h *Host) plan() (*Plan, error) {
	a := h.exp.args
	p := &Plan{Experiment: str(a, "name"), Description: str(a, "description")}
	if s, ok := a["seed"].(starlark.Int).Int64(); ok {
		p.Seed = s
	}
	rep, _ := starlark.AsInt32(a["repeat"])
	p.Repeat = rep

	// Axes that the experiment uses, grouped by zip group, in declaration order.
	used := map[*Axis]bool{}
	for _, k := range experimentSig.names() {
		collectAxes(a[k], used)
	}
	// An axis zipped with a used one labels the same steps (a workload
	// name beside the values it stands for), so it is a parameter too.
	var groups [][]*Axis
	for _, g := range h.groups {
		for _, ax := range g {
			if used[ax] {
				for _, z := range g {
					used[z] = true
				}
				groups = append(groups, g)
				break
			}
		}
	}
	// --set name=value on an axis pins it to that value.
	// A zipped axis may repeat a label: every step with it is kept.
	pinned := map[*Axis]string{}
	for _, g := range groups {
		for _, ax := range g {
			if raw, ok := h.overrides[ax.Name]; ok {
				i, err := h.pinAxis(ax, raw)
				if err != nil {
					return nil, err
				}
				pinned[ax] = ax.Labels[i]
				h.used[ax.Name] = true
			}
		}
	}
	for name, ax := range h.axes {
		if _, set := h.overrides[name]; set && !used[ax] {
			return nil, &UsageError{Msg: fmt.Sprintf("--set %s: sweep axis %q (declared at %s) is not used by the experiment", name, name, ax.Pos)}
		}
	}
	total := rep
	for _, g := range groups {
		if total *= len(g[0].Values); total > MaxRuns {
			return nil, posError(h.exp.pos, "experiment: the sweep expands to more than %d runs; use fewer axis values or pin axes with --set", MaxRuns)
		}
	}
	for _, g := range groups {
		for _, ax := range g {
			p.Axes = append(p.Axes, AxisInfo{Name: ax.Name, Values: ax.Labels, Zip: ax.group, Pos: ax.Pos.String()})
		}
	}

	// Odometer over the groups; the last group varies fastest. Repetitions
	// are the outermost loop, so noise that drifts over time spreads over
	// all points instead of landing on one.
	idx := make([]int, len(groups))
	var points [][]int
	for {
		if pinOK(groups, idx, pinned) {
			points = append(points, slices.Clone(idx))
		}
		k := len(groups) - 1
		for k >= 0 {
			idx[k]++
			if idx[k] < len(groups[k][0].Values) {
				break
			}
			idx[k] = 0
			k--
		}
		if k < 0 {
			break
		}
	}
	for r := 0; r < rep; r++ {
		for _, pt := range points {
			point := map[*Axis]int{}
			params := map[string]string{}
			for gi, g := range groups {
				for _, ax := range g {
					point[ax] = pt[gi]
					params[ax.Name] = ax.Labels[pt[gi]]
				}
			}
			if rep > 1 {
				params["rep"] = strconv.Itoa(r)
			}
			cfg, err := h.resolveRun(point, r)
			if err != nil {
				return nil, err
			}
			cfg.Experiment = p.Experiment
			id, seed := runID(cfg, p.Seed)
			p.Runs = append(p.Runs, Run{Index: len(p.Runs), ID: id, Seed: seed, Params: params, Config: cfg})
		}
	}
	seen := map[string]int{}
	for _, r := range p.Runs {
		if j, dup := seen[r.ID]; dup {
			return nil, posError(h.exp.pos, "runs %d and %d resolve to the same configuration (%s); two sweep values that mean the same thing?", j+1, r.Index+1, paramString(r.Params))
		}
		seen[r.ID] = r.Index
	}
	if err := h.planOutputs(p); err != nil {
		return nil, err
	}
	p.Actions = planActions(p.Runs)
	p.dangerous = h.dangerous
	p.markAllowed(h.opts.AllowSysctls)
	return p, nil
}

func pinOK(groups [][]*Axis, idx []int, pinned map[*Axis]string) bool {
	for gi, g := range groups {
		for _, ax := range g {
			if l, ok := pinned[ax]; ok && ax.Labels[idx[gi]] != l {
				return false
			}
		}
	}
	return true
}

// pinAxis finds the axis value a --set names: by label, or as a new value
// that passes every use's validation.
func (h *Host) pinAxis(ax *Axis, raw string) (int, error) {
	for i, l := range ax.Labels {
		if l == raw {
			return i, nil
		}
	}
	var v starlark.Value = starlark.String(raw)
	if _, isInt := ax.Values[0].(starlark.Int); isInt {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return 0, &UsageError{Msg: fmt.Sprintf("--set %s=%s: want an int or one of %s", ax.Name, raw, quoteList(ax.Labels))}
		}
		v = starlark.MakeInt64(n)
	} else if _, isStr := ax.Values[0].(starlark.String); !isStr {
		return 0, &UsageError{Msg: fmt.Sprintf("--set %s=%s: not one of the axis values %s%s", ax.Name, raw, quoteList(ax.Labels), didYouMean(raw, ax.Labels))}
	}
	for _, u := range ax.uses {
		if err := u.kind.check(v); err != nil {
			return 0, &UsageError{Msg: fmt.Sprintf("--set %s=%s: %s: %v", ax.Name, raw, u.fn, err)}
		}
	}
	ax.Values = append(ax.Values, v)
	ax.Labels = append(ax.Labels, label(v))
	return len(ax.Values) - 1, nil
}

func collectAxes(v starlark.Value, out map[*Axis]bool) {
	switch x := v.(type) {
	case *Axis:
		out[x] = true
	case *Spec:
		for _, k := range x.Order {
			collectAxes(x.Args[k], out)
		}
	case *starlark.List:
		for i := range x.Len() {
			collectAxes(x.Index(i), out)
		}
	case starlark.Tuple:
		for _, e := range x {
			collectAxes(e, out)
		}
	}
}

// subst replaces axes by their value at the point.
func subst(v starlark.Value, point map[*Axis]int) starlark.Value {
	switch x := v.(type) {
	case *Axis:
		return subst(x.Values[point[x]], point)
	case *Spec:
		c := *x
		c.Args = starlark.StringDict{}
		for k, a := range x.Args {
			c.Args[k] = subst(a, point)
		}
		return &c
	case *starlark.List:
		out := make([]starlark.Value, x.Len())
		for i := range out {
			out[i] = subst(x.Index(i), point)
		}
		return starlark.NewList(out)
	}
	return v
}

// runID hashes the canonical encoding of cfg; the run's seed is derived
// from the experiment seed and the ID (53 bits, exact in JSON numbers).
func runID(cfg RunConfig, expSeed int64) (string, uint64) {
	enc, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // plain structs always encode
	}
	sum := sha256.Sum256(enc)
	id := hex.EncodeToString(sum[:6])
	s := sha256.Sum256([]byte(fmt.Sprintf("labrun-seed/%d/%s", expSeed, id)))
	return id, binary.BigEndian.Uint64(s[:8]) & (1<<53 - 1)
}

func paramString(params map[string]string) string { return results.KV(params) }

func planActions(runs []Run) []PlanAction {
	var out []PlanAction
	for _, r := range runs {
		acts := r.Config.Kernel.Settings().Actions()
		acts = append(acts, r.Config.Kernel.System().Actions()...)
		for _, l := range r.Config.Loads {
			what := "child process of labrun, ended with the run"
			if l.Kind == "stress_ng" {
				what = "stress-ng, ended with the run"
			}
			acts = append(acts, kernel.Action{Setting: "load", Value: l.Label + ": " + what, Scope: "background"})
		}
		for _, a := range acts {
			found := false
			for i := range out {
				if out[i].Action.Setting == a.Setting && out[i].Action.Value == a.Value {
					out[i].Runs = append(out[i].Runs, r.Index+1)
					found = true
				}
			}
			if !found {
				out = append(out, PlanAction{Action: a, Runs: []int{r.Index + 1}})
			}
		}
		if r.Config.Trace.ColdCache {
			a := kernel.Action{Setting: "cold_cache", Value: "evict the trace from the page cache (fadvise)", Scope: "trace file"}
			out = append(out, PlanAction{Action: a, Runs: []int{r.Index + 1}})
		}
		if r.Config.Sink.Kind == "pcap" {
			a := kernel.Action{Setting: "file", Value: "pcap/" + r.ID + ".pcapng", Scope: "output folder"}
			out = append(out, PlanAction{Action: a, Runs: []int{r.Index + 1}})
		}
		for _, a := range append(wireActions(r), moreActions(r)...) {
			found := false
			for i := range out {
				if out[i].Action == a {
					out[i].Runs = append(out[i].Runs, r.Index+1)
					found = true
				}
			}
			if !found {
				out = append(out, PlanAction{Action: a, Runs: []int{r.Index + 1}})
			}
		}
	}
	return out
}

// wireActions lists what a run on the wire creates and starts.
func wireActions(r Run) []kernel.Action {
	c := r.Config
	if !c.Wire() {
		return nil
	}
	shape := "sender <-> receiver: one veth pair, 198.18.0.0/24"
	if c.Topology.Emulator {
		shape = "sender <-> emulator <-> receiver: two veth pairs, 198.18.0.0/24 and 198.19.0.0/24"
	}
	a := []kernel.Action{{Setting: "netns", Value: "lr-<pid>-<run id>-*: " + shape, Scope: "new namespaces", Needs: "root"}}
	if c.Link != nil {
		a = append(a, kernel.Action{Setting: "emulator", Value: "link forwarder: " + c.Link.Label, Scope: "emulator netns", Needs: "root"})
	}
	if c.Topology.TBF > 0 {
		a = append(a, kernel.Action{Setting: "tbf", Value: fmt.Sprintf("tc qdisc tbf rate %gbit on %s", c.Topology.TBF, "lr-snd0"), Scope: "sender netns", Needs: "root"})
	}
	if c.Workload.TCP() {
		a = append(a, kernel.Action{Setting: "tcp", Value: c.Workload.Kind + " sender netns -> receiver netns", Scope: "end netns", Needs: "root"})
		return a
	}
	a = append(a, kernel.Action{Setting: "receiver", Value: "AF_PACKET socket with receive timestamps", Scope: "receiver netns", Needs: "root"})
	switch c.SenderKind() {
	case "tcpreplay", "trafgen":
		a = append(a, kernel.Action{Setting: "command", Value: peerSummary(c), Scope: "sender netns", Needs: "root"})
	default:
		a = append(a, kernel.Action{Setting: "send", Value: sinkLabel(c), Scope: "sender netns", Needs: "root"})
	}
	return a
}

// paramValues lists the values a parameter takes over the runs, in order.
func (p *Plan) paramValues(name string) []string {
	var out []string
	for _, r := range p.Runs {
		if v, ok := r.Params[name]; ok && !contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
