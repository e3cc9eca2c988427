package script

import (
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The timer domain: how the sender waits for a due time.
func (h *Host) timerModule() *starlarkstruct.Module {
	return newModule("timer",
		h.specBuiltin(signature{fn: "timer.busy"}, nil),
		h.specBuiltin(signature{fn: "timer.sleep"}, nil),
		h.specBuiltin(signature{fn: "timer.firm", args: []arg{
			{name: "margin", kind: kDuration, sweep: true},
			{name: "max_margin", kind: kDuration, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("firm", a, "margin", "max_margin") }),
		h.specBuiltin(signature{fn: "timer.timerfd"}, nil),
		h.specBuiltin(signature{fn: "timer.tick", positional: 1, args: []arg{
			{name: "period", kind: kDuration, required: true, sweep: true},
		}}, func(a starlark.StringDict) string { return argLabel("tick", a, "period") }),
	)
}
