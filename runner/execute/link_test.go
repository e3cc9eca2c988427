package execute

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/labrun/labrun/runner/script"
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

// An emulated link on the wire and TCP through one run end to end as root:
// every frame is accounted for (received or dropped by the link's loss
// model), each took the link's delay, TCP fills the link, and no namespace
// is left behind.
func TestLinkEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs (run the tests as root, as CI does)")
	}
	for _, file := range []string{"testdata/link/small.star", "testdata/link/tcp.star"} {
		p, err := script.Evaluate(file, script.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := Execute(context.Background(), p, ExecOptions{Out: t.TempDir(), Progress: ProgressQuiet, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if left := lrNamespaces(t); len(left) > 0 {
			t.Fatalf("%s: namespaces left behind: %v", file, left)
		}
		if out.Failed != 0 || len(out.Rows) != 1 {
			t.Fatalf("%s: %d failed, %d rows", file, out.Failed, len(out.Rows))
		}
		m := out.Rows[0].Metrics
		switch file {
		case "testdata/link/small.star":
			lost := m["link_loss_drops"]
			if m["sent"] != 2000 || m["rx_received"]+lost != 2000 || m["rx_unexplained"] != 0 || lost < 100 || lost > 320 || m["rx_reordered"] != 0 {
				t.Errorf("sent %v received %v lost by the link %v unexplained %v reordered %v", m["sent"], m["rx_received"], lost, m["rx_unexplained"], m["rx_reordered"])
			}
			// Each frame took the link's delay at least. No upper bound:
			// on a machine shared with other work a frame may wait any
			// time for a CPU (tlem_accuracy.star measures the latency).
			if m["lat_p50_us"] < 1000 {
				t.Errorf("one-way latency p50 %v us through a 1 ms link", m["lat_p50_us"])
			}
		default:
			// TCP got through, and not faster than the link: goodput
			// is payload, at most 1448/1538 of 50 Mbit/s (47.1), with 5 %
			// for the edges of the measuring window. A busy machine may
			// make it slower by any factor (tcp_through_link.star
			// measures it).
			if g := m["steady_goodput_mbps"]; g <= 0 || g > 47.1*1.05 {
				t.Errorf("steady goodput %v Mbit/s through a 50 Mbit/s link", g)
			}
			if m["min_rtt_ms"] < 5 {
				t.Errorf("min RTT %v ms through a 5 ms link", m["min_rtt_ms"])
			}
		}
	}
}
