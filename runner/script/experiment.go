package script

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/labrun/labrun/engine/measure"
	"github.com/labrun/labrun/results"
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
	{name: "workload", kind: kSpecKind(`link.throughput(frame = "64B")`, "link.throughput", "link.fidelity", "tcp.bulk", "tcp.rr", "tcp.iperf3"), sweep: true},
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

// table(rows, metrics, cols = None, reference = [], title = "")
var tableSig = signature{fn: "table", args: []arg{
	{name: "rows", kind: kOneOrList(kString), required: true},
	{name: "metrics", kind: kList(metricKind()), required: true},
	{name: "cols", kind: kString},
	{name: "reference", kind: kOneOrList(kSpec("reference", `reference(source = "Paper Table 1", metric = "cpu_pct", keys = ["timer"], values = {"busy": 78})`))},
	{name: "title", kind: kString},
	{name: "where", kind: kindFunc(checkWhere)},
	{name: "best", kind: kindFunc(checkBest)},
	{name: "ratios", kind: kindFunc(checkRatios)},
}}

// checkRatios accepts {"metric": {"param": "value" | ["value", ...]}}.
func checkRatios(v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("got %s, want a dict from metric to {parameter: value or [values]}, e.g. {\"rx_all_pps\": {\"sender\": \"tcpreplay\"}}", v.Type())
	}
	for _, kv := range d.Items() {
		if err := metricKind().check(kv[0]); err != nil {
			return err
		}
		if err := checkWhere(kv[1]); err != nil {
			return fmt.Errorf("%s: %w", kv[0].String(), err)
		}
	}
	return nil
}

// checkBest accepts {"metric": "max" | "min"}.
func checkBest(v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("got %s, want a dict from metric to \"max\" or \"min\", e.g. {\"rx_pps\": \"max\"}", v.Type())
	}
	for _, kv := range d.Items() {
		if err := metricKind().check(kv[0]); err != nil {
			return err
		}
		if s, ok := kv[1].(starlark.String); !ok || s != "max" && s != "min" {
			return fmt.Errorf("%s: %s: want \"max\" or \"min\"", kv[0].String(), kv[1].String())
		}
	}
	return nil
}

// checkWhere accepts {"param": "value"} or {"param": ["value", ...]}.
func checkWhere(v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("got %s, want a dict from parameter name to a value or a list of values, e.g. {\"workload\": \"paced\"}", v.Type())
	}
	for _, kv := range d.Items() {
		if _, ok := kv[0].(starlark.String); !ok {
			return fmt.Errorf("key %s is not a parameter name (a string)", kv[0].String())
		}
		if _, ok := kv[1].(starlark.String); ok {
			continue
		}
		if err := kList(kString).check(kv[1]); err != nil {
			return fmt.Errorf("%s: want a value label (string) or a list of them", kv[0].String())
		}
	}
	return nil
}

// whereOf converts a checked where = dict.
func whereOf(v starlark.Value) map[string][]string {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil
	}
	out := map[string][]string{}
	for _, kv := range d.Items() {
		k := string(kv[0].(starlark.String))
		if s, ok := kv[1].(starlark.String); ok {
			out[k] = []string{string(s)}
		} else {
			out[k] = strs(kv[1])
		}
	}
	return out
}

func (h *Host) table(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := tableSig.unpack(h, args, kwargs)
	if err != nil {
		return nil, err
	}
	return &Spec{Kind: "table", Args: a, Order: tableSig.names(), Pos: callerPos(thread), Label: "table"}, nil
}

// reference(source, metric, keys, values): a paper's numbers; values is a
// dict nested len(keys) deep, e.g. {"busy": {"70us": 78}}.
var referenceSig = signature{fn: "reference", args: []arg{
	{name: "source", kind: kString, required: true},
	{name: "metric", kind: metricKind(), required: true},
	{name: "keys", kind: kOneOrList(kString), required: true},
	{name: "values", kind: kindFunc(func(v starlark.Value) error { return wantType[*starlark.Dict](v, "a dict") }), required: true},
}}

func (h *Host) reference(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := referenceSig.unpack(h, args, kwargs)
	if err != nil {
		return nil, err
	}
	keys := strs(a["keys"])
	if _, err := flattenRef(a["values"].(*starlark.Dict), len(keys), nil); err != nil {
		return nil, fmt.Errorf("reference: values: %w (keys are %s, so values nest %d dict(s) deep with numbers at the bottom)", err, plan.QuoteList(keys), len(keys))
	}
	return &Spec{Kind: "reference", Args: a, Order: referenceSig.names(), Pos: callerPos(thread), Label: "reference"}, nil
}

// flattenRef turns nested dicts into key paths -> value.
func flattenRef(d *starlark.Dict, depth int, prefix []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, kv := range d.Items() {
		k, ok := kv[0].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("key %s is not a string", kv[0].String())
		}
		path := append(append([]string(nil), prefix...), string(k))
		if depth > 1 {
			sub, ok := kv[1].(*starlark.Dict)
			if !ok {
				return nil, fmt.Errorf("at %v: want a dict, got %s", path, kv[1].Type())
			}
			m, err := flattenRef(sub, depth-1, path)
			if err != nil {
				return nil, err
			}
			for k, v := range m {
				out[k] = v
			}
			continue
		}
		f, ok := starlark.AsFloat(kv[1])
		if !ok {
			return nil, fmt.Errorf("at %v: want a number, got %s", path, kv[1].Type())
		}
		out[results.RefKey(path...)] = f
	}
	return out, nil
}

// The figure domain: plot data an experiment produces.
func (h *Host) figureModule() *starlarkstruct.Module {
	return newModule("figure",
		h.specBuiltin(signature{fn: "figure.series", args: []arg{
			{name: "y", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "x", kind: kEnum("packet", "time_s"), def: starlark.String("packet")},
			{name: "facet", kind: kOneOrList(kString)},
			{name: "name", kind: kString},
			{name: "title", kind: kString},
		}}, nil),
		h.specBuiltin(signature{fn: "figure.cdf", args: []arg{
			{name: "x", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "by", kind: kOneOrList(kString)},
			{name: "name", kind: kString},
			{name: "title", kind: kString},
			{name: "log_x", kind: kBool},
		}}, nil),
		// A metric of each run against a numeric sweep axis.
		h.specBuiltin(signature{fn: "figure.lines", positional: 3, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "x", kind: kString, required: true},
			{name: "y", kind: metricKind(), required: true},
			{name: "by", kind: kOneOrList(kString)},
			{name: "log_x", kind: kBool, def: starlark.False},
			{name: "log_y", kind: kBool, def: starlark.False},
			{name: "title", kind: kString},
			{name: "where", kind: kindFunc(checkWhere)},
		}}, nil),
		// A metric of each run as grouped bars.
		h.specBuiltin(signature{fn: "figure.bars", positional: 3, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "y", kind: metricKind(), required: true},
			{name: "groups", kind: kString, required: true},
			{name: "by", kind: kOneOrList(kString)},
			{name: "title", kind: kString},
			{name: "where", kind: kindFunc(checkWhere)},
		}}, nil),
		// Per-packet values binned, per group of runs.
		h.specBuiltin(signature{fn: "figure.histogram", positional: 1, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "x", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "by", kind: kOneOrList(kString)},
			{name: "bins", kind: kInt(5, 1000), def: starlark.MakeInt(50)},
			{name: "log_x", kind: kBool},
			{name: "log_y", kind: kBool, def: starlark.False},
			{name: "title", kind: kString},
		}}, nil),
	)
}
