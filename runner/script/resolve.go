package script

import (
	"fmt"
	"net/netip"
	"runtime"
	"sort"
	"time"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/engine/flow"
	"github.com/labrun/labrun/engine/peer"
	"github.com/labrun/labrun/engine/topo"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/tx"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/linkconf"
	"github.com/labrun/labrun/runner/plan"
)

// resolveRun converts the experiment's arguments at one sweep point into a
// RunConfig. Arguments were validated when the script built them, so the
// conversions here cannot fail on syntax; they check combinations.
func (h *Host) resolveRun(point map[*Axis]int, rep int) (plan.RunConfig, error) {
	r := &runResolver{h: h, a: h.exp.args, point: point, cfg: plan.RunConfig{Rep: rep}}
	steps := []func() error{r.loadsAndLink}
	if r.a["workload"] != starlark.None {
		steps = append(steps, r.workload)
	} else {
		steps = append(steps, r.traceAndSender, r.timerAndSink, r.wire, r.kernel, r.hosts)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return r.cfg, err
		}
	}
	return r.cfg, nil
}

// runResolver turns the experiment's values at one point of the sweep
// into a run's configuration, one part at a time.
type runResolver struct {
	h     *Host
	a     starlark.StringDict // the experiment's arguments
	point map[*Axis]int
	cfg   plan.RunConfig
	snd   *Spec // the sender, if the experiment names one
	// peer is a sender other than labrun's engine; wirePeer one that
	// sends on the wire (cyclictest sends nothing).
	peer, wirePeer bool
	timerV, sinkV  starlark.Value // the experiment's, or the sender's own
}

// loadsAndLink resolves the background loads and the emulated link.
func (r *runResolver) loadsAndLink() error {
	a, point, cfg := r.a, r.point, &r.cfg
	if v := subst(a["background"], point); v != starlark.None {
		cfg.Loads = resolveLoads(v)
	}
	if v := subst(a["emulator"], point); v != starlark.None {
		ls := v.(*Spec)
		lc, err := resolveLink(ls)
		if err == nil {
			_, err = linkconf.Link(lc, 1)
		}
		if err != nil {
			return posError(ls.Pos, "link.emulator: %v", err)
		}
		cfg.Link = lc
	}
	return nil
}

// workload resolves a workload that runs on its own (link.*, tcp.*).
func (r *runResolver) workload() error {
	h, a, point, cfg := r.h, r.a, r.point, &r.cfg
	w := subst(a["workload"], point).(*Spec)
	tcp := w.family() == "tcp"
	for _, other := range []string{"trace", "timer", "sink", "sender", "topology", "receiver", "hosts"} {
		if tcp && other == "topology" {
			continue
		}
		if a[other] != starlark.None {
			return posError(h.exp.pos, "experiment: workload = %s runs on its own: drop %s =", w.Kind, other)
		}
	}
	wc := resolveWorkload(w)
	if tcp {
		// A swept duration is checked here, per run, as the run
		// would check it.
		if err := checkTCPDuration(nil, w); err != nil {
			return posError(w.Pos, "%s: %v", w.Kind, err)
		}
		if err := checkTCPWorkload(wc); err != nil {
			return posError(w.Pos, "%s: %v", w.Kind, err)
		}
	}
	if wc.Kind == "fidelity" && cfg.Link == nil {
		return posError(w.Pos, "link.fidelity measures an emulated link: give the experiment emulator = link.emulator(...)")
	}
	if wc.Kind == "throughput" && cfg.Link != nil {
		return posError(w.Pos, "link.throughput measures the pipeline with a constant delay of its own (delay =): drop emulator =")
	}
	cfg.Workload = &wc
	if tcp {
		cfg.Topology = &plan.TopoConfig{MTU: 1500}
		if v := a["topology"]; v != starlark.None {
			tp := subst(v, point).(*Spec)
			if tp.Kind == "topology.interfaces" {
				return posError(tp.Pos, "topology.interfaces: %s runs between labrun's own namespaces; use topology.veth()", w.Kind)
			}
			cfg.Topology = &plan.TopoConfig{MTU: int(intArg(tp, "mtu")), Offloads: tp.Args["offloads"] == starlark.True}
			if tp.Args["pairs"] != starlark.None {
				return posError(tp.Pos, "topology.veth: pairs = %s: a TCP workload runs over one veth pair; drop pairs", tp.Args["pairs"].String())
			}
		}
		cfg.Topology.Emulator = cfg.Link != nil
		if err := checkEmulatorTopo(*cfg); err != nil {
			return posError(h.exp.pos, "experiment: %v", err)
		}
	}
	return nil
}

