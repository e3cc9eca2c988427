package script

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

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

// outputs describes the experiment's expectations, tables and figures
// for the plan, which checks them against its runs.
func (h *Host) outputs() plan.Outputs {
	var o plan.Outputs
	for _, s := range specsOf(h.exp.args["expectations"]) {
		o.Expectations = append(o.Expectations, plan.ExpectDecl{Pos: s.Pos.String(), Kind: s.Kind, Expectation: expectation(s)})
	}
	for _, t := range specsOf(h.exp.args["tables"]) {
		o.Tables = append(o.Tables, tableDecl(t))
	}
	for _, f := range specsOf(h.exp.args["figures"]) {
		o.Figures = append(o.Figures, figureDecl(f))
	}
	return o
}

// specsOf lists the specs of a list argument (none for None).
func specsOf(v starlark.Value) []*Spec {
	l, ok := v.(starlark.Indexable)
	if !ok {
		return nil
	}
	out := make([]*Spec, l.Len())
	for i := range out {
		out[i] = l.Index(i).(*Spec)
	}
	return out
}

// tableDecl describes a table(...) value.
func tableDecl(t *Spec) plan.TableDecl {
	d := plan.TableDecl{Pos: t.Pos.String(), Kind: t.Kind, Where: whereOf(t.Args["where"]),
		Spec: results.TableSpec{Title: str(t.Args, "title"), Rows: strs(t.Args["rows"]), Cols: str(t.Args, "cols"), Metrics: strs(t.Args["metrics"])}}
	if dd, ok := t.Args["ratios"].(*starlark.Dict); ok {
		for _, kv := range dd.Items() {
			d.Ratios = append(d.Ratios, plan.RatioDecl{Metric: string(kv[0].(starlark.String)), Where: whereOf(kv[1])})
		}
	}
	if dd, ok := t.Args["best"].(*starlark.Dict); ok {
		d.Best = [][2]string{}
		for _, kv := range dd.Items() {
			d.Best = append(d.Best, [2]string{string(kv[0].(starlark.String)), string(kv[1].(starlark.String))})
		}
	}
	if r := t.Args["reference"]; r != starlark.None {
		refs := []starlark.Value{r}
		if seq, ok := r.(starlark.Indexable); ok {
			refs = refs[:0]
			for j := range seq.Len() {
				refs = append(refs, seq.Index(j))
			}
		}
		for _, rv := range refs {
			rs := rv.(*Spec)
			keys := strs(rs.Args["keys"])
			vals, _ := flattenRef(rs.Args["values"].(*starlark.Dict), len(keys), nil)
			d.Refs = append(d.Refs, plan.RefDecl{Pos: rs.Pos.String(), Kind: rs.Kind, Source: str(rs.Args, "source"), Metric: str(rs.Args, "metric"), Keys: keys, Values: vals})
		}
	}
	return d
}
