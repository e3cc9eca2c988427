package script

import (
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/runner/plan"
)

// The kernel domain: per-run settings, each applied or reported skipped.
func (h *Host) kernelModule() *starlarkstruct.Module {
	return newModule("kernel",
		h.specBuiltin(signature{fn: "kernel.settings", args: []arg{
			{name: "sched", kind: kEnum("other", "fifo", "rr"), sweep: true},
			{name: "priority", kind: kInt(0, 99), sweep: true},
			{name: "cpu", kind: kOneOrList(kInt(0, 1023)), sweep: true},
			{name: "mlock", kind: kBool, sweep: true},
			{name: "timer_slack", kind: kDuration, sweep: true},
			{name: "dma_latency", kind: kDuration, sweep: true},
			{name: "sysctls", kind: kindFunc(checkSysctls), sweep: true},
			{name: "rt_runtime", kind: kInt(-1, 1_000_000), sweep: true},
			{name: "governor", kind: kString, sweep: true},
			{name: "required", kind: kOneOrList(kRequired)},
		}}, func(a starlark.StringDict) string { return argLabel("kernel", a, "sched", "priority") }),
	)
}

// checkSysctls accepts {"net.core.rmem_max": "8388608", ...}: dotted keys,
// values as strings or ints.
func checkSysctls(v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("got %s, want a dict from sysctl name to value, e.g. {\"net.core.rmem_max\": \"8388608\"}", v.Type())
	}
	for _, kv := range d.Items() {
		k, ok := kv[0].(starlark.String)
		if !ok || !validSysctl(string(k)) {
			return fmt.Errorf("key %s: want a dotted sysctl name such as \"net.core.rmem_max\" (letters, digits, '_', '-', '.')", kv[0].String())
		}
		switch x := kv[1].(type) {
		case starlark.String:
			if x == "" || strings.ContainsAny(string(x), "\n") {
				return fmt.Errorf("%s: value %s: want one non-empty line", k, x.String())
			}
		case starlark.Int:
		default:
			return fmt.Errorf("%s: value %s: want a string or an int", k, kv[1].String())
		}
	}
	return nil
}

func validSysctl(k string) bool {
	if k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// noteDangerous remembers the dangerous sysctls of k, declared at pos.
func (h *Host) noteDangerous(k plan.KernelConfig, pos string) {
	for _, key := range k.System().RefusedSysctls(nil) {
		if !slices.ContainsFunc(h.dangerous, func(u plan.SysctlUse) bool { return u.Key == key }) {
			h.dangerous = append(h.dangerous, plan.SysctlUse{Key: key, Pos: pos})
		}
	}
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