// traceAndSender resolves the trace and who sends it.
func (r *runResolver) traceAndSender() error {
	h, a, point, cfg := r.h, r.a, r.point, &r.cfg
	if a["trace"] == starlark.None {
		return posError(h.exp.pos, "experiment: give trace = (e.g. trace.synthetic(count = 1000, interval = \"70us\")) or workload = (e.g. link.throughput())")
	}

	t, err := resolveTrace(subst(a["trace"], point).(*Spec))
	if err != nil {
		return err
	}
	cfg.Trace = t

	// The sender: labrun's engine unless sender = says otherwise; a
	// sender.labrun's own timer and sink take the place of the
	// experiment's.
	timerV, sinkV := a["timer"], a["sink"]
	var snd *Spec
	if v := a["sender"]; v != starlark.None {
		snd = subst(v, point).(*Spec)
		sc, err := resolveSender(snd)
		if err != nil {
			return err
		}
		cfg.Sender = &sc
		if snd.name() == "labrun" {
			if v := snd.Args["timer"]; v != starlark.None {
				timerV = v
			}
			if v := snd.Args["sink"]; v != starlark.None {
				sinkV = v
			}
			if sc.Threads == 1 && len(sc.CPUs) == 0 && sc.Profile == 0 && snd.Args["label"] == starlark.None {
				// sender.labrun() with nothing of its own is the default.
				cfg.Sender = nil
			}
		}
	}
	peer := cfg.SenderKind() != "labrun"
	// cyclictest wakes up on the trace's schedule and sends nothing: it
	// stays off the wire.
	wirePeer := peer && cfg.SenderKind() != "cyclictest" && cfg.SenderKind() != "stall_probe"
	if cfg.SenderKind() == "stall_probe" {
		if err := checkStallProbe(snd, cfg); err != nil {
			return err
		}
	}
	if cfg.SenderKind() == "cyclictest" {
		t := cfg.Trace
		if t.Kind != "synthetic" || t.Interval <= 0 || t.Poisson || t.Gaps != nil || t.Count <= 0 {
			return posError(snd.Pos, "sender.cyclictest wakes at a fixed interval: give a trace.synthetic with count and interval > 0, no poisson or gaps")
		}
		if time.Duration(t.Interval)%time.Microsecond != 0 {
			return posError(snd.Pos, "sender.cyclictest: interval %v: cyclictest takes whole microseconds", time.Duration(t.Interval))
		}
		if a["topology"] != starlark.None || a["receiver"] != starlark.None || a["emulator"] != starlark.None {
			return posError(snd.Pos, "sender.cyclictest sends nothing: drop topology, receiver and emulator")
		}
	}

	r.snd, r.peer, r.wirePeer, r.timerV, r.sinkV = snd, peer, wirePeer, timerV, sinkV
	return nil
}

