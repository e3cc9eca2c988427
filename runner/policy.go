package runner

import (
	"fmt"

	"go.starlark.net/starlark"
	"slices"
	"strings"

	"github.com/labrun/labrun/engine/kernel"
)

// sysctlUse is a dangerous sysctl a script sets, and where.
type sysctlUse struct {
	key string
	pos string // file:line:col of its kernel.settings
}

// noteDangerous remembers the dangerous sysctls of k, declared at pos.
func (h *Host) noteDangerous(k KernelConfig, pos string) {
	for _, key := range k.System().RefusedSysctls(nil) {
		if !slices.ContainsFunc(h.dangerous, func(u sysctlUse) bool { return u.key == key }) {
			h.dangerous = append(h.dangerous, sysctlUse{key, pos})
		}
	}
}

// CheckSysctls refuses the plan if it sets a dangerous sysctl (see
// kernel.Dangerous) that allowed (the keys of --allow-sysctl) does not
// name: the error names the script position, the key and the flag.
func (p *Plan) CheckSysctls(allowed []string) error {
	var msgs []string
	for _, u := range p.dangerous {
		if !slices.Contains(allowed, u.key) {
			msgs = append(msgs, fmt.Sprintf("%s: kernel.settings: %s", u.pos, kernel.RefusedError(u.key)))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &ScriptError{Msg: strings.Join(msgs, "\n")}
}

// markAllowed shows in the plan's actions which dangerous sysctls the
// command line allows.
func (p *Plan) markAllowed(allowed []string) {
	for i, a := range p.Actions {
		if strings.HasPrefix(a.Risk, "dangerous") && slices.Contains(allowed, a.Setting) {
			p.Actions[i].Risk = "dangerous: allowed by --allow-sysctl " + a.Setting
		}
	}
}

// requiredAccepted lists what kernel.settings(required = ...) may name.
const requiredAccepted = "sched, cpu, mlock, timer_slack, dma_latency, rt_runtime, governor, sysctl (every sysctl) or a key of sysctls"

// checkRequired checks that every name in required is a setting k sets.
func (k KernelConfig) checkRequired() error {
	for _, r := range k.Required {
		set := (r == "sysctl" || r == "sysctls") && len(k.Sysctls) > 0 || r == "rt_runtime" && k.RTRuntime != nil ||
			r == "governor" && k.Governor != "" || k.setsSysctl(r) || setsSetting(k.Settings(), r)
		switch {
		case set:
		case k.systemRequired(r) || slices.Contains([]string{"sched", "cpu", "mlock", "timer_slack", "dma_latency"}, r):
			return fmt.Errorf("required = %q, but %s is not set", r, r)
		default:
			return fmt.Errorf("unknown required setting %q (accepted: %s)", r, requiredAccepted)
		}
	}
	return nil
}

// requiredNames are the settings kernel.settings(required = ...) names;
// a dotted sysctl key is accepted too.
var requiredNames = []string{"sched", "cpu", "mlock", "timer_slack", "dma_latency", "sysctl", "sysctls", "rt_runtime", "governor"}

// kRequired accepts one name of requiredNames or a sysctl key.
var kRequired = kindFunc(func(v starlark.Value) error {
	if s, ok := v.(starlark.String); ok && strings.Contains(string(s), ".") && validSysctl(string(s)) {
		return nil
	}
	if err := kEnum(requiredNames...).check(v); err != nil {
		return fmt.Errorf("%w, or a key of sysctls", err)
	}
	return nil
})
