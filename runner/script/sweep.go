package script

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/labrun/labrun/runner/plan"
)

// Axis is one swept parameter: a name and the values it takes. Axes of one
// zip group step together; separate groups form a cartesian product.
type Axis struct {
	Name   string
	Values []starlark.Value
	Labels []string
	Pos    syntax.Position
	group  int // index of the zip group (creation order)
	search *plan.Search
	uses   []axisUse
}

type axisUse struct {
	fn   string
	kind kind
}

var _ starlark.Value = (*Axis)(nil)

func (a *Axis) String() string {
	return fmt.Sprintf("sweep.axis(%q, [%s])", a.Name, strings.Join(a.Labels, ", "))
}
func (a *Axis) Type() string          { return "sweep.axis" }
func (a *Axis) Freeze()               {}
func (a *Axis) Truth() starlark.Bool  { return true }
func (a *Axis) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: sweep.axis") }

func (h *Host) sweepModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "sweep", Members: starlark.StringDict{
		"axis":   starlark.NewBuiltin("sweep.axis", h.sweepAxis),
		"zip":    starlark.NewBuiltin("sweep.zip", h.sweepZip),
		"search": starlark.NewBuiltin("sweep.search", h.sweepSearch),
	}}
}

// sweepAxis implements sweep.axis(name, values): values is a non-empty list,
// or a dict from label to value.
func (h *Host) sweepAxis(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var values starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "values", &values); err != nil {
		return nil, err
	}
	return h.newAxis(thread, b.Name(), name, values, len(h.groups), false)
}

func (h *Host) newAxis(thread *starlark.Thread, fn, name string, values starlark.Value, group int, zipped bool) (*Axis, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%s: axis name %q must be an identifier (letters, digits, _)", fn, name)
	}
	if name == "rep" {
		return nil, fmt.Errorf("%s: axis name \"rep\" is reserved for repetitions (experiment(repeat = N))", fn)
	}
	ax := &Axis{Name: name, Pos: callerPos(thread), group: group}
	switch v := values.(type) {
	case *starlark.Dict:
		for _, kv := range v.Items() {
			label, ok := kv[0].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("%s: %s: dict keys are the labels and must be strings, got %s", fn, name, kv[0].Type())
			}
			ax.Values = append(ax.Values, kv[1])
			ax.Labels = append(ax.Labels, string(label))
		}
	case *starlark.List, starlark.Tuple:
		seq := v.(starlark.Indexable)
		for i := range seq.Len() {
			x := seq.Index(i)
			ax.Values = append(ax.Values, x)
			ax.Labels = append(ax.Labels, label(x))
		}
	default:
		return nil, fmt.Errorf("%s: %s: values must be a list or a dict of label -> value, got %s", fn, name, values.Type())
	}
	for _, x := range ax.Values {
		// An axis inside a value (timer.tick(period = axis)) would never be
		// expanded: the plan would silently use its first value.
		inner := map[*Axis]bool{}
		collectAxes(x, inner)
		if len(inner) > 0 {
			return nil, fmt.Errorf("%s: %s: a sweep value cannot itself be or hold a sweep axis", fn, name)
		}
		x.Freeze() // checked when used, read when the plan is made
	}
	if len(ax.Values) == 0 {
		return nil, fmt.Errorf("%s: %s: an axis needs at least one value", fn, name)
	}
	// In a zip a label may repeat (the runs differ in another axis of the
	// zip; sweepZip checks the combinations), but it must always stand for
	// the same value.
	seen := map[string]string{}
	for i, l := range ax.Labels {
		v := ax.Values[i].String()
		if prev, ok := seen[l]; ok && (!zipped || prev != v) {
			return nil, fmt.Errorf("%s: %s: two values have the label %q; give labels with a dict", fn, name, l)
		}
		seen[l] = v
	}
	if prev, ok := h.axes[name]; ok {
		return nil, fmt.Errorf("%s: axis %q is already declared at %s; reuse that value instead of declaring it twice", fn, name, prev.Pos)
	}
	h.axes[name] = ax
	h.axisOrder = append(h.axisOrder, ax)
	if group == len(h.groups) {
		h.groups = append(h.groups, nil)
	}
	h.groups[group] = append(h.groups[group], ax)
	return ax, nil
}