// timerAndSink resolves labrun's timer and sink, or checks what a peer
// tool can replay.
func (r *runResolver) timerAndSink() error {
	h, point, cfg, snd, timerV, sinkV := r.h, r.point, &r.cfg, r.snd, r.timerV, r.sinkV
	peer := r.peer
	if !peer {
		if timerV == starlark.None {
			return posError(h.exp.pos, "experiment: give timer = (e.g. timer = timer.busy()) or a sender with its own timer")
		}
		tm := subst(timerV, point).(*Spec)
		cfg.Timer = plan.TimerConfig{Mode: tm.name(), Period: durArg(tm, "period"), Margin: durArg(tm, "margin"), MaxMargin: durArg(tm, "max_margin"),
			Late: str(tm.Args, "late"), DropAfter: durArg(tm, "drop_after"), CPUPct: cpuArg(tm)}
		if err := checkLate(tm, cfg.Timer); err != nil {
			return err
		}
		if tm.name() == "tick" && cfg.Timer.Period <= 0 {
			return posError(tm.Pos, "timer.tick: period must be > 0")
		}
		if cfg.Timer.MaxMargin > 0 && cfg.Timer.Margin > cfg.Timer.MaxMargin {
			return posError(tm.Pos, "timer.firm: margin %v is larger than max_margin %v", cfg.Timer.Margin, cfg.Timer.MaxMargin)
		}
		cfg.Sink = plan.SinkConfig{Kind: "null"}
		if sinkV != starlark.None {
			sk := subst(sinkV, point).(*Spec)
			cfg.Sink = plan.SinkConfig{Kind: sk.name(), Snaplen: sizeArg(sk, "snaplen")}
			switch cfg.Sink.Kind {
			case "afpacket", "udp":
				cfg.Sink.Mode = str(sk.Args, "mode")
				cfg.Sink.Batch = int(intArg(sk, "batch"))
				cfg.Sink.QdiscBypass = sk.Args["qdisc_bypass"] == starlark.True
				cfg.Sink.Pad = sk.Args["pad"] == starlark.True
				cfg.Sink.Linear = sk.Args["linear"] == starlark.True
			case "afxdp":
				cfg.Sink.Batch = int(intArg(sk, "batch"))
				cfg.Sink.Queue = int(intArg(sk, "queue"))
			}
		}
		if cfg.Sender != nil && cfg.Sender.Threads != 1 && !cfg.Sink.OnWire() {
			return posError(snd.Pos, "sender.labrun: threads = %s needs a sink on the wire (sink.afpacket, sink.afxdp or sink.udp); %s sinks take one thread",
				snd.Args["threads"].String(), cfg.Sink.Kind)
		}
	} else {
		cfg.Sink = plan.SinkConfig{Kind: "peer"}
		if cfg.Trace.Kind == "pcap" && (cfg.Trace.ZeroPayload || cfg.Trace.Rewrite != "" || cfg.Trace.Snaplen > 0 || cfg.Trace.Rate != "" || cfg.Trace.Speed > 0 || cfg.Trace.Loops > 1 || cfg.Trace.MaxGap > 0) {
			return posError(snd.Pos, "%s replays the capture file as it is; its transforms and timing (zero_payload, rewrite, snaplen, rate, speed, loop, max_gap) are labrun's: drop them, or use the tool's own timing options", snd.Kind)
		}
		if snd.name() == "trafgen" && cfg.Trace.Kind != "synthetic" {
			return posError(snd.Pos, "sender.trafgen repeats one frame: give it a trace.synthetic trace (fixed frame size), not %s", cfg.Trace.Kind)
		}
		if snd.name() == "trafgen" && (cfg.Trace.Sizes != nil || cfg.Trace.Poisson || cfg.Trace.Gaps != nil) {
			return posError(snd.Pos, "sender.trafgen sends one frame size at a fixed gap: drop sizes, gaps and poisson from the trace")
		}
	}

	return nil
}

