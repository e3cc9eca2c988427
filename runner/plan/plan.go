package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/results"
)

// DataFile is a file of numbers a script names, such as Caliper-style gap
// (-D) and size (-L) files: whitespace-separated non-negative integers.
type DataFile struct {
	Path   string  `json:"path"` // as shown to the user
	SHA256 string  `json:"sha256"`
	Count  int     `json:"count"`
	Values []int64 `json:"-"`
}

// MaxDataValues bounds a data file.
const MaxDataValues = 10_000_000

// Source is a script file that took part in an evaluation.
type Source struct {
	Name   string `json:"name"` // as shown in errors: a path or @stdlib//name.star
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256"`
}

// Plan is a fully resolved experiment: every run with plain Go values.
type Plan struct {
	Experiment  string   `json:"experiment"`
	Description string   `json:"description,omitempty"`
	Seed        int64    `json:"seed"`
	Repeat      int      `json:"repeat"`
	Script      string   `json:"script"`
	Sources     []Source `json:"sources"`
	// Modules is the labrun.lock the loads were checked against (a
	// *module.Lock), nil without a labrun.mod; the manifest records it.
	Modules any                  `json:"-"`
	Params  []ParamValue         `json:"params"`
	Axes    []AxisInfo           `json:"axes"`
	groups  [][]AxisInfo         // the sweep's zip groups, while the runs are built
	Runs    []Run                `json:"runs"`
	Tables  []results.TableSpec  `json:"-"`
	Figures []results.FigureSpec `json:"figures,omitempty"`
	// Expectations are checked after the runs (expect()).
	Expectations []results.Expectation `json:"expectations,omitempty"`
	Actions      []PlanAction          `json:"actions"`
	// Dangerous are the sysctls that need --allow-sysctl (CheckSysctls).
	Dangerous []SysctlUse `json:"-"`
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
	// Search is set when the axis is a sweep.search: its values are the
	// search's candidates.
	Search *Search `json:"search,omitempty"`
}

// Run is one point of the plan.
type Run struct {
	Index  int               `json:"index"`
	ID     string            `json:"id"`
	Seed   uint64            `json:"seed"`
	Params map[string]string `json:"parameters"`
	Config RunConfig         `json:"config"`
	// Search is set when the run is a candidate of a search.
	Search *RunSearch `json:"search,omitempty"`
}

// RunSearch places a run in a search: the search's name and the index of
// its candidate.
type RunSearch struct {
	Name      string `json:"name"`
	Candidate int    `json:"candidate"`
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
	// Hosts place roles of a wire run on other machines (hosts.go).
	Hosts []HostConfig `json:"hosts,omitempty"`
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
	// tcp.paced, and tcp.iperf3 with a rate: Segments writes of Segment
	// bytes, Gap apart (Rate bits/s of Segment + 70 B frames), measured
	// at the receiver; Pacer and PaceTimer say who releases them.
	Pacer     string       `json:"pacer,omitempty"`
	Segments  int          `json:"segments,omitempty"`
	Segment   units.Size   `json:"segment,omitempty"`
	Rate      float64      `json:"rate_bps,omitempty"`
	PaceTimer *TimerConfig `json:"pace_timer,omitempty"`
}

// Paced reports whether the run measures Caliper's precision of a TCP
// flow at the receiver (tcp.paced, or tcp.iperf3 with a rate).
func (w *WorkloadConfig) Paced() bool { return w != nil && w.TCP() && w.Segments > 0 }

// TCP reports whether the workload is closed-loop TCP on the wire.
func (w *WorkloadConfig) TCP() bool { return w != nil && strings.HasPrefix(w.Kind, "tcp.") }

// SenderConfig is a resolved sender.* value.
type SenderConfig struct {
	Kind  string `json:"kind"` // labrun, tcpreplay, trafgen
	Label string `json:"label,omitempty"`
	// labrun: sending threads (0: one per CPU) and their CPUs.
	Threads int   `json:"threads,omitempty"`
	CPUs    []int `json:"cpus,omitempty"`
	// Profile times every Nth packet of labrun's loop stage by stage
	// (replay.Config.Profile); 0 is off.
	Profile int `json:"profile,omitempty"`
	// tcpreplay
	Timing     string  `json:"timing,omitempty"`
	Rate       string  `json:"rate,omitempty"`
	Multiplier float64 `json:"multiplier,omitempty"`
	Timer      string  `json:"timer,omitempty"`
	Preload    bool    `json:"preload,omitempty"`
	// trafgen
	Procs       int  `json:"procs,omitempty"`
	QdiscBypass bool `json:"qdisc_bypass,omitempty"`
	// stall_probe: the CPU to spin on (CPUs, one; none: the last CPU,
	// where a paced sender runs) and the shortest gap counted as a stall.
	Threshold units.Duration `json:"threshold_ns,omitempty"`
}