// sweepZip implements sweep.zip(name1 = [...], name2 = [...]): axes that
// step together; it returns a struct with one field per axis.
func (h *Host) sweepZip(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 0 || len(kwargs) < 2 {
		return nil, fmt.Errorf("%s: give two or more axes as keywords: sweep.zip(interval = [\"70us\", \"2500us\"], packets = [20000, 800])", b.Name())
	}
	group := len(h.groups)
	fields := starlark.StringDict{}
	var axes []*Axis
	n := -1
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		ax, err := h.newAxis(thread, b.Name(), name, kv[1], group, true)
		if err != nil {
			return nil, err
		}
		if n >= 0 && len(ax.Values) != n {
			return nil, fmt.Errorf("%s: zipped axes must have the same length: %s has %d values, the first has %d", b.Name(), name, len(ax.Values), n)
		}
		n = len(ax.Values)
		fields[name] = ax
		axes = append(axes, ax)
	}
	// Every step of the zip must be told apart by its labels.
	steps := map[string]int{}
	for i := range n {
		var key []string
		for _, ax := range axes {
			key = append(key, ax.Labels[i])
		}
		k := strings.Join(key, "\x00")
		if j, ok := steps[k]; ok {
			return nil, fmt.Errorf("%s: steps %d and %d have the same labels (%s): every step of a zip must differ in some axis", b.Name(), j+1, i+1, strings.Join(key, ", "))
		}
		steps[k] = i
	}
	return starlarkstruct.FromStringDict(starlark.String("sweep.zip"), fields), nil
}

// label is how a sweep value is shown in tables.
func label(v starlark.Value) string {
	switch x := v.(type) {
	case starlark.String:
		return string(x)
	case *Spec:
		return x.Label
	}
	return v.String()
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// callerPos is the script position of the call to the running builtin.
func callerPos(thread *starlark.Thread) syntax.Position {
	for d := 0; d < thread.CallStackDepth(); d++ {
		if p := thread.CallFrame(d).Pos; p.Filename() != "<builtin>" {
			return p
		}
	}
	return syntax.Position{}
}

// sweepSearch implements sweep.search(name, lo, hi, resolution, until,
// confirm = True): an axis over the candidates lo, lo+resolution, ..., hi
// that execute bisects for the largest one whose run meets until.
func (h *Host) sweepSearch(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, lo, hi, res string
	var until *starlark.Dict
	confirm := true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "lo", &lo, "hi", &hi, "resolution", &res, "until", &until, "confirm?", &confirm); err != nil {
		return nil, err
	}
	cand, err := plan.SearchCandidates(lo, hi, res)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.Name(), name, err)
	}
	u, err := searchUntil(until)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: until: %w", b.Name(), name, err)
	}
	values := starlark.NewList(nil)
	for _, c := range cand {
		values.Append(starlark.String(c))
	}
	ax, err := h.newAxis(thread, b.Name(), name, values, len(h.groups), false)
	if err != nil {
		return nil, err
	}
	ax.search = &plan.Search{Name: name, Lo: lo, Hi: hi, Resolution: res, Candidates: cand, Until: u, Confirm: confirm, Pos: ax.Pos.String()}
	return ax, nil
}

// untilForms is what sweep.search's until accepts.
const untilForms = `{"metric": "rx_loss_pct", "at_most": 0.1} or {"metric": "mpps", "at_least": 1}`

// searchUntil reads until: a metric and one bound.
func searchUntil(d *starlark.Dict) (plan.Until, error) {
	var u plan.Until
	for _, kv := range d.Items() {
		k, _ := starlark.AsString(kv[0])
		switch k {
		case "metric":
			s, ok := starlark.AsString(kv[1])
			if !ok || s == "" {
				return u, fmt.Errorf("metric must be a metric's name, got %s; want %s", kv[1], untilForms)
			}
			u.Metric = s
		case "at_most", "at_least":
			f, ok := starlark.AsFloat(kv[1])
			if !ok {
				return u, fmt.Errorf("%s must be a number, got %s; want %s", k, kv[1], untilForms)
			}
			if k == "at_most" {
				u.AtMost = &f
			} else {
				u.AtLeast = &f
			}
		default:
			return u, fmt.Errorf("unknown key %s; want %s", kv[0], untilForms)
		}
	}
	if u.Metric == "" || (u.AtMost == nil) == (u.AtLeast == nil) {
		return u, fmt.Errorf("give a metric and one of at_most, at_least: %s", untilForms)
	}
	return u, nil
}