// checkStallProbe checks what sender.stall_probe needs: a synthetic
// trace whose count and interval give how long it spins, a threshold in
// range and a CPU this machine has.
func checkStallProbe(snd *Spec, cfg *plan.RunConfig) error {
	t := cfg.Trace
	if t.Kind != "synthetic" || t.Interval <= 0 || t.Count <= 0 {
		return posError(snd.Pos, "sender.stall_probe spins as long as a paced run lasts: give a trace.synthetic with count and interval > 0")
	}
	if d := time.Duration(t.Interval) * time.Duration(t.Count); d > time.Hour {
		return posError(snd.Pos, "sender.stall_probe: the trace lasts %v: at most 1h", d)
	}
	if th := time.Duration(cfg.Sender.Threshold); th < time.Microsecond || th > time.Second {
		return posError(snd.Pos, "sender.stall_probe: threshold %v: give a duration from \"1us\" to \"1s\"", th)
	}
	return nil
}

// wire resolves the topology and receiver whenever packets go on a wire.
func (r *runResolver) wire() error {
	h, a, point, cfg, wirePeer := r.h, r.a, r.point, &r.cfg, r.wirePeer
	if cfg.SenderKind() == "stall_probe" {
		// The probe sends nothing: the experiment's topology and
		// receiver, if it gives them for its other runs, are not built
		// for this one.
		return nil
	}
	// The wire: a topology and a receiver whenever packets go on one.
	if v := a["topology"]; v != starlark.None && subst(v, point).(*Spec).Kind == "topology.interfaces" {
		if err := resolveInterfaces(subst(v, point).(*Spec), cfg); err != nil {
			return err
		}
	} else if v != starlark.None {
		tp := subst(v, point).(*Spec)
		cfg.Topology = &plan.TopoConfig{MTU: int(intArg(tp, "mtu")), Offloads: tp.Args["offloads"] == starlark.True, Emulator: tp.Args["emulator"] == starlark.True}
		if v, ok := tp.Args["tbf"].(starlark.String); ok {
			r, _ := units.ParseRate(string(v))
			if r.Kind != units.BitsPerSecond || r.PerSecond <= 0 {
				return posError(tp.Pos, "topology.veth: tbf = %s: give a bit rate > 0 such as \"100Mbps\"", v)
			}
			cfg.Topology.TBF = r.PerSecond
		}
		if r := tp.Args["rps"]; r != starlark.None {
			for _, c := range intList(r) {
				cfg.Topology.RPS = append(cfg.Topology.RPS, int(c))
			}
		}
		switch q := tp.Args["queues"].(type) {
		case starlark.String:
			cfg.Topology.Queues = -1
		case starlark.Int:
			cfg.Topology.Queues = int(intOf(q))
		}
		if cfg.Topology.Queues != 0 && cfg.Topology.Queues != 1 && len(cfg.Topology.RPS) > 0 {
			return posError(tp.Pos, "topology.veth: rps steers the first receive queue; with queues = %s frames arrive on several: drop one of them", tp.Args["queues"].String())
		}
		if tp.Args["pairs"] != starlark.None {
			cfg.Topology.Pairs = int(intArg(tp, "pairs"))
			if err := r.checkPorts(tp); err != nil {
				return err
			}
		}
	}
	if v := a["receiver"]; v != starlark.None {
		rv := subst(v, point).(*Spec)
		rc := plan.ReceiverConfig{Capture: rv.Args["capture"] == starlark.True, Drain: durArg(rv, "drain"), Quiet: durArg(rv, "quiet"),
			Probe: rv.Args["probe"] == starlark.True, Fanout: rv.Args["fanout"] == starlark.True}
		if rv.Args["cpu"] != starlark.None {
			c := int(intArg(rv, "cpu"))
			rc.CPU = &c
		}
		rc.Ring = sizeArg(rv, "ring")
		if rc.Fanout && (rc.Capture || cfg.Topology != nil && cfg.Topology.Interfaces != nil && cfg.Topology.Interfaces.Timestamps == "hardware") {
			return posError(rv.Pos, "receiver.afpacket: fanout = True walks a ring per CPU in turn, not in arrival order: not with capture = True or hardware timestamps")
		}
		cfg.Receiver = &rc
	}
	if cfg.Sink.OnWire() || wirePeer || cfg.Topology != nil || cfg.Receiver != nil {
		if cfg.Topology == nil {
			cfg.Topology = &plan.TopoConfig{MTU: 1500}
		}
		if cfg.Receiver == nil {
			cfg.Receiver = &plan.ReceiverConfig{Drain: units.Duration(2 * time.Second), Quiet: units.Duration(100 * time.Millisecond)}
		}
		if !cfg.Sink.OnWire() && !wirePeer {
			return posError(h.exp.pos, "experiment: a topology and receiver need a sender on the wire: sink = sink.afpacket(), sink.afxdp() or sink.udp(), or a sender.tcpreplay/trafgen; %s sends nothing", cfg.Sink.Kind)
		}
		if cfg.Link != nil {
			cfg.Topology.Emulator = true
			if err := checkEmulatorTopo(*cfg); err != nil {
				return posError(h.exp.pos, "experiment: %v", err)
			}
		}
		if err := checkXDPQueues(*cfg); err != nil {
			return posError(h.exp.pos, "experiment: %v", err)
		}
		if mf := cfg.Trace.MaxFrame(); cfg.Sink.Kind == "afxdp" && mf-trace.FCSLen > tx.MaxXDPFrame {
			return posError(h.exp.pos, "experiment: sink.afxdp sends frames of up to %d B (one UMEM chunk), and the trace has frames of %d B (with FCS): use sink.afpacket()", tx.MaxXDPFrame, mf)
		}
		if mf := cfg.Trace.MaxFrame(); mf-trace.FCSLen > cfg.Topology.MTU+14 {
			return posError(h.exp.pos, "experiment: frames of up to %d B (with FCS) do not fit the topology's MTU %d (frames up to MTU + 18 B): raise topology.veth(mtu = ...)", mf, cfg.Topology.MTU)
		}
	}
	if cfg.Sink.Kind == "udp" && cfg.Trace.Kind != "synthetic" {
		return posError(h.exp.pos, "experiment: sink.udp sends the UDP payload of labrun's synthetic frames; use trace.synthetic, or sink.afpacket for a capture")
	}

	return nil
}

