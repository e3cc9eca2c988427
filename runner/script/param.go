package script

import (
	"fmt"
	"sort"
	"strconv"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/labrun/labrun/runner/plan"
)

// Param is a named script parameter: param("packets", default = 5000).
// `--set name=value` overrides its default.
type Param struct {
	Name    string
	Type    string // int, float, bool, string, duration, rate, size
	Default starlark.Value
	Value   starlark.Value
	Doc     string
	Pos     syntax.Position
	Set     bool // overridden on the command line
}

var paramTypes = []string{"int", "float", "bool", "string", "duration", "rate", "size"}

var paramSig = signature{fn: "param", positional: 2, args: []arg{
	{name: "name", kind: kString, required: true},
	{name: "default", kind: kAnyValue, required: true},
	{name: "type", kind: kEnum(paramTypes...)},
	{name: "doc", kind: kString},
}}

// param implements param(name, default, type = None, doc = ""): it declares
// a parameter and returns its value for this evaluation.
func (h *Host) param(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a, err := paramSig.unpack(h, args, kwargs)
	if err != nil {
		return nil, err
	}
	p := &Param{Name: str(a, "name"), Type: str(a, "type"), Default: a["default"], Doc: str(a, "doc"), Pos: callerPos(thread)}
	if !validName(p.Name) {
		return nil, fmt.Errorf("param: name %q must be an identifier (letters, digits, _)", p.Name)
	}
	if prev, ok := h.params[p.Name]; ok {
		return nil, fmt.Errorf("param: %q is already declared at %s", p.Name, prev.Pos)
	}
	if p.Type == "" {
		switch p.Default.(type) {
		case starlark.Int:
			p.Type = "int"
		case starlark.Float:
			p.Type = "float"
		case starlark.Bool:
			p.Type = "bool"
		case starlark.String:
			p.Type = "string"
		default:
			return nil, fmt.Errorf("param: %s: default must be an int, float, bool or string, got %s", p.Name, p.Default.Type())
		}
	}
	if err := checkParamValue(p.Type, p.Default); err != nil {
		return nil, fmt.Errorf("param: %s: default: %w", p.Name, err)
	}
	p.Value = p.Default
	if raw, ok := h.overrides[p.Name]; ok {
		v, err := parseParamValue(p.Type, raw)
		if err != nil {
			h.setErr = &plan.UsageError{Msg: fmt.Sprintf("--set %s=%s: %v (parameter %s is declared at %s)", p.Name, raw, err, p.Name, p.Pos)}
			return nil, h.setErr
		}
		p.Value, p.Set = v, true
		h.used[p.Name] = true
	}
	h.params[p.Name] = p
	h.paramOrder = append(h.paramOrder, p)
	return p.Value, nil
}

func checkParamValue(typ string, v starlark.Value) error {
	switch typ {
	case "int":
		return kInt(-1<<62, 1<<62).check(v)
	case "float":
		switch v.(type) {
		case starlark.Float, starlark.Int:
			return nil
		}
		return fmt.Errorf("got %s, want a float", v.Type())
	case "bool":
		return kBool.check(v)
	case "string":
		return kString.check(v)
	case "duration":
		return kDuration.check(v)
	case "rate":
		return kRate.check(v)
	case "size":
		return kSize.check(v)
	}
	return fmt.Errorf("unknown type %q", typ)
}

// parseParamValue converts a --set value to the parameter's type.
func parseParamValue(typ, raw string) (starlark.Value, error) {
	var v starlark.Value
	switch typ {
	case "int":
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want an int, got %q", raw)
		}
		v = starlark.MakeInt64(n)
	case "float":
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("want a float, got %q", raw)
		}
		v = starlark.Float(f)
	case "bool":
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", raw)
		}
		v = starlark.Bool(b)
	default:
		v = starlark.String(raw)
	}
	if err := checkParamValue(typ, v); err != nil {
		return nil, err
	}
	return v, nil
}

// checkOverrides reports --set names that match no parameter and no axis.
func (h *Host) checkOverrides() error {
	var names []string
	for n := range h.params {
		names = append(names, n)
	}
	for n := range h.axes {
		names = append(names, n)
	}
	sort.Strings(names)
	keys := make([]string, 0, len(h.overrides))
	for k := range h.overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !h.used[k] {
			if _, isAxis := h.axes[k]; isAxis {
				continue
			}
			return &plan.UsageError{Msg: fmt.Sprintf("--set %s: the script declares no parameter or sweep axis %q%s; declared: %s", k, k, plan.DidYouMean(k, names), plan.QuoteList(names))}
		}
	}
	return nil
}
