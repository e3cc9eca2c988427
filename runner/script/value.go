package script

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/labrun/labrun/runner/plan"
)

// Spec is a value built by a labrun builtin, such as timer.firm() or
// trace.synthetic(...): its kind, its validated arguments (which may hold
// sweep axes) and where the script built it. Specs are inert: nothing
// touches the system until the plan is executed.
type Spec struct {
	Kind  string // "timer.firm"
	Args  starlark.StringDict
	Order []string // argument names in declaration order, for printing
	Pos   syntax.Position
	// Label is how the value appears in tables and plans when it is a sweep
	// value, e.g. "firm" or "tick(10ms)".
	Label string
	// Files are the data files its arguments name, read and checked when
	// the script built the value.
	Files    map[string]*plan.DataFile
	Captures map[string]*plan.CaptureFile
	// Refs are files read at run time (empirical delays, delivery
	// traces), checked when the script built the value.
	Refs map[string]plan.FileRef
}

var (
	_ starlark.Value    = (*Spec)(nil)
	_ starlark.HasAttrs = (*Spec)(nil)
)

func (s *Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Kind)
	b.WriteByte('(')
	sep := ""
	for _, k := range s.Order {
		v, ok := s.Args[k]
		if !ok || v == starlark.None {
			continue
		}
		fmt.Fprintf(&b, "%s%s = %s", sep, k, v.String())
		sep = ", "
	}
	b.WriteByte(')')
	return b.String()
}

// Type is the builtin's name, so that type(timer.busy()) == "timer.busy".
func (s *Spec) Type() string          { return s.Kind }
func (s *Spec) Freeze()               { s.Args.Freeze() }
func (s *Spec) Truth() starlark.Bool  { return true }
func (s *Spec) Hash() (uint32, error) { return starlark.String(s.String()).Hash() }

// Attr exposes the arguments read-only: t = timer.tick("10ms"); t.period.
func (s *Spec) Attr(name string) (starlark.Value, error) {
	if v, ok := s.Args[name]; ok {
		return v, nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (s *Spec) AttrNames() []string {
	names := s.Args.Keys()
	sort.Strings(names)
	return names
}

// family is the part of Kind before the dot: "timer" for "timer.firm".
func (s *Spec) family() string {
	if i := strings.IndexByte(s.Kind, '.'); i >= 0 {
		return s.Kind[:i]
	}
	return s.Kind
}

// name is the part of Kind after the dot.
func (s *Spec) name() string { return s.Kind[strings.IndexByte(s.Kind, '.')+1:] }