// kernel resolves the kernel settings and --cpu.
func (r *runResolver) kernel() error {
	h, a, point, cfg, peer := r.h, r.a, r.point, &r.cfg, r.peer
	if v := a["kernel"]; v != starlark.None {
		k := subst(v, point).(*Spec)
		cfg.Kernel = plan.KernelConfig{Sched: str(k.Args, "sched"), Priority: int(intArg(k, "priority")),
			Mlock: k.Args["mlock"] == starlark.True, TimerSlack: durArg(k, "timer_slack"), Required: strs(k.Args["required"])}
		if k.Args["dma_latency"] != starlark.None {
			d := durArg(k, "dma_latency")
			cfg.Kernel.DMALatency = &d
		}
		if c := k.Args["cpu"]; c != starlark.None {
			for _, s := range intList(c) {
				cfg.Kernel.CPUs = append(cfg.Kernel.CPUs, int(s))
			}
		}
		if d, ok := k.Args["sysctls"].(*starlark.Dict); ok {
			for _, kv := range d.Items() {
				val := kv[1].String()
				if s, ok := kv[1].(starlark.String); ok {
					val = string(s)
				}
				cfg.Kernel.Sysctls = append(cfg.Kernel.Sysctls, [2]string{string(kv[0].(starlark.String)), val})
			}
			sort.Slice(cfg.Kernel.Sysctls, func(i, j int) bool { return cfg.Kernel.Sysctls[i][0] < cfg.Kernel.Sysctls[j][0] })
		}
		if k.Args["rt_runtime"] != starlark.None {
			v := int(intArg(k, "rt_runtime"))
			cfg.Kernel.RTRuntime = &v
		}
		cfg.Kernel.Governor = str(k.Args, "governor")
		if err := cfg.Kernel.CheckRequired(); err != nil {
			return posError(k.Pos, "kernel.settings: %v", err)
		}
		if err := cfg.Kernel.System().Validate(); err != nil {
			return posError(k.Pos, "kernel.settings: %v", err)
		}
		if err := cfg.Kernel.Settings().Validate(); err != nil {
			return posError(k.Pos, "kernel.settings: %v", err)
		}
		h.noteDangerous(cfg.Kernel, k.Pos.String())
	}
	if pin := h.opts.CPUs; len(pin) > 0 && !peer {
		cfg.Kernel.CPUs = pin
		if cfg.Sender != nil && cfg.Sender.Threads != 1 {
			cfg.Sender.CPUs = pin
		}
	}
	return nil
}