// ProfileEvery is the send-loop profile's sampling interval for labrun's
// engine (0: off, or no labrun sender).
func (s *SenderConfig) ProfileEvery() int {
	if s == nil || s.Kind != "labrun" {
		return 0
	}
	return s.Profile
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
	// Pairs, when set, is the number of veth pairs between the sender and
	// the receiver, one port each: labrun sends with one thread per port
	// and receives with one receiver per port, both on CPU port mod the
	// CPU count. 0: one pair, the sender and receiver placed as usual.
	Pairs int `json:"pairs,omitempty"`
	// Queues is the number of transmit and receive queues of each veth
	// end: 0 one, -1 one per CPU of the machine that runs it.
	Queues int `json:"queues,omitempty"`
	// Interfaces, if set, are existing interfaces the user named
	// (topology.interfaces) in place of labrun's own namespaces.
	Interfaces *IfacesConfig `json:"interfaces,omitempty"`
}

// ReceiverConfig is a resolved receiver.* value.
type ReceiverConfig struct {
	Capture bool           `json:"capture,omitempty"`
	Drain   units.Duration `json:"drain_ns"`
	Quiet   units.Duration `json:"quiet_ns"`
	CPU     *int           `json:"cpu,omitempty"`
	// Ring is the size of the receive ring (bytes); 0 sizes it for the
	// run's frames.
	Ring units.Size `json:"ring_bytes,omitempty"`
	// Probe runs a stall probe spinning on the receiver's CPU during a
	// paced run whose sender leaves that CPU free (off by default: it
	// slows the sender's sends on a veth, see docs/replay-vs-tcpreplay.md).
	Probe bool `json:"probe,omitempty"`
	// Fanout receives on a socket and ring per CPU (rx.Config.Fanout).
	Fanout bool `json:"fanout,omitempty"`
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

	// Endpoints address the synthetic frames for a device under test
	// (topology.interfaces); nil: labrun's defaults.
	Endpoints *EndpointsConfig `json:"endpoints,omitempty"`
}

// Synth converts to the engine's synthetic stream configuration.
func (t TraceConfig) Synth(seed uint64) trace.SynthConfig {
	c := trace.SynthConfig{Count: t.Count, Duration: int64(t.Duration), Interval: int64(t.Interval), Poisson: t.Poisson,
		FrameSize: int(t.Frame), Flows: t.Flows, Seed: seed, Endpoints: trace.DefaultEndpoints()}
	t.Endpoints.apply(&c.Endpoints)
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
	// Late is the late policy: "" (catch_up), "shift" or "drop".
	Late      string         `json:"late,omitempty"`
	DropAfter units.Duration `json:"drop_after_ns,omitempty"`
	// CPUPct is firm's CPU budget, % of one CPU (0: none).
	CPUPct float64 `json:"cpu_pct,omitempty"`
}

// SinkConfig is a resolved sink.* value.
type SinkConfig struct {
	Kind    string     `json:"kind"`
	Snaplen units.Size `json:"snaplen,omitempty"`
	// sink.afpacket and sink.udp
	Mode        string `json:"mode,omitempty"`
	Batch       int    `json:"batch,omitempty"`
	QdiscBypass bool   `json:"qdisc_bypass,omitempty"`
	// Pad (sink.afpacket) sends frames cut short by a snaplen padded with
	// zeros to their IP length, checksums recomputed: NetVCR's padding.
	Pad bool `json:"pad,omitempty"`
	// Linear (sink.afpacket, mode ring) has the kernel copy each frame
	// whole into the head of its socket buffer, not the link header alone
	// with the rest attached as a fragment of the ring's page.
	Linear bool `json:"linear,omitempty"`
	// Queue (sink.afxdp) is the interface's transmit queue the XDP
	// socket is bound to.
	Queue int `json:"queue,omitempty"`
}

// OnWire reports whether the sink sends on an interface.
func (s SinkConfig) OnWire() bool {
	return s.Kind == "afpacket" || s.Kind == "afxdp" || s.Kind == "udp"
}

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
		if !k.SystemRequired(r) {
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
	return r.Config.Trace.Estimate()
}

