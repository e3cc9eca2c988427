package runner

import (
	"context"
	"io"
	"strings"
	"testing"
)

// The link builtins resolve into the run's configuration, put the
// emulator into the topology, and reject bad parameters at plan time with
// the script's position.
func TestLinkPlan(t *testing.T) {
	p := mustEval(t, `experiment(name = "l", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(),
    sink = sink.afpacket(), emulator = link.emulator(bandwidth = "100Mbps", delay = delay.normal("10ms", "1ms"),
    loss = loss.gilbert_elliott(p = 0.01, r = 0.3), queue = 100, reverse = link.emulator(delay = "10ms")))`, nil)
	c := p.Runs[0].Config
	if c.Link == nil || !c.Topology.Emulator || c.Link.Bandwidth != 100e6 || c.Link.Overhead != 24 || c.Link.QueuePackets != 100 ||
		c.Link.Delay.Kind != "normal" || c.Link.Loss.Kind != "gilbert_elliott" || c.Link.Reverse == nil {
		t.Fatalf("config %+v link %+v", c, c.Link)
	}
	var acts []string
	for _, a := range p.Actions {
		acts = append(acts, a.Setting+" "+a.Value)
	}
	if all := strings.Join(acts, "\n"); !strings.Contains(all, "emulator link forwarder") || !strings.Contains(all, "sender <-> emulator <-> receiver") {
		t.Errorf("actions lack the emulator:\n%s", all)
	}

	p = mustEval(t, `experiment(name = "l", workload = link.throughput(packets = 1000, delay = sweep.axis("delay", ["0s", "20ms"])))`, nil)
	if len(p.Runs) != 2 || p.Runs[1].Config.Workload.Delay != 20e6 || p.Runs[0].Config.Wire() {
		t.Fatalf("throughput runs %+v", p.Runs)
	}

	for _, tc := range []struct{ src, want string }{
		{`link.emulator(delay = "-3ms")`, "negative values are not allowed"},
		{`link.emulator(delay = delay.constant("-1ms"))`, "negative values are not allowed"},
		{`loss.bernoulli(1.5)`, "out of range [0, 1]"},
		{`loss.gilbert_elliott(p = 0.1, r = 2)`, "out of range [0, 1]"},
		{`link.emulator(bandwidth = "0Mbps")`, "must be > 0"},
		{`link.emulator(bandwidth = "10kpps")`, "give a bit rate"},
		{`delay.uniform("5ms", "1ms")`, "lo 5ms > hi 1ms"},
		{`delay.pareto("1ms", 0.5)`, "shape"},
		{`delay.empirical(samples = ["1ms"])`, "samples"},
		{`delay.empirical()`, "give file ="},
		{`delay.empirical(file = "no-such-file.txt")`, "no-such-file.txt"},
		{`loss.pattern("01x")`, "pattern"},
		{`link.steps([])`, "steps is empty"},
		{`link.steps([("1s", "10kpps")])`, "give a bit rate"},
		{`tcp.bulk(duration = "1s", warmup = "2s")`, "warmup 2s must be shorter than duration 1s"},
		{`tcp.iperf3(duration = "1500ms")`, "whole seconds"},
		{`experiment(name = "l", workload = link.fidelity())`, "give the experiment emulator ="},
		{`experiment(name = "l", workload = link.throughput(), trace = trace.synthetic(count = 10, interval = "1ms"))`, "runs on its own: drop trace ="},
		{`experiment(name = "l", emulator = link.emulator(delay = "1ms"), workload = link.fidelity(), topology = topology.veth(mtu = 9000))`, "runs on its own"},
		{`experiment(name = "l", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), sink = sink.afpacket(),
    topology = topology.veth(mtu = 9000), emulator = link.emulator(delay = "1ms"))`, "forwards frames of MTU <= "},
	} {
		_, err := evalSrc(t, tc.src, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.src, err, tc.want)
			continue
		}
		checkErrorForm(t, err)
	}
}

// A fidelity run reports what the model did: the delay distribution's KS
// distance, the loss rate inside its interval, and reproducibility.
func TestFidelityRun(t *testing.T) {
	p := mustEval(t, `experiment(name = "f", emulator = sweep.axis("m", [
    link.emulator(label = "n", delay = delay.normal("10ms", "2ms")),
    link.emulator(label = "ge", loss = loss.gilbert_elliott(p = 0.01, r = 0.3))]),
    workload = link.fidelity(packets = 100000))`, nil)
	prog := newProgress(io.Discard, ProgressQuiet, len(p.Runs))
	defer prog.stop()
	rowN, err := runWorkload(context.Background(), p.Runs[0], prog)
	if err != nil {
		t.Fatal(err)
	}
	m := rowN.Metrics
	if m["delay_ks"] <= 0 || m["delay_ks"] > 0.01 || m["link_reordered"] != 0 || m["same_seed_same"] != 1 {
		t.Errorf("normal delay: %v", m)
	}
	rowG, err := runWorkload(context.Background(), p.Runs[1], prog)
	if err != nil {
		t.Fatal(err)
	}
	m = rowG.Metrics
	if m["loss_rate"] <= 0 || m["other_seed_differs"] != 1 || m["same_seed_same"] != 1 || m["burst_theory"] <= 3 || m["burst_mean"] <= 2 {
		t.Errorf("gilbert-elliott: %v", m)
	}
}