func intArg(s *Spec, name string) int64 {
	if i, ok := s.Args[name].(starlark.Int); ok {
		n, _ := i.Int64()
		return n
	}
	return 0
}

func intList(v starlark.Value) []int64 {
	if i, ok := v.(starlark.Int); ok {
		n, _ := i.Int64()
		return []int64{n}
	}
	var out []int64
	if seq, ok := v.(starlark.Indexable); ok {
		for i := range seq.Len() {
			n, _ := seq.Index(i).(starlark.Int).Int64()
			out = append(out, n)
		}
	}
	return out
}

func durArg(s *Spec, name string) units.Duration {
	if v, ok := s.Args[name].(starlark.String); ok {
		d, _ := units.ParseDuration(string(v))
		return d
	}
	return 0
}

func sizeArg(s *Spec, name string) units.Size {
	if v, ok := s.Args[name].(starlark.String); ok {
		d, _ := units.ParseSize(string(v))
		return d
	}
	return 0
}

// planHost stands in for the namespaces a TCP workload runs between, so
// that plan can apply the engine's own checks of the configuration.
type planHost struct{}

func (planHost) Do(func() error) error { return nil }

// checkTCPWorkload applies the checks a tcp.* run applies when it starts
// (flow.BulkConfig, flow.RRConfig, peer.Iperf3), with stand-ins for the
// hosts and address the run makes.
func checkTCPWorkload(w plan.WorkloadConfig) error {
	d, addr := time.Duration(w.Duration), netip.MustParseAddr("198.18.0.2")
	switch w.Kind {
	case "tcp.bulk":
		return flow.BulkConfig{Client: planHost{}, Server: planHost{}, Addr: addr, Duration: d, CC: w.CC, Warmup: time.Duration(w.Warmup)}.Validate()
	case "tcp.rr":
		return flow.RRConfig{Client: planHost{}, Server: planHost{}, Addr: addr, Requests: w.Requests, Duration: d, ReqSize: int(w.Request), RespSize: int(w.Response)}.Validate()
	case "tcp.iperf3":
		return peer.Iperf3{Duration: d, CC: w.CC}.Validate()
	case "tcp.paced":
		return checkPacedWorkload(w)
	}
	return nil
}

// checkXDPQueues checks that labrun's veth has a queue for each sending
// thread of sink.afxdp (a queue takes one XDP socket; thread k binds
// queue + k). "cpus" counts this machine's CPUs; a named interface's
// queues are known only when the run opens it.
func checkXDPQueues(c plan.RunConfig) error {
	if c.Sink.Kind != "afxdp" || c.Topology == nil || c.Topology.Interfaces != nil || c.Topology.Pairs > 1 {
		return nil
	}
	threads, queues := 1, c.Topology.Queues
	if c.Sender != nil {
		threads = c.Sender.Threads
	}
	if threads == 0 {
		threads = runtime.NumCPU()
	}
	switch queues {
	case 0:
		queues = 1
	case -1:
		queues = min(runtime.NumCPU(), topo.MaxQueues)
	}
	if need := c.Sink.Queue + threads; need > queues {
		return fmt.Errorf("sink.afxdp binds a queue per sending thread, queues %d..%d, and the veth has %d: give topology.veth(queues = %d) or queues = \"cpus\" with threads = \"cpus\"", c.Sink.Queue, need-1, queues, need)
	}
	return nil
}
