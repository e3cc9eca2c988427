package script

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/runner/plan"
)

// experimentDecl is the experiment() call of a script.
type experimentDecl struct {
	args starlark.StringDict
	pos  syntax.Position
}

var experimentSig = signature{fn: "experiment", args: []arg{
	{name: "name", kind: kindFunc(checkExpName), required: true},
	{name: "description", kind: kString},
	{name: "seed", kind: kInt(0, 1<<53), def: starlark.MakeInt(1)},
	{name: "repeat", kind: kInt(1, 1000), def: starlark.MakeInt(1)},
	{name: "trace", kind: kSpec("trace", `trace.synthetic(count = 1000, interval = "70us")`), sweep: true},
	{name: "emulator", kind: kOrNone(kSpecKind(`link.emulator(bandwidth = "100Mbps", delay = "10ms")`, "link.emulator")), sweep: true},
	{name: "workload", kind: kSpecKind(`link.throughput(frame = "64B")`, "link.throughput", "link.fidelity", "tcp.bulk", "tcp.rr", "tcp.iperf3", "tcp.paced"), sweep: true},
	{name: "background", kind: kBackground, sweep: true},
	{name: "timer", kind: kSpec("timer", "timer.firm()"), sweep: true},
	{name: "sink", kind: kSpec("sink", "sink.null()"), sweep: true},
	{name: "sender", kind: kSpec("sender", `sender.tcpreplay(timer = "nano")`), sweep: true},
	{name: "topology", kind: kSpec("topology", "topology.veth()"), sweep: true},
	{name: "receiver", kind: kSpec("receiver", "receiver.afpacket()"), sweep: true},
	{name: "kernel", kind: kSpec("kernel", `kernel.settings(sched = "fifo", priority = 80)`), sweep: true},
	{name: "tables", kind: kList(kSpec("table", `table(rows = ["timer"], metrics = ["err_p99_us"])`))},
	{name: "figures", kind: kList(kSpec("figure", `figure.series(y = "err_us", x = "packet")`))},
	{name: "expectations", kind: kList(kSpec("expect", `expect(metric = "err_p99_us", where = {"timer": "firm"}, below = 20)`))},
	{name: "hosts", kind: kList(kSpec("host", hostExample))},
}}

func checkExpName(v starlark.Value) error {
	s, ok := v.(starlark.String)
	if !ok {
		return fmt.Errorf("got %s, want a string", v.Type())
	}
	for _, r := range string(s) {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%s: use letters, digits, '_', '-' and '.' only (it names the output folder)", s.String())
		}
	}
	if s == "" || s[0] == '.' {
		return fmt.Errorf("%s: must not be empty or start with '.'", s.String())
	}
	return nil
}

// experiment implements experiment(...): one per script.
func (h *Host) experiment(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := experimentSig.unpack(h, args, kwargs)
	if err != nil {
		return nil, err
	}
	if h.exp != nil {
		return nil, fmt.Errorf("experiment: already declared at %s; a script declares one experiment", h.exp.pos)
	}
	if a["trace"] == starlark.None && a["workload"] == starlark.None {
		return nil, fmt.Errorf("experiment: missing trace: give trace = (e.g. trace.synthetic(count = 1000, interval = \"70us\")) or workload = (e.g. link.throughput())")
	}
	h.exp = &experimentDecl{args: a, pos: callerPos(thread)}
	return starlark.None, nil
}

// metricKind accepts the name of a metric labrun produces. There are
// over a hundred: an unknown one gets the nearest names, not the list.
func metricKind() kind {
	var names []string
	for _, n := range measure.Names {
		names = append(names, n.Name)
	}
	return kindFunc(func(v starlark.Value) error {
		s, ok := v.(starlark.String)
		if !ok {
			return fmt.Errorf("got %s %s, want a metric name such as \"err_p99_us\"", v.Type(), v.String())
		}
		if measure.Known(string(s)) {
			return nil
		}
		return fmt.Errorf("%s is not a metric labrun produces%s (docs/starlark.md, Metrics, lists them all)", s.String(), plan.DidYouMean(string(s), names))
	})
}
