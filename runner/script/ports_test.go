package script

import (
	"strings"
	"testing"
)

// topology.veth(pairs = N) reaches the plan, with the receiver's ring,
// and a swept pairs becomes one run per port count.
func TestPairsPlan(t *testing.T) {
	p := mustEval(t, `experiment(name = "p", trace = trace.synthetic(count = 10, interval = "1ms", flows = 12), timer = timer.busy(),
    sink = sink.afpacket(), topology = topology.veth(pairs = sweep.axis("ports", [1, 2, 4])), receiver = receiver.afpacket(ring = "4MiB"))`, nil)
	if len(p.Runs) != 3 {
		t.Fatalf("%d runs, want 3", len(p.Runs))
	}
	for i, want := range []int{1, 2, 4} {
		c := p.Runs[i].Config
		if c.Topology.Pairs != want || c.Receiver.Ring != 4<<20 || p.Runs[i].Params["ports"] != []string{"1", "2", "4"}[i] {
			t.Errorf("run %d: pairs %d ring %d params %v, want %d pairs, 4 MiB", i, c.Topology.Pairs, c.Receiver.Ring, p.Runs[i].Params, want)
		}
	}
	var acts []string
	for _, a := range p.Actions {
		acts = append(acts, a.Value)
	}
	if all := strings.Join(acts, "\n"); !strings.Contains(all, "4 veth pairs, one per port, 198.18.0.0/24 .. 198.18.3.0/24") {
		t.Errorf("actions do not list the 4 pairs:\n%s", all)
	}
	// Without pairs the plan is as before: no pairs, no ring.
	p = mustEval(t, `experiment(name = "p", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), sink = sink.afpacket())`, nil)
	if c := p.Runs[0].Config; c.Topology.Pairs != 0 || c.Receiver.Ring != 0 {
		t.Errorf("default topology has pairs %d ring %d", c.Topology.Pairs, c.Receiver.Ring)
	}
}

// Bad pairs values and combinations fail before anything runs, with the
// script's position and what is accepted.
func TestPairsErrors(t *testing.T) {
	const head = `experiment(name = "p", trace = trace.synthetic(count = 10, interval = "1ms", flows = 4), timer = timer.busy(), sink = sink.afpacket(), `
	for _, tc := range []struct{ src, want string }{
		{`topology.veth(pairs = 0)`, "want a number of veth pairs 1..16"},
		{`topology.veth(pairs = 17)`, "want a number of veth pairs 1..16"},
		{`topology.veth(pairs = "2")`, `got string "2", want a number of veth pairs 1..16`},
		{`topology.veth(pairs = 2.0)`, "want a number of veth pairs 1..16"},
		{`topology.veth(pairs = True)`, "want a number of veth pairs 1..16"},
		{`topology.veth(pairs = sweep.axis("ports", [1, 0]))`, "want a number of veth pairs 1..16"},
		{`receiver.afpacket(ring = "64KiB")`, "want a size 1MiB..2GiB"},
		{`receiver.afpacket(ring = 4)`, "want a size 1MiB..2GiB"},
		{`receiver.afpacket(ring = "lots")`, "want a size 1MiB..2GiB"},
		{head + `topology = topology.veth(pairs = 8))`, "the trace has 4 flows"},
		{head + `topology = topology.veth(pairs = 2), emulator = link.emulator(bandwidth = "100Mbps"))`, "the emulator forwards one pair"},
		{`experiment(name = "p", trace = trace.synthetic(count = 10, interval = "1ms", flows = 4), topology = topology.veth(pairs = 2), sender = sender.tcpreplay())`, "needs labrun's sender"},
		{`experiment(name = "p", trace = trace.synthetic(count = 10, interval = "1ms", flows = 4), topology = topology.veth(pairs = 2),
    sender = sender.labrun(timer = timer.busy(), sink = sink.afpacket(), threads = 3))`, "drop threads or give threads = 2"},
		{`experiment(name = "p", trace = trace.synthetic(count = 10, interval = "1ms", flows = 4), topology = topology.veth(pairs = 2),
    sender = sender.labrun(timer = timer.busy(), sink = sink.afpacket(), threads = "cpus"))`, "drop threads or give threads = 2"},
	} {
		_, err := evalSrc(t, tc.src, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.src, err, tc.want)
			continue
		}
		checkErrorForm(t, err)
	}
	// threads equal to the pairs is accepted.
	mustEval(t, `experiment(name = "p", trace = trace.synthetic(count = 10, interval = "1ms", flows = 4), topology = topology.veth(pairs = 2),
    sender = sender.labrun(timer = timer.busy(), sink = sink.afpacket(), threads = 2))`, nil)
}
