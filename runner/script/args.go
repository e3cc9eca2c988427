package script

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

// A kind validates one concrete (non-axis) argument value.
type kind interface {
	check(v starlark.Value) error
}

type kindFunc func(v starlark.Value) error

func (f kindFunc) check(v starlark.Value) error { return f(v) }

// Argument kinds. Units are strings parsed by engine/units, the one place
// that knows their syntax; a bare number is rejected with the accepted forms.
var (
	kDuration = unitKind("duration", units.DurationForms, func(s string) error { _, err := units.ParseDuration(s); return err })
	kRate     = unitKind("rate", units.RateForms, func(s string) error { _, err := units.ParseRate(s); return err })
	kSize     = unitKind("size", units.SizeForms, func(s string) error { _, err := units.ParseSize(s); return err })
	kString   = kindFunc(func(v starlark.Value) error { return wantType[starlark.String](v, "a string") })
	kBool     = kindFunc(func(v starlark.Value) error { return wantType[starlark.Bool](v, "True or False") })
	kAnyValue = kindFunc(func(starlark.Value) error { return nil })
)

func wantType[T starlark.Value](v starlark.Value, what string) error {
	if _, ok := v.(T); !ok {
		return fmt.Errorf("got %s %s, want %s", v.Type(), v.String(), what)
	}
	return nil
}

func unitKind(name, forms string, parse func(string) error) kind {
	return kindFunc(func(v starlark.Value) error {
		s, ok := v.(starlark.String)
		if !ok {
			if _, num := v.(starlark.Int); num {
				return fmt.Errorf("bad %s %s: a bare number has no unit; accepted forms: %s", name, v.String(), forms)
			}
			if _, num := v.(starlark.Float); num {
				return fmt.Errorf("bad %s %s: a bare number has no unit; accepted forms: %s", name, v.String(), forms)
			}
			return fmt.Errorf("got %s, want a %s string; accepted forms: %s", v.Type(), name, forms)
		}
		return parse(string(s))
	})
}

// kInt accepts an int in [lo, hi].
func kInt(lo, hi int64) kind {
	return kindFunc(func(v starlark.Value) error {
		i, ok := v.(starlark.Int)
		if !ok {
			return fmt.Errorf("got %s %s, want an int", v.Type(), v.String())
		}
		n, ok := i.Int64()
		if !ok || n < lo || n > hi {
			return fmt.Errorf("%s out of range [%d, %d]", i.String(), lo, hi)
		}
		return nil
	})
}

// kEnum accepts one of the given strings.
func kEnum(values ...string) kind {
	return kindFunc(func(v starlark.Value) error {
		s, ok := v.(starlark.String)
		if !ok {
			return fmt.Errorf("got %s %s, want one of %s", v.Type(), v.String(), plan.QuoteList(values))
		}
		for _, x := range values {
			if string(s) == x {
				return nil
			}
		}
		return fmt.Errorf("%s is not one of %s%s", s.String(), plan.QuoteList(values), plan.DidYouMean(string(s), values))
	})
}

// kSpec accepts a value built by one of the family's builtins.
func kSpec(family string, example string) kind {
	return kindFunc(func(v starlark.Value) error {
		s, ok := v.(*Spec)
		if !ok || s.family() != family {
			return fmt.Errorf("got %s %s, want a %s value such as %s", v.Type(), truncate(v.String()), family, example)
		}
		return nil
	})
}