func (t TraceConfig) Estimate() time.Duration {
	if t.Kind == "pcap" {
		if t.Capture != nil {
			return t.CaptureEstimate()
		}
		if d, ok := t.GeneratedRateEstimate(); ok {
			return d
		}
		if t.Generate == nil || t.Topspeed || t.Rate != "" {
			return 0 // known once the file is read
		}
		d := t.Generate.Estimate()
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

// runID hashes the canonical encoding of cfg; the run's seed is derived
// from the experiment seed and the ID (53 bits, exact in JSON numbers).
func RunID(cfg RunConfig, expSeed int64) (string, uint64) {
	enc, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // plain structs always encode
	}
	sum := sha256.Sum256(enc)
	id := hex.EncodeToString(sum[:6])
	s := sha256.Sum256([]byte(fmt.Sprintf("labrun-seed/%d/%s", expSeed, id)))
	return id, binary.BigEndian.Uint64(s[:8]) & (1<<53 - 1)
}

func ParamString(params map[string]string) string { return results.KV(params) }

func Actions(runs []Run) []PlanAction {
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
	if c.Remote() {
		return hostActions(r)
	}
	shape := "sender <-> receiver: one veth pair, 198.18.0.0/24"
	if n := c.Topology.Pairs; n > 1 {
		shape = fmt.Sprintf("sender <-> receiver: %d veth pairs, one per port, 198.18.0.0/24 .. 198.18.%d.0/24", n, n-1)
	}
	if c.Topology.Emulator {
		shape = "sender <-> emulator <-> receiver: two veth pairs, 198.18.0.0/24 and 198.19.0.0/24"
	}
	if c.Topology.Interfaces != nil {
		return namedActions(c)
	}
	switch q := c.Topology.Queues; {
	case q == -1:
		shape += ", a queue per CPU"
	case q > 1:
		shape += fmt.Sprintf(", %d queues", q)
	}
	a := []kernel.Action{{Setting: "netns", Value: "lr-<pid>-<run id>-*: " + shape, Scope: "new namespaces", Needs: "root"}}
	if c.Link != nil {
		a = append(a, kernel.Action{Setting: "emulator", Value: "link forwarder: " + c.Link.Label, Scope: "emulator netns", Needs: "root"})
	}
	if c.Topology.TBF > 0 {
		on := "lr-snd0"
		if n := c.Topology.Pairs; n > 1 {
			on = fmt.Sprintf("lr-snd0 .. lr-snd%d", n-1)
		}
		a = append(a, kernel.Action{Setting: "tbf", Value: fmt.Sprintf("tc qdisc tbf rate %gbit on %s", c.Topology.TBF, on), Scope: "sender netns", Needs: "root"})
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
func (p *Plan) ParamValues(name string) []string {
	var out []string
	for _, r := range p.Runs {
		if v, ok := r.Params[name]; ok && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// moreActions lists what a run makes the system do beyond its settings
// and its wire set-up: the command lines of the tools it starts, the
// kernel modules it makes the kernel load, and the removal of namespaces
// that labruns which are gone left behind.
func moreActions(r Run) []kernel.Action {
	c := r.Config
	var a []kernel.Action
	if c.SenderKind() == "cyclictest" {
		ct, _ := CyclictestConfig(c)
		cmd := "cyclictest " + strings.Join(ct.Args("<temporary folder>/out.json"), " ")
		needs := ""
		if ct.Policy != "other" || ct.DMALatency {
			needs = "root"
		}
		a = append(a, kernel.Action{Setting: "command", Value: cmd, Scope: "child process", Needs: needs})
	}
	var ccs []string
	if c.Workload != nil && c.Workload.CC != "" {
		ccs = append(ccs, c.Workload.CC)
	}
	for _, kv := range c.Kernel.Sysctls {
		if kv[0] == "net.ipv4.tcp_congestion_control" && !slices.Contains(ccs, kv[1]) {
			ccs = append(ccs, kv[1])
		}
	}
	for _, cc := range ccs {
		if cc == "reno" || cc == "cubic" {
			continue // built into the kernel
		}
		a = append(a, kernel.Action{Setting: "module", Value: "tcp_" + cc + ", loaded by the kernel for congestion control " + cc + " unless it is loaded already; it stays loaded",
			Scope: "kernel", Needs: "root", Risk: "system (a module stays loaded)"})
	}
	if c.Wire() {
		a = append(a, kernel.Action{Setting: "netns", Value: "remove the lr-<pid>-* namespaces of labruns no longer running (before the first run)",
			Scope: "stale namespaces", Needs: "root"})
	}
	return a
}

// CaptureFile is a capture a script names: resolved inside the repository
// root and hashed, so the run ID changes when the file does.
type CaptureFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Abs    string `json:"-"`
	// Prepass is what plan read of the file (nil for a plan read back
	// from JSON): the schedule of every run, and the run's own prepass.
	Prepass *trace.Prepass `json:"-"`
}

// cyclictestConfig turns the run's kernel settings into cyclictest's own
// options, and says what became of each.
func CyclictestConfig(c RunConfig) (peer.Cyclictest, []kernel.Outcome) {
	k := c.Kernel
	ct := peer.Cyclictest{Interval: time.Duration(c.Trace.Interval), Loops: c.Trace.Count, CPU: -1, Mlock: k.Mlock, Policy: "other"}
	var out []kernel.Outcome
	note := func(setting, value string, state kernel.State, reason string) {
		out = append(out, kernel.Outcome{Setting: setting, Value: value, State: state, Reason: reason, Required: slices.Contains(k.Required, setting)})
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

func ParamNames(p *Plan) []string {
	var names []string
	for _, a := range p.Axes {
		names = append(names, a.Name)
	}
	if p.Repeat > 1 {
		names = append(names, "rep")
	}
	return names
}

// MaxFrame is the largest frame a trace sends, without FCS.
func (t TraceConfig) MaxFrame() int {
	n := int(t.Frame)
	if t.Sizes != nil {
		for _, v := range t.Sizes.Values {
			n = max(n, int(v))
		}
	}
	return n
}
