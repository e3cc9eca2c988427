package script

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/labrun/labrun/runner/plan"
	"go.starlark.net/starlark"
)

// plan expands the declared experiment into runs.
func (h *Host) plan() (*plan.Plan, error) {
	a := h.exp.args
	p := &plan.Plan{Experiment: str(a, "name"), Description: str(a, "description")}
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
			return nil, &plan.UsageError{Msg: fmt.Sprintf("--set %s: sweep axis %q (declared at %s) is not used by the experiment", name, name, ax.Pos)}
		}
	}
	total := rep
	for _, g := range groups {
		if total *= len(g[0].Values); total > plan.MaxRuns {
			return nil, posError(h.exp.pos, "experiment: the sweep expands to more than %d runs; use fewer axis values or pin axes with --set", plan.MaxRuns)
		}
	}
	for _, g := range groups {
		for _, ax := range g {
			p.Axes = append(p.Axes, plan.AxisInfo{Name: ax.Name, Values: ax.Labels, Zip: ax.group, Pos: ax.Pos.String()})
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
			id, seed := plan.RunID(cfg, p.Seed)
			p.Runs = append(p.Runs, plan.Run{Index: len(p.Runs), ID: id, Seed: seed, Params: params, Config: cfg})
		}
	}
	seen := map[string]int{}
	for _, r := range p.Runs {
		if j, dup := seen[r.ID]; dup {
			return nil, posError(h.exp.pos, "runs %d and %d resolve to the same configuration (%s); two sweep values that mean the same thing?", j+1, r.Index+1, plan.ParamString(r.Params))
		}
		seen[r.ID] = r.Index
	}
	if err := h.planOutputs(p); err != nil {
		return nil, err
	}
	p.Actions = plan.Actions(p.Runs)
	p.Dangerous = h.dangerous
	p.MarkAllowed(h.opts.AllowSysctls)
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
			return 0, &plan.UsageError{Msg: fmt.Sprintf("--set %s=%s: want an int or one of %s", ax.Name, raw, plan.QuoteList(ax.Labels))}
		}
		v = starlark.MakeInt64(n)
	} else if _, isStr := ax.Values[0].(starlark.String); !isStr {
		return 0, &plan.UsageError{Msg: fmt.Sprintf("--set %s=%s: not one of the axis values %s%s", ax.Name, raw, plan.QuoteList(ax.Labels), plan.DidYouMean(raw, ax.Labels))}
	}
	for _, u := range ax.uses {
		if err := u.kind.check(v); err != nil {
			return 0, &plan.UsageError{Msg: fmt.Sprintf("--set %s=%s: %s: %v", ax.Name, raw, u.fn, err)}
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
