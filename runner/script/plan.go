package script

import (
	"fmt"
	"strconv"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/runner/plan"
)

// plan describes the declared experiment for plan.Build, which expands
// it into runs.
func (h *Host) plan() (*plan.Plan, error) {
	a := h.exp.args
	groups, used := h.usedGroups()
	sweep, err := h.sweep(groups, used)
	if err != nil {
		return nil, err
	}
	point := map[*Axis]int{} // one map for every run: resolveRun keeps none of it
	d := plan.Description{Experiment: str(a, "name"), Description: str(a, "description"), Pos: h.exp.pos.String(), Sweep: sweep,
		Resolve: func(pt plan.Point) (plan.RunConfig, error) {
			for gi, g := range groups {
				for _, ax := range g {
					point[ax] = pt.Steps[gi]
				}
			}
			return h.resolveRun(point, pt.Rep)
		},
		Outputs:      h.outputs(),
		Dangerous:    func() []plan.SysctlUse { return h.dangerous },
		AllowSysctls: h.opts.AllowSysctls,
		MaxRuns:      h.opts.MaxRuns,
	}
	if s, ok := a["seed"].(starlark.Int).Int64(); ok {
		d.Seed = s
	}
	return plan.Build(d)
}

// usedGroups are the zip groups of the axes the experiment uses, in
// declaration order. An axis zipped with a used one labels the same steps
// (a workload name beside the values it stands for), so it is a
// parameter too.
func (h *Host) usedGroups() ([][]*Axis, map[*Axis]bool) {
	used := map[*Axis]bool{}
	for _, k := range experimentSig.names() {
		collectAxes(h.exp.args[k], used)
	}
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
	return groups, used
}

// sweep pins the axes --set names and describes the groups for the plan.
func (h *Host) sweep(groups [][]*Axis, used map[*Axis]bool) (plan.Sweep, error) {
	sw := plan.Sweep{Repeat: h.repeat(), Pinned: map[string]string{}}
	for _, g := range groups {
		var infos []plan.AxisInfo
		for _, ax := range g {
			if raw, ok := h.overrides[ax.Name]; ok {
				if ax.search != nil {
					return sw, &plan.UsageError{Msg: fmt.Sprintf("--set %s=%s: %s is a search (declared at %s): its value is found by the runs, not set", ax.Name, raw, ax.Name, ax.Pos)}
				}
				i, err := h.pinAxis(ax, raw)
				if err != nil {
					return sw, err
				}
				sw.Pinned[ax.Name] = ax.Labels[i]
				h.used[ax.Name] = true
			}
			infos = append(infos, plan.AxisInfo{Name: ax.Name, Values: ax.Labels, Zip: ax.group, Pos: ax.Pos.String(), Search: ax.search})
		}
		sw.Groups = append(sw.Groups, infos)
	}
	for name, ax := range h.axes {
		if _, set := h.overrides[name]; set && !used[ax] {
			return sw, &plan.UsageError{Msg: fmt.Sprintf("--set %s: sweep axis %q (declared at %s) is not used by the experiment", name, name, ax.Pos)}
		}
	}
	return sw, nil
}

// repeat is the experiment's repeat argument.
func (h *Host) repeat() int {
	rep, _ := starlark.AsInt32(h.exp.args["repeat"])
	return rep
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

// subst replaces axes by their value at the point. A value without an
// axis is returned as it is, not copied: most of an experiment's values
// are the same at every point.
func subst(v starlark.Value, point map[*Axis]int) starlark.Value {
	if !holdsAxis(v) {
		return v
	}
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

// holdsAxis says whether v is or holds an axis, as subst looks for them.
func holdsAxis(v starlark.Value) bool {
	switch x := v.(type) {
	case *Axis:
		return true
	case *Spec:
		for _, a := range x.Args {
			if holdsAxis(a) {
				return true
			}
		}
	case *starlark.List:
		for i := range x.Len() {
			if holdsAxis(x.Index(i)) {
				return true
			}
		}
	}
	return false
}
