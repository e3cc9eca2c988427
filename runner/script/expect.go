package script

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/results"
)

// expect(metric, where = {}, below = None, above = None, ratio_to = None,
// name = ""): a bound on a metric, checked after the runs; a failed one
// makes labrun exit with ExitExpectation.
var expectSig = signature{fn: "expect", args: []arg{
	{name: "metric", kind: metricKind(), required: true},
	{name: "where", kind: kindFunc(checkWhere)},
	{name: "below", kind: kFloat(-1e308, 1e308)},
	{name: "above", kind: kFloat(-1e308, 1e308)},
	{name: "ratio_to", kind: kindFunc(checkRatioTo)},
	{name: "name", kind: kString},
}}

func checkRatioTo(v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("got %s, want a dict from parameter to one value, e.g. {\"sender\": \"tcpreplay\"}", v.Type())
	}
	for _, kv := range d.Items() {
		_, k := kv[0].(starlark.String)
		_, s := kv[1].(starlark.String)
		if !k || !s {
			return fmt.Errorf("%s: %s: want a parameter name and one value label, both strings", kv[0].String(), kv[1].String())
		}
	}
	return nil
}

func (h *Host) expect(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := expectSig.unpack(h, args, kwargs)
	if err != nil {
		return nil, err
	}
	if a["below"] == starlark.None && a["above"] == starlark.None {
		return nil, fmt.Errorf("expect: give below = or above = (or both), e.g. expect(metric = \"err_p99_us\", below = 20)")
	}
	return &Spec{Kind: "expect", Args: a, Order: expectSig.names(), Pos: callerPos(thread), Label: "expect"}, nil
}

// expectation converts a checked expect() value.
func expectation(s *Spec) results.Expectation {
	e := results.Expectation{Name: str(s.Args, "name"), Metric: str(s.Args, "metric")}
	if w := s.Args["where"]; w != starlark.None {
		e.Where = whereOf(w)
	}
	if d, ok := s.Args["ratio_to"].(*starlark.Dict); ok {
		e.RatioTo = map[string]string{}
		for _, kv := range d.Items() {
			e.RatioTo[string(kv[0].(starlark.String))] = string(kv[1].(starlark.String))
		}
	}
	if f, ok := starlark.AsFloat(s.Args["below"]); ok && s.Args["below"] != starlark.None {
		e.Below = &f
	}
	if f, ok := starlark.AsFloat(s.Args["above"]); ok && s.Args["above"] != starlark.None {
		e.Above = &f
	}
	if e.Name == "" {
		e.Name = e.Metric + " " + e.Describe()
	}
	return e
}
