package script

import (
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/runner/plan"
)

// The timer domain: how the sender waits for a due time.
func (h *Host) timerModule() *starlarkstruct.Module {
	return newModule("timer",
		h.specBuiltin(signature{fn: "timer.busy", args: lateArgs()}, lateLabel("busy")),
		h.specBuiltin(signature{fn: "timer.sleep", args: lateArgs()}, lateLabel("sleep")),
		h.specBuiltin(signature{fn: "timer.firm", args: append([]arg{
			{name: "margin", kind: kDuration, sweep: true},
			{name: "max_margin", kind: kDuration, sweep: true},
			{name: "cpu", kind: kCPU, sweep: true},
		}, lateArgs()...)}, lateLabel("firm", "margin", "max_margin", "cpu")),
		h.specBuiltin(signature{fn: "timer.timerfd", args: lateArgs()}, lateLabel("timerfd")),
		h.specBuiltin(signature{fn: "timer.tick", positional: 1, args: append([]arg{
			{name: "period", kind: kDuration, required: true, sweep: true},
		}, lateArgs()...)}, lateLabel("tick", "period")),
	)
}

// lateArgs are the arguments every timer takes: what the replay does
// after a late packet.
func lateArgs() []arg {
	return []arg{
		{name: "late", kind: kEnum("catch_up", "shift", "drop"), sweep: true},
		{name: "drop_after", kind: kDuration, sweep: true},
	}
}

// lateLabel labels a timer by its arguments, late and drop_after last.
// A timer given neither is labelled as before they existed.
func lateLabel(name string, keys ...string) func(a starlark.StringDict) string {
	all := append(append([]string{}, keys...), "late", "drop_after")
	return func(a starlark.StringDict) string {
		for _, k := range all[len(keys):] {
			if v := a[k]; v != nil && v != starlark.None {
				return argLabel(name, a, all...)
			}
		}
		return argLabel(name, a, keys...)
	}
}

// cpuForms are the accepted forms of firm's CPU budget.
const cpuForms = `"5%", "0.5%", "20%" (a share of one CPU's time, more than 0 % and at most 100 %)`

// kCPU accepts a CPU budget such as "5%".
var kCPU = kindFunc(func(v starlark.Value) error {
	s, ok := v.(starlark.String)
	if !ok {
		return fmt.Errorf("got %s %s, want a percentage string; accepted forms: %s", v.Type(), v.String(), cpuForms)
	}
	if _, err := parseCPU(string(s)); err != nil {
		return err
	}
	return nil
})

func parseCPU(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || !(v > 0 && v <= 100) {
		return 0, fmt.Errorf("bad cpu budget %q; accepted forms: %s", s, cpuForms)
	}
	return v, nil
}

// cpuArg returns a timer's CPU budget in %, 0 when not given.
func cpuArg(s *Spec) float64 {
	v, _ := parseCPU(str(s.Args, "cpu"))
	return v
}

// checkLate refuses a late policy and bound that do not go together.
func checkLate(tm *Spec, c plan.TimerConfig) error {
	fn := "timer." + tm.name()
	switch {
	case c.Late == "drop" && c.DropAfter <= 0:
		return posError(tm.Pos, "%s: late = \"drop\" needs drop_after > 0, the lateness past which a frame is not sent (e.g. drop_after = \"100us\"; accepted forms: %s)", fn, units.DurationForms)
	case c.Late != "drop" && c.DropAfter != 0:
		return posError(tm.Pos, "%s: drop_after is the bound of late = \"drop\"; give late = \"drop\" with it or leave it out (late = %s)", fn, timer.LateForms)
	}
	return nil
}