// kList accepts a list or tuple whose elements are all of elem.
func kList(elem kind) kind {
	return kindFunc(func(v starlark.Value) error {
		seq, ok := v.(starlark.Indexable)
		if _, isStr := v.(starlark.String); !ok || isStr {
			return fmt.Errorf("got %s %s, want a list", v.Type(), truncate(v.String()))
		}
		for i := range seq.Len() {
			if err := elem.check(seq.Index(i)); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	})
}

// kOneOrList accepts a single elem or a list of them.
func kOneOrList(elem kind) kind {
	l := kList(elem)
	return kindFunc(func(v starlark.Value) error {
		if _, ok := v.(starlark.Indexable); ok {
			if _, isStr := v.(starlark.String); !isStr {
				return l.check(v)
			}
		}
		return elem.check(v)
	})
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// arg declares one argument of a builtin.
type arg struct {
	name     string
	kind     kind
	required bool
	def      starlark.Value // value when absent; nil means None
	sweep    bool           // may be a sweep axis
}

// signature declares a builtin's arguments. The first `positional` of them
// may be passed by position.
type signature struct {
	fn         string
	args       []arg
	positional int
}

func (sig *signature) names() []string {
	n := make([]string, len(sig.args))
	for i, a := range sig.args {
		n[i] = a.name
	}
	return n
}

// unpack validates a call against the signature and returns every argument
// by name (absent optional ones set to their default or None).
func (sig *signature) unpack(h *Host, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.StringDict, error) {
	out := starlark.StringDict{}
	if len(args) > sig.positional {
		if sig.positional == 0 {
			return nil, fmt.Errorf("%s takes keyword arguments only (%s), got %d positional", sig.fn, plan.QuoteList(sig.names()), len(args))
		}
		return nil, fmt.Errorf("%s takes at most %d positional argument(s), got %d", sig.fn, sig.positional, len(args))
	}
	for i, v := range args {
		out[sig.args[i].name] = v
	}
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		if sig.find(name) == nil {
			return nil, fmt.Errorf("%s: unknown keyword %q%s; accepted: %s", sig.fn, name, plan.DidYouMean(name, sig.names()), plan.QuoteList(sig.names()))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: argument %s given twice", sig.fn, name)
		}
		out[name] = kv[1]
	}
	for _, a := range sig.args {
		v, ok := out[a.name]
		if !ok || v == starlark.None {
			if a.required {
				return nil, fmt.Errorf("%s: missing required argument %s", sig.fn, a.name)
			}
			if a.def != nil {
				out[a.name] = a.def
			} else {
				out[a.name] = starlark.None
			}
			continue
		}
		if err := h.checkArg(sig.fn, a, v); err != nil {
			return nil, err
		}
	}
	// The values are checked now and used when the plan is made: freeze
	// them, so that a list the script mutates later cannot undo the check.
	out.Freeze()
	return out, nil
}

func (sig *signature) find(name string) *arg {
	for i := range sig.args {
		if sig.args[i].name == name {
			return &sig.args[i]
		}
	}
	return nil
}

// checkArg validates v, which may be a sweep axis whose every value must
// pass.
func (h *Host) checkArg(fn string, a arg, v starlark.Value) error {
	ax, isAxis := v.(*Axis)
	if !isAxis {
		if err := a.kind.check(v); err != nil {
			err = fmt.Errorf("%s: %s: %w", fn, a.name, err)
			return h.blameSet(v, err)
		}
		return nil
	}
	if !a.sweep {
		return fmt.Errorf("%s: %s cannot be swept (axis %q)", fn, a.name, ax.Name)
	}
	for i, x := range ax.Values {
		if err := a.kind.check(x); err != nil {
			return fmt.Errorf("%s: %s: sweep axis %q value %d (%s): %w", fn, a.name, ax.Name, i, ax.Labels[i], err)
		}
	}
	ax.uses = append(ax.uses, axisUse{fn: fn + ": " + a.name, kind: a.kind})
	return nil
}

// str returns a string argument ("" for None).
func str(d starlark.StringDict, name string) string {
	if s, ok := d[name].(starlark.String); ok {
		return string(s)
	}
	return ""
}

// strs returns a string-or-list-of-strings argument.
func strs(v starlark.Value) []string {
	switch x := v.(type) {
	case starlark.String:
		return []string{string(x)}
	case starlark.Indexable:
		out := make([]string, x.Len())
		for i := range out {
			out[i] = strings.Trim(x.Index(i).String(), `"`)
			if s, ok := x.Index(i).(starlark.String); ok {
				out[i] = string(s)
			}
		}
		return out
	}
	return nil
}

// blameSet returns err, or, when the rejected value v is the value a --set
// gave a parameter, the command-line error that names the --set: a bad
// --set value is a mistake on the command line (exit 2) whether the
// parameter's type or the builtin it is passed to rejects it.
func (h *Host) blameSet(v starlark.Value, err error) error {
	for _, p := range h.paramOrder {
		if !p.Set {
			continue
		}
		if eq, _ := starlark.Equal(p.Value, v); eq && p.Value.Type() == v.Type() {
			h.setErr = &plan.UsageError{Msg: fmt.Sprintf("--set %s=%s: %v (parameter %s is declared at %s)", p.Name, h.overrides[p.Name], err, p.Name, p.Pos)}
			return h.setErr
		}
	}
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func intOf(v starlark.Value) int64 {
	i, ok := v.(starlark.Int)
	if !ok {
		return 0
	}
	n, _ := i.Int64()
	return n
}
