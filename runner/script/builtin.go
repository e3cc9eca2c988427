package script

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/runner/plan"
)

// specBuiltin makes a builtin that validates its arguments against sig and
// returns a Spec. labelOf computes the Spec's display label.
func (h *Host) specBuiltin(sig signature, labelOf func(a starlark.StringDict) string) *starlark.Builtin {
	return h.specBuiltinPost(sig, labelOf, nil)
}

// specBuiltinPost is specBuiltin with a check of the whole call (argument
// combinations, data files) after each argument passed its own.
func (h *Host) specBuiltinPost(sig signature, labelOf func(a starlark.StringDict) string, post func(thread *starlark.Thread, s *Spec) error) *starlark.Builtin {
	return starlark.NewBuiltin(sig.fn, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		a, err := sig.unpack(h, args, kwargs)
		if err != nil {
			return nil, err
		}
		s := &Spec{Kind: sig.fn, Args: a, Order: sig.names(), Pos: callerPos(thread)}
		if post != nil {
			if err := post(thread, s); err != nil {
				return nil, fmt.Errorf("%s: %w", sig.fn, err)
			}
		}
		if labelOf != nil {
			s.Label = labelOf(a)
		} else {
			s.Label = s.name()
		}
		return s, nil
	})
}

// domain is a module of builtins (timer, trace, ...) that answers an
// unknown name with the nearest one and the names it has.
type domain struct{ *starlarkstruct.Module }

func (d domain) Attr(name string) (starlark.Value, error) {
	if v, ok := d.Members[name]; ok {
		return v, nil
	}
	hint := ""
	if n := plan.Nearest(name, d.AttrNames()); n != "" {
		hint = fmt.Sprintf(" (did you mean %s.%s?)", d.Name, n)
	}
	return nil, fmt.Errorf("%s has no .%s field or method%s; %s has: %s", d.Name, name, hint, d.Name, plan.QuoteList(d.AttrNames()))
}

func newModule(name string, builtins ...*starlark.Builtin) *starlarkstruct.Module {
	m := &starlarkstruct.Module{Name: name, Members: starlark.StringDict{}}
	for _, b := range builtins {
		m.Members[strings.TrimPrefix(b.Name(), name+".")] = b
	}
	return m
}

// argLabel shows a spec's arguments compactly for its label: tick(10ms).
func argLabel(name string, a starlark.StringDict, keys ...string) string {
	var parts []string
	for _, k := range keys {
		v := a[k]
		if v == nil || v == starlark.None {
			continue
		}
		if len(keys) == 1 {
			parts = append(parts, label(v))
		} else {
			parts = append(parts, k+"="+label(v))
		}
	}
	if len(parts) == 0 {
		return name
	}
	return fmt.Sprintf("%s(%s)", name, strings.Join(parts, ","))
}
